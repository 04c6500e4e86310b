package testutil

import "io"

// Sparse is an in-memory disk or volume of Size bytes that holds only a
// few chunks of data; everything else reads as zeros. Where chunks
// overlap, the later one wins. It is an io.ReaderAt.
type Sparse struct {
	Size   int64
	Chunks []Chunk
}

// Chunk is Data at byte offset Off of a Sparse.
type Chunk struct {
	Off  int64
	Data []byte
}

// ReadAt reads len(p) bytes at off. A negative off or one at or past Size
// gives 0 and io.EOF; a read that runs past Size gives the bytes up to
// Size and io.EOF. Parts of chunks past Size are never read.
func (d *Sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.Size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > d.Size-off {
		n = int(d.Size - off)
	}
	clear(p[:n])
	for _, c := range d.Chunks {
		lo, hi := max(off, c.Off), min(off+int64(n), c.Off+int64(len(c.Data)))
		if lo < hi {
			copy(p[lo-off:hi-off], c.Data[lo-c.Off:hi-c.Off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
