package wof

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// synthStream is the WofCompressedData stream of an XPRESS4K file of
// size bytes (over 4 GiB: 8-byte table entries) whose chunks are all
// chunk (compressed, of 4096 bytes) but the last, stored as last; it
// is made on the fly.
type synthStream struct {
	size        int64
	chunk, last []byte
}

func (s *synthStream) n() int64     { return (s.size + 4095) / 4096 }
func (s *synthStream) table() int64 { return (s.n() - 1) * 8 }
func (s *synthStream) len() int64 {
	return s.table() + (s.n()-1)*int64(len(s.chunk)) + int64(len(s.last))
}

func (s *synthStream) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		o := off + int64(i)
		if o >= s.len() {
			return i, io.EOF
		}
		if o < s.table() {
			var e [8]byte
			binary.LittleEndian.PutUint64(e[:], uint64((o/8+1)*int64(len(s.chunk))))
			p[i] = e[o%8]
			continue
		}
		d := o - s.table()
		if c := d / int64(len(s.chunk)); c < s.n()-1 {
			p[i] = s.chunk[d%int64(len(s.chunk))]
		} else {
			p[i] = s.last[d-(s.n()-1)*int64(len(s.chunk))]
		}
	}
	return len(p), nil
}

// TestLargeFile reads a file over 4 GiB, whose chunk table has 8-byte
// entries, made of copies of a chunk wimlib compressed: the first and
// last chunks, chunks around the 4 GiB mark, and the table windows
// between them.
func TestLargeFile(t *testing.T) {
	c := testdataStreams[0] // xpress4k: 6000 bytes of text, 2 chunks
	text := c.data()
	chunk, n := firstChunk(t, c.file, c.f, len(text))
	if n != 4096 {
		t.Fatalf("first chunk of %d bytes", n)
	}
	s := &synthStream{size: 1<<32 + 5000, chunk: chunk, last: randomData(5000%4096, 1)}
	r, err := NewReader(s, s.len(), s.size, Xpress4K)
	if err != nil {
		t.Fatal(err)
	}
	want := func(off int64) byte {
		if off >= s.size-int64(len(s.last)) {
			return s.last[off-(s.size-int64(len(s.last)))]
		}
		return text[off%4096]
	}
	for _, off := range []int64{0, 4095, 1 << 20, 1<<32 - 3000, 1<<32 - 1, 1 << 32, s.size - 904 - 10, s.size - 100} {
		buf := make([]byte, 6000)
		k, err := r.ReadAt(buf, off)
		end := min(off+6000, s.size)
		if k != int(end-off) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, k, err)
		}
		for i := 0; i < k; i++ {
			if buf[i] != want(off+int64(i)) {
				t.Fatalf("ReadAt(%d): byte %d differs", off, off+int64(i))
			}
		}
	}
	// A table entry past the stream is caught where it is read.
	bad := &badEntry{synthStream: s, at: 1048570 * 8} // chunk 1048571's

	r, err = NewReader(bad, s.len(), s.size, Xpress4K)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadAt(make([]byte, 10), 1048571*4096)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("chunk table entry 1048570 at stream offset 8388560")) {
		t.Errorf("bad 8-byte entry: %v", err)
	}
}

// badEntry is synthStream with the table entry at byte at all ones.
type badEntry struct {
	*synthStream
	at int64
}

func (b *badEntry) ReadAt(p []byte, off int64) (int, error) {
	k, err := b.synthStream.ReadAt(p, off)
	for i := 0; i < k; i++ {
		if o := off + int64(i); o >= b.at && o < b.at+8 {
			p[i] = 0xFF
		}
	}
	return k, err
}
