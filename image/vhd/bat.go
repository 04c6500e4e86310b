package vhd

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// unallocated is the BAT entry of a block that is not in the file.
const unallocated = 0xffffffff

// readBAT reads the Block Allocation Table: one big-endian sector number
// per block, the block's sector bitmap followed by its data. The table is
// read whole, so its size is checked first against the file (it must lie
// in it, which bounds the memory to the input's size) and against the
// disk (it must map every block of the virtual size). Every allocated
// block must lie wholly inside the file: qemu refuses the image
// otherwise ("the image has been truncated"), and so do we, naming the
// block.
func readBAT(r io.ReaderAt, fileSize int64, h *dynHeader, size int64) ([]uint32, error) {
	ferr := func(off int64, msg string) error {
		return &diskerr.FormatError{FS: "vhd", Off: off, What: "block allocation table", Msg: msg}
	}
	bs := int64(h.blockSize)
	n := int64(h.maxTableEntries)
	if n*bs < size {
		return nil, ferr(int64(h.tableOffset), fmt.Sprintf("%d entries of %d-byte blocks do not cover the %d-byte disk", n, bs, size))
	}
	if h.tableOffset > uint64(fileSize) || n*4 > fileSize-int64(h.tableOffset) {
		return nil, ferr(int64(min(h.tableOffset, 1<<62)), fmt.Sprintf("%d entries do not fit in the %d-byte file", n, fileSize))
	}
	off := int64(h.tableOffset)
	// Only the blocks of the virtual disk are used.
	used := min(n, (size+bs-1)/bs)
	b := make([]byte, used*4)
	if m, err := r.ReadAt(b, off); int64(m) < int64(len(b)) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "block allocation table", Msg: "reading", Err: err}
	}
	bat := make([]uint32, used)
	span := h.bitmapSize() + bs
	for i := range bat {
		e := binary.BigEndian.Uint32(b[4*i:])
		if e != unallocated && int64(e)*512+span > fileSize {
			return nil, ferr(off+4*int64(i), fmt.Sprintf("block %d at %#x ends past the end of the %d-byte file", i, int64(e)*512, fileSize))
		}
		bat[i] = e
	}
	return bat, nil
}
