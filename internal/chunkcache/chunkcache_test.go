package chunkcache

import (
	"errors"
	"io"
	"testing"
)

// patternReader serves byte (off*7)&0xFF at each offset, counts reads and
// returns io.EOF at size, as an *os.File does.
type patternReader struct {
	reads int
	size  int64
}

func (r *patternReader) ReadAt(p []byte, off int64) (int, error) {
	r.reads++
	n := len(p)
	if off+int64(n) > r.size {
		n = int(max(0, r.size-off))
	}
	for i := range p[:n] {
		p[i] = byte((off + int64(i)) * 7)
	}
	if off+int64(len(p)) >= r.size {
		return n, io.EOF
	}
	return n, nil
}

func TestCache(t *testing.T) {
	const limit = 40 << 20 // more than the cache holds
	r := &patternReader{size: limit}
	c := New(r, limit, 64<<10, 256)
	buf := make([]byte, 256)
	check := func(off int64) {
		t.Helper()
		if err := c.Read(buf, off); err != nil {
			t.Fatal(err)
		}
		for i, v := range buf {
			if v != byte((off+int64(i))*7) {
				t.Fatalf("byte %d of read at %#x: %#x", i, off, v)
			}
		}
	}
	// Sequential inode-sized reads: one underlying read per 64 KiB.
	for off := int64(0); off < limit; off += 256 {
		check(off)
	}
	if want := limit / (64 << 10); r.reads != want {
		t.Errorf("%d underlying reads for %d chunks", r.reads, want)
	}
	// Re-reading the last chunks hits the cache; the first were evicted.
	r.reads = 0
	check(limit - 256)
	if r.reads != 0 {
		t.Errorf("recent chunk read again")
	}
	check(0)
	if r.reads != 1 {
		t.Errorf("evicted chunk: %d reads, want 1", r.reads)
	}
	// A read across a chunk boundary goes straight to the reader.
	r.reads = 0
	check(64<<10 - 100)
	if r.reads != 1 {
		t.Errorf("cross-chunk read: %d reads, want 1", r.reads)
	}
}

func TestCachePastLimit(t *testing.T) {
	r := &patternReader{size: 1 << 20}
	c := New(r, 1000, 64<<10, 4)
	buf := make([]byte, 256)
	if err := c.Read(buf, 700); err != nil {
		t.Fatalf("read inside the limit: %v", err)
	}
	for _, off := range []int64{900, 1000, 64<<10 - 10, 1 << 30} {
		if err := c.Read(buf, off); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read at %#x past the limit: %v", off, err)
		}
	}
	if err := c.Read(buf, -1); err == nil {
		t.Error("negative offset accepted")
	}
}

type failReader struct{}

func (failReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestCacheReadError(t *testing.T) {
	c := New(failReader{}, 1<<20, 4096, 2)
	err := c.Read(make([]byte, 16), 8192)
	if err == nil || err.Error() != "read at 0x2000: disk on fire" {
		t.Fatalf("err = %v", err)
	}
	// The failed chunk is not cached as if good.
	if err := c.Read(make([]byte, 16), 8192); err == nil {
		t.Fatal("second read of a failed chunk succeeded")
	}
}

// shortReader returns fewer bytes than asked, without an error.
type shortReader struct{}

func (shortReader) ReadAt(p []byte, off int64) (int, error) { return len(p) / 2, nil }

func TestReadFull(t *testing.T) {
	r := &patternReader{size: 100}
	if err := ReadFull(r, make([]byte, 10), 90); err != nil {
		t.Errorf("read ending at the end, io.EOF with a full buffer: %v", err)
	}
	if err := ReadFull(r, make([]byte, 10), 95); err != io.EOF {
		t.Errorf("read past the end: %v, want io.EOF", err)
	}
	if err := ReadFull(shortReader{}, make([]byte, 10), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short read without an error: %v, want io.ErrUnexpectedEOF", err)
	}
}
