package nbd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
)

// File is a Source over a file or block device opened read-only. It is an
// Extenter: holes come from lseek SEEK_DATA/SEEK_HOLE, as nbdkit's file
// plugin finds them, so READ replies skip them and base:allocation reports
// them.
type File struct {
	f    *os.File
	fd   int
	size int64

	// data remembers data runs lseek found, one slot per 64 MiB of the
	// file (direct-mapped on the offset asked about), so that a READ
	// inside a known run skips the two lseek calls. Only data is
	// remembered, never a hole: if the file changed under the server, a
	// stale entry still reads the file's real bytes.
	data [dataSlots]atomic.Pointer[dataRun]
	// noSeek is set when the file cannot find holes (SEEK_DATA fails):
	// everything is data.
	noSeek atomic.Bool
}

// dataRun is [off, end) known to be data.
type dataRun struct{ off, end int64 }

const (
	dataSlots     = 64
	dataSlotShift = 26 // 64 MiB
)

func dataSlot(off int64) int { return int(uint64(off)>>dataSlotShift) % dataSlots }

// knownData reports whether [off, off+n) is known to be all data.
func (f *File) knownData(off, n int64) bool {
	if f.noSeek.Load() {
		return true
	}
	r := f.data[dataSlot(off)].Load()
	return r != nil && r.off <= off && off+n <= r.end
}

// OpenFile opens path read-only.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nbd: %s: %w", path, err)
	}
	return &File{f: f, fd: int(f.Fd()), size: size}, nil
}

// ReadAt reads with pread; it is safe for concurrent use.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

// Size is the file's size when it was opened.
func (f *File) Size() int64 { return f.size }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

// maxFileExtents bounds the extents one Extents call returns.
const maxFileExtents = 1024

// Extents reports data and holes in [off, off+length). lseek's result does
// not depend on the shared file position, so concurrent calls are safe. A
// filesystem without SEEK_DATA support reports everything as data.
func (f *File) Extents(off, length int64) ([]Extent, error) {
	end := min(off+length, f.size)
	var out []Extent
	for pos := off; pos < end && len(out) < maxFileExtents; {
		d, err := syscall.Seek(f.fd, pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			d = end // no data after pos
		} else if err != nil {
			f.noSeek.Store(true)
			if len(out) == 0 {
				return []Extent{{Off: off, Len: end - off}}, nil
			}
			return out, nil
		}
		if d > pos {
			l := min(d, end) - pos
			out = append(out, Extent{Off: pos, Len: l, Hole: true, Zero: true})
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
		out = append(out, Extent{Off: pos, Len: l})
		pos += l
	}
	return out, nil
}
