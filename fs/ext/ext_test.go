package ext

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// eofAtEnd is an io.ReaderAt that returns io.EOF with a full buffer when
// a read ends exactly at the end of its data, as the interface allows.
type eofAtEnd struct{ b []byte }

func (r eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) || off+int64(n) == int64(len(r.b)) {
		return n, io.EOF
	}
	return n, nil
}

func walkString(t *testing.T, r io.ReaderAt, size int64) string {
	t.Helper()
	f, err := New(r, size)
	must(t, err)
	var out bytes.Buffer
	f.SetWarn(func(err error) { fmt.Fprintln(&out, "warning:", err) })
	must(t, f.Walk(func(e fs.Entry) error {
		fmt.Fprintf(&out, "%+v\n", e)
		return nil
	}))
	return out.String()
}

func TestReaderAtEOF(t *testing.T) {
	for _, name := range fixtures {
		b := loadFixture(t, name)
		want := walkString(t, bytes.NewReader(b), int64(len(b)))
		if got := walkString(t, eofAtEnd{b}, int64(len(b))); got != want {
			t.Errorf("%s: walk through a reader returning io.EOF at the end differs", name)
		}
	}
}

// patternReader serves byte (off*7)&0xFF at each offset and counts reads.
type patternReader struct{ reads int }

func (r *patternReader) ReadAt(p []byte, off int64) (int, error) {
	r.reads++
	for i := range p {
		p[i] = byte((off + int64(i)) * 7)
	}
	return len(p), nil
}

func TestChunkCache(t *testing.T) {
	r := &patternReader{}
	const limit = 40 << 20 // more than the cache holds
	c := newChunkCache(r, limit)
	buf := make([]byte, 256)
	check := func(off int64) {
		t.Helper()
		must(t, c.read(buf, off))
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
	if want := limit / chunkSize; r.reads != want {
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
	// A read past the limit fails instead of returning stale bytes.
	c2 := newChunkCache(r, 1000)
	if err := c2.read(buf, 900); err == nil {
		t.Error("read past the filesystem succeeded")
	}
}
