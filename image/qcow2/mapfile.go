package qcow2

import (
	"fmt"
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// MapFile says where the guest bytes at off sit in a file (Image is an
// alloc.FileMapper): uncompressed data clusters (and subclusters) are in
// the image file, or the external data file, at their host offset (zeros
// past its end, as ReadAt reads them); zero clusters, and unallocated
// ones without a backing file or past its end, are zeros; compressed
// clusters, the backing file's bytes, and data in a reader that is not a
// file must be read through ReadAt. An L2 entry pointing past the end of
// the file is ReadAt's error. It agrees with ReadAt byte for byte.
func (img *Image) MapFile(off, n int64) (alloc.FileRun, error) {
	if off < 0 || n <= 0 || off >= img.size {
		return alloc.FileRun{}, fmt.Errorf("qcow2: bad file map range %d+%d", off, n)
	}
	x, err := img.extentAt(off, min(n, img.size-off))
	if err != nil {
		return alloc.FileRun{}, err
	}
	switch x.kind {
	case kindZero:
		return alloc.FileRun{Len: x.n, Zero: true}, nil
	case kindBacking:
		if img.backing == nil || off >= img.backingSize {
			return alloc.FileRun{Len: x.n, Zero: true}, nil
		}
		return alloc.FileRun{Len: min(x.n, img.backingSize-off)}, nil
	case kindCompressed:
		return alloc.FileRun{Len: x.n}, nil
	}
	// Data: the checks of readData.
	cs := img.clusterSize
	host := x.host
	if bad := max((img.dataSize+cs-1)&^(cs-1), host&^(cs-1)); bad < host+x.n {
		return alloc.FileRun{}, formatErr(max(bad, host), fmt.Sprintf("data cluster for guest offset %#x", off+max(0, bad-host)),
			"is past the end of the %s (%d bytes)", img.dataName(), img.dataSize)
	}
	if host >= img.dataSize {
		return alloc.FileRun{Len: x.n, Zero: true}, nil
	}
	l := min(x.n, img.dataSize-host)
	if s, ok := img.data.(interface{ SourceFile() *os.File }); ok {
		if f := s.SourceFile(); f != nil {
			return alloc.FileRun{Len: l, File: f, FileOff: host}, nil
		}
	}
	return alloc.FileRun{Len: l}, nil
}
