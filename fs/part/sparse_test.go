package part

import (
	"encoding/binary"
	"io"
)

// sparseDisk is an in-memory disk of any size that holds only a few
// chunks of data; everything else reads as zeros.
type sparseDisk struct {
	size   int64
	chunks []chunk
}

type chunk struct {
	off  int64
	data []byte
}

func (d *sparseDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > d.size-off {
		n = int(d.size - off)
	}
	clear(p[:n])
	for _, c := range d.chunks {
		lo, hi := max(off, c.off), min(off+int64(n), c.off+int64(len(c.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], c.data[lo-c.off:hi-c.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// encodeSectors packs (offset, 512-byte sector) records: sector 0 first,
// without its offset, then 8-byte little-endian offsets each followed by
// a sector. decodeSectors is its inverse and accepts any bytes.
func encodeSectors(first []byte, rest map[int64][]byte) []byte {
	out := append([]byte{}, first...)
	for off, s := range rest {
		out = binary.LittleEndian.AppendUint64(out, uint64(off))
		out = append(out, s...)
	}
	return out
}

func decodeSectors(b []byte, size int64) *sparseDisk {
	d := &sparseDisk{size: size}
	head := b[:min(len(b), 512)]
	d.chunks = append(d.chunks, chunk{0, head})
	for b = b[len(head):]; len(b) >= 8 && len(d.chunks) < 1024; {
		off := int64(binary.LittleEndian.Uint64(b) &^ (1 << 63))
		b = b[8:]
		s := b[:min(len(b), 512)]
		b = b[len(s):]
		d.chunks = append(d.chunks, chunk{off, s})
	}
	return d
}
