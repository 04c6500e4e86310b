package vdi

import (
	"encoding/binary"
	"fmt"
	"io"
)

// bmapChunk is how much of the block map is read at a time.
const bmapChunk = 64 << 10

// readBlockMap reads the block map: one little-endian uint32 per block of
// the disk, the number of the block in the file's data area, or
// blockFree / blockZero. header.check has bounded its size by the file
// size, so memory follows the input. Every entry is checked: a block
// number must be below the number of blocks (VirtualBox never gives out
// more).
func readBlockMap(r io.ReaderAt, h *header) ([]uint32, error) {
	bmap := make([]uint32, h.blocks)
	buf := make([]byte, min(bmapChunk, 4*int64(h.blocks)))
	for i := 0; i < len(bmap); {
		n := min(len(buf)/4, len(bmap)-i)
		off := h.bmapOff + 4*int64(i)
		if m, err := r.ReadAt(buf[:4*n], off); m < 4*n {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("vdi: reading the block map at %#x: %w", off, err)
		}
		for j := range n {
			e := binary.LittleEndian.Uint32(buf[4*j:])
			if e >= h.blocks && e != blockFree && e != blockZero {
				return nil, formatErr(off+4*int64(j), fmt.Sprintf("block map entry %d", i+j), "block %d, but the image has %d blocks", e, h.blocks)
			}
			bmap[i+j] = e
		}
		i += n
	}
	return bmap, nil
}

// blockOffset is where the data of file block e starts: after the data
// offset, e whole blocks with their extra data, and this block's extra
// data.
func (h *header) blockOffset(e uint32) int64 {
	return h.dataOff + int64(e)*(h.blockSize+h.extra) + h.extra
}
