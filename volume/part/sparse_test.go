package part

import (
	"encoding/binary"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

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

func decodeSectors(b []byte, size int64) *testutil.Sparse {
	d := &testutil.Sparse{Size: size}
	head := b[:min(len(b), 512)]
	d.Chunks = append(d.Chunks, testutil.Chunk{Off: 0, Data: head})
	for b = b[len(head):]; len(b) >= 8 && len(d.Chunks) < 1024; {
		off := int64(binary.LittleEndian.Uint64(b) &^ (1 << 63))
		b = b[8:]
		s := b[:min(len(b), 512)]
		b = b[len(s):]
		d.Chunks = append(d.Chunks, testutil.Chunk{Off: off, Data: s})
	}
	return d
}
