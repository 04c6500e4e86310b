package image

import (
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// Extents reports the allocation of [off, off+length) of the disk as the
// guest sees it (image.Image is an alloc.Mapper): raw files from the file
// system's holes (lseek SEEK_DATA/SEEK_HOLE), qcow2 from its L2 tables
// through its backing chain, and any format reader that is an
// alloc.Mapper from its own tables; the rest (xz) is all data. The NBD
// server's block status and READ holes, and the map's holes, come from
// here.
func (i *Image) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || off >= i.size || length <= 0 {
		return nil, nil
	}
	length = min(length, i.size-off)
	if m, ok := i.r.(alloc.Mapper); ok {
		return m.Extents(off, length)
	}
	return []alloc.Extent{{Off: off, Len: length}}, nil
}

// KnownData reports whether [off, off+n) is known to be all data without
// any work (a raw file remembers the data runs it found), so that the NBD
// server can skip asking for extents on the read path.
func (i *Image) KnownData(off, n int64) bool {
	k, ok := i.r.(interface{ KnownData(off, n int64) bool })
	return ok && k.KnownData(off, n)
}

// SourceFile returns the file a raw image is read from as it is, or nil
// for any other format: the NBD server sends it with sendfile
// (nbd.FileBacked).
func (i *Image) SourceFile() *os.File {
	if s, ok := i.r.(interface{ SourceFile() *os.File }); ok {
		return s.SourceFile()
	}
	return nil
}

// MapFile says where guest bytes at off sit verbatim in a file (image.Image
// is an alloc.FileMapper), so that the NBD server sends them with
// sendfile: the format reader says when it is an alloc.FileMapper (qcow2,
// VMDK, VHD, VDI, VHDX read from files); every other reader (xz, an
// OVA's disk, a reader over NBD) answers that [off, off+n) must be read
// through ReadAt. Raw images are served from their file as they are
// (SourceFile). No layer here transforms the bytes between the format
// reader and the guest (encrypted qcow2 is refused), so the reader's
// answer is the guest's.
func (i *Image) MapFile(off, n int64) (alloc.FileRun, error) {
	if m, ok := i.r.(alloc.FileMapper); ok {
		return m.MapFile(off, n)
	}
	return alloc.FileRun{Len: n}, nil
}
