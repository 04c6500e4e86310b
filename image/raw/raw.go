// Package raw reads a file (or block device) as it is: a raw disk image,
// or the data part of a fixed VHD. Its allocation (image/alloc) comes from
// lseek SEEK_DATA/SEEK_HOLE, as nbdkit's file plugin and qemu's file driver
// find it. It is a leaf, so that the image package and the NBD server's
// own raw source share it without importing each other.
package raw

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// File is the bytes of a file (or block device) as they are, the first
// size of them: a raw image, or a fixed VHD without its footer. It is an
// alloc.Mapper: holes come from lseek SEEK_DATA/SEEK_HOLE, as nbdkit's
// file plugin and qemu's file driver find them. A file system without
// SEEK_DATA reports everything as data.
type File struct {
	r    io.ReaderAt
	fd   int
	size int64

	// data remembers data runs lseek found, one slot per 64 MiB of the
	// file (direct-mapped on the offset asked about), so that a read
	// inside a known run (KnownData, Extents) skips the two lseek calls.
	// Only data is remembered, never a hole: if the file changed under
	// us, a stale entry still reads the file's real bytes.
	data [dataSlots]atomic.Pointer[dataRun]
	// noSeek is set when the file cannot find holes (SEEK_DATA fails):
	// everything is data.
	noSeek atomic.Bool
}

// fder is an opened file: chain.OpenFile's files are.
type fder interface{ Fd() uintptr }

// New returns the first size bytes of r as a raw image; its
// allocation comes from lseek when r is a file, else it is all data.
func New(r io.ReaderAt, size int64) *File {
	rf := &File{r: r, fd: -1, size: size}
	if f, ok := r.(fder); ok {
		rf.fd = int(f.Fd())
	} else {
		rf.noSeek.Store(true)
	}
	return rf
}

// dataRun is [off, end) known to be data.
type dataRun struct{ off, end int64 }

const (
	dataSlots     = 64
	dataSlotShift = 26 // 64 MiB
)

func dataSlot(off int64) int { return int(uint64(off)>>dataSlotShift) % dataSlots }

// ReadAt reads the file's bytes; reads stop at size.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	if int64(len(p)) > f.size-off {
		n, err := f.r.ReadAt(p[:f.size-off], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return f.r.ReadAt(p, off)
}

// KnownData reports whether [off, off+n) is known to be all data without
// asking the file system.
func (f *File) KnownData(off, n int64) bool {
	if f.noSeek.Load() {
		return true
	}
	r := f.data[dataSlot(off)].Load()
	return r != nil && r.off <= off && off+n <= r.end
}

const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

// maxRawExtents bounds the extents one Extents call returns.
const maxRawExtents = 1024

// Extents reports data and holes (Hole and Zero) in [off, off+length).
// lseek's result does not depend on the shared file position, so
// concurrent calls are safe.
func (f *File) Extents(off, length int64) ([]alloc.Extent, error) {
	end := min(off+length, f.size)
	if off < 0 || off >= end {
		return nil, nil
	}
	if f.KnownData(off, end-off) {
		return []alloc.Extent{{Off: off, Len: end - off}}, nil
	}
	var out []alloc.Extent
	for pos := off; pos < end && len(out) < maxRawExtents; {
		d, err := syscall.Seek(f.fd, pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			d = end // no data after pos
		} else if err != nil {
			f.noSeek.Store(true)
			return append(out, alloc.Extent{Off: pos, Len: end - pos}), nil
		}
		if d > pos {
			l := min(d, end) - pos
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: l, Hole: true, Zero: true})
			pos += l
			continue
		}
		h, err := syscall.Seek(f.fd, pos, seekHole)
		if err != nil || h <= pos {
			h = end
		} else {
			f.data[dataSlot(pos)].Store(&dataRun{pos, h})
		}
		l := min(h, end) - pos
		out = alloc.Append(out, alloc.Extent{Off: pos, Len: l})
		pos += l
	}
	return out, nil
}

// SourceFile returns the opened file the bytes are read from, when the
// reader is one that says (chain.OpenFile's files do), or nil: the NBD
// server then reads the file itself (nbd.FileBacked), the same bytes at
// the same offsets.
func (f *File) SourceFile() *os.File {
	if s, ok := f.r.(interface{ SourceFile() *os.File }); ok {
		return s.SourceFile()
	}
	return nil
}

// Size is the number of bytes read from the file.
func (f *File) Size() int64 { return f.size }
