// Package fsfile holds the io/fs plumbing the filesystem packages
// (fs/ext, fs/fat, fs/ntfs, fs/xfs, fs/btrfs) share: a regular file over
// an io.ReaderAt of known size, a directory that lists its entries once
// and pages through them, and (resolve.go) path resolution with symbolic
// links for the filesystems that have them. Each filesystem only says how
// to read its contents, look a name up and list its directories.
package fsfile

import (
	"errors"
	"io"
	"io/fs"
	"sync"
)

// File is an open regular file: an fs.File, io.ReaderAt and io.Seeker.
// ReadAt may be called concurrently; Read and Seek share one position.
type File struct {
	info fs.FileInfo
	path string
	r    io.ReaderAt
	size int64

	mu  sync.Mutex
	off int64
}

// NewFile returns the open file named path whose contents r holds (size
// bytes).
func NewFile(info fs.FileInfo, path string, r io.ReaderAt, size int64) *File {
	return &File{info: info, path: path, r: r, size: size}
}

func (x *File) Stat() (fs.FileInfo, error) { return x.info, nil }
func (x *File) Close() error               { return nil }

func (x *File) Read(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n, err := x.ReadAt(p, x.off)
	x.off += int64(n)
	return n, err
}

// ReadAt reads the contents; an error other than io.EOF is a
// *fs.PathError naming the file.
func (x *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := x.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: x.path, Err: err}
	}
	return n, err
}

func (x *File) Seek(off int64, whence int) (int64, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return seek(&x.off, x.size, off, whence, x.path)
}

// seek implements io.Seeker over a position and a size.
func seek(pos *int64, size, off int64, whence int, name string) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += *pos
	case io.SeekEnd:
		off += size
	default:
		return 0, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	*pos = off
	return off, nil
}

// errIsDir is what reading a directory's bytes gives.
var errIsDir = errors.New("is a directory")

// Dir is an open directory: an fs.ReadDirFile. Its entries are listed
// once, on the first ReadDir; Read and ReadAt fail, Seek acts on nothing.
type Dir struct {
	info fs.FileInfo
	path string
	list func() ([]fs.DirEntry, error)

	mu      sync.Mutex
	entries []fs.DirEntry
	read    bool
	off     int
}

// NewDir returns the open directory named path; list gives its entries in
// the order ReadDir returns them.
func NewDir(info fs.FileInfo, path string, list func() ([]fs.DirEntry, error)) *Dir {
	return &Dir{info: info, path: path, list: list}
}

func (d *Dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *Dir) Close() error               { return nil }
func (d *Dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}
func (d *Dir) ReadAt([]byte, int64) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}
func (d *Dir) Seek(off int64, whence int) (int64, error) {
	var p int64
	return seek(&p, 0, off, whence, d.path)
}

// ReadDir returns the next n entries (all that are left for n <= 0), as
// fs.ReadDirFile says: io.EOF at the end only when n > 0.
func (d *Dir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.read {
		es, err := d.list()
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.path, Err: err}
		}
		d.entries, d.read = es, true
	}
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off += len(rest)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n:n], nil
}
