package vdi

import (
	"fmt"
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// MapFile says where the guest bytes at off sit in the image file (Image
// is an alloc.FileMapper): an allocated block's bytes are in the file at
// its offset (zeros past the end of the file), discarded blocks and a
// normal image's free blocks are zeros, a differencing image's free
// blocks (the parent) and everything when the reader is not a file must
// be read through ReadAt. A block that starts past the end of the file is
// ReadAt's error. It agrees with ReadAt byte for byte.
func (img *Image) MapFile(off, n int64) (alloc.FileRun, error) {
	size := img.h.diskSize
	if off < 0 || n <= 0 || off >= size {
		return alloc.FileRun{}, fmt.Errorf("vdi: bad file map range %d+%d", off, n)
	}
	bs := img.h.blockSize
	bi, inner := off/bs, off%bs
	n = min(n, size-off, bs-inner)
	switch e := img.bmap[bi]; e {
	case blockZero:
		return alloc.FileRun{Len: n, Zero: true}, nil
	case blockFree:
		if img.parent == nil || off >= img.parentSize {
			return alloc.FileRun{Len: n, Zero: true}, nil
		}
		return alloc.FileRun{Len: min(n, img.parentSize-off)}, nil
	default:
		start := img.h.blockOffset(e)
		if start >= img.fileSize {
			return alloc.FileRun{}, formatErr(start, fmt.Sprintf("block %d (guest offset %#x)", e, off), "is past the end of the file (%d bytes)", img.fileSize)
		}
		host := start + inner
		if host >= img.fileSize {
			return alloc.FileRun{Len: n, Zero: true}, nil
		}
		n = min(n, img.fileSize-host)
		s, ok := img.r.(interface{ SourceFile() *os.File })
		if !ok || s.SourceFile() == nil {
			return alloc.FileRun{Len: n}, nil
		}
		return alloc.FileRun{Len: n, File: s.SourceFile(), FileOff: host}, nil
	}
}
