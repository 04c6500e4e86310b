package logger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// TestSpoolOrderAndWaits hands over more buffers than a spool keeps in
// flight to a writer that takes its time: every byte must arrive, in
// order, and swap must have waited (the server held back, nothing
// dropped).
func TestSpoolOrderAndWaits(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	sp := newSpool(writerFunc(func(p []byte) (int, error) {
		time.Sleep(100 * time.Microsecond)
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), 16)
	var want bytes.Buffer
	b := sp.buffer()
	const n = 4 * maxBuffers
	for i := range n {
		b = fmt.Appendf(b, "%05d\n", i)
		want.WriteString(fmt.Sprintf("%05d\n", i))
		b = sp.swap(b)
		if len(b) != 0 {
			t.Fatalf("swap %d returned %d bytes", i, len(b))
		}
	}
	if err := sp.sync(); err != nil {
		t.Fatal(err)
	}
	if !sp.idle() {
		t.Error("not idle after sync")
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("wrote %d bytes, want %d in order", out.Len(), want.Len())
	}
	if sp.waits.Load() == 0 || sp.n > maxBuffers {
		t.Errorf("%d waits, %d buffers: want waits and at most %d buffers", sp.waits.Load(), sp.n, maxBuffers)
	}
}

// TestSpoolError: the first write error is kept, later buffers are
// taken and dropped (the server does not wait for a writer that failed),
// and sync and close return the error.
func TestSpoolError(t *testing.T) {
	calls := 0
	boom := errors.New("EIO")
	sp := newSpool(writerFunc(func(p []byte) (int, error) {
		calls++
		if calls == 2 {
			return 0, boom
		}
		if calls == 3 {
			return len(p) - 1, nil // never reached: no write after the error
		}
		return len(p), nil
	}), 8)
	b := sp.buffer()
	for range 3 * maxBuffers {
		b = sp.swap(append(b, "x"...))
	}
	if err := sp.sync(); !errors.Is(err, boom) {
		t.Fatalf("sync: %v, want %v", err, boom)
	}
	if err := sp.close(); !errors.Is(err, boom) {
		t.Fatalf("close: %v, want %v", err, boom)
	}
	if calls != 2 {
		t.Errorf("%d writes, want 2 (none after the error)", calls)
	}
	if err := sp.close(); !errors.Is(err, boom) {
		t.Fatalf("second close: %v", err)
	}
}

// TestSpoolShortWrite: a writer that takes less than it was given fails
// with io.ErrShortWrite.
func TestSpoolShortWrite(t *testing.T) {
	sp := newSpool(writerFunc(func(p []byte) (int, error) { return len(p) / 2, nil }), 8)
	sp.swap(append(sp.buffer(), "abcd"...))
	if err := sp.close(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("close: %v, want short write", err)
	}
}
