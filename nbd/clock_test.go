package nbd

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestNow: now follows the monotonic clock and stays within a
// millisecond of time.Now's wall time (no clock step during the test).
func TestNow(t *testing.T) {
	a := now()
	time.Sleep(2 * time.Millisecond)
	b := now()
	if d := b.Sub(a); d < 2*time.Millisecond || d > time.Second {
		t.Fatalf("now advanced %v over a 2 ms sleep", d)
	}
	if d := time.Since(b); d < 0 || d > time.Second {
		t.Fatalf("time.Since(now()) = %v", d)
	}
	if d := time.Now().Round(0).Sub(now().Round(0)); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("now's wall time is %v off time.Now's", d)
	}
}

func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
	b.Run("now", func(b *testing.B) {
		for b.Loop() {
			_ = now()
		}
	})
}

// TestTracedStartChained: a READ whose header is already buffered when
// the reader has served the one before it starts when that one ended
// (transmit's lastEnd), so that its trace costs one clock read; every
// traced start stays in order, and a read's start is never before the
// end of the read the reader served before it.
func TestTracedStartChained(t *testing.T) {
	s, want, _ := fileServer(t)
	var mu sync.Mutex
	var reads []Read
	s.OnRead = func(r Read) {
		mu.Lock()
		reads = append(reads, r)
		mu.Unlock()
	}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	r := transClient(t, ep, true)
	const n = 16
	reqs := map[uint64]treq{}
	var burst []byte
	for i := range n {
		off := uint64(i) * 8192
		reqs[uint64(i+1)] = treq{CmdRead, off, 4096}
		burst = append(burst, r.request(CmdRead, uint64(i+1), off, 4096)...)
	}
	before := time.Now()
	if _, err := r.c.Write(burst); err != nil { // one write: the reader finds them buffered
		t.Fatal(err)
	}
	for range n {
		h, res := r.readStructured(t, reqs)
		q := reqs[h]
		if res.errno != 0 || !bytes.Equal(res.data, want[q.off:q.off+uint64(q.n)]) {
			t.Fatalf("READ %d: errno %v, wrong data", h, res.errno)
		}
	}
	// A read is traced once its reply is written: wait for the last.
	deadline := time.Now().Add(10 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	for len(reads) < n && time.Now().Before(deadline) {
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
	}
	if len(reads) != n {
		t.Fatalf("%d reads traced, want %d", len(reads), n)
	}
	chained := 0
	for i, rd := range reads {
		if rd.Start.Before(before) || rd.Dur < 0 {
			t.Fatalf("read %d: start %v before the requests were sent, or duration %v", i, rd.Start, rd.Dur)
		}
		if i == 0 {
			continue
		}
		end := reads[i-1].Start.Add(reads[i-1].Dur)
		if rd.Start.Before(reads[i-1].Start) {
			t.Fatalf("read %d starts before read %d", i, i-1)
		}
		if rd.Start.Equal(end) {
			chained++
		}
	}
	if chained == 0 {
		t.Errorf("no read started when the one before ended: %d reads, all timed with a clock read of their own", n)
	}
}
