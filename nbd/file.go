package nbd

import (
	"errors"
	"fmt"
	"io"
	"os"
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
		}
		l := min(h, end) - pos
		out = append(out, Extent{Off: pos, Len: l})
		pos += l
	}
	return out, nil
}
