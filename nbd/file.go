package nbd

import (
	"fmt"
	"io"
	"os"

	"github.com/virt-bmap/virt-bmap/image/raw"
)

// File is a Source over a file or block device opened read-only, as it
// is (raw), whose holes come from lseek SEEK_DATA/SEEK_HOLE (image/raw,
// as nbdkit's file plugin finds them), so READ replies skip them and
// base:allocation reports them. The tools serve image.Image, which reads
// raw files the same way; File is for serving a file without the image
// layer (tests, benchmarks).
type File struct {
	*raw.File
	f *os.File
}

// OpenFile opens path read-only as a raw image, whatever its content.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path) // O_RDONLY: an image is never written to
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nbd: %s: %w", path, err)
	}
	return &File{File: raw.New(f, size), f: f}, nil
}

// SourceFile returns the file: File is FileBacked.
func (f *File) SourceFile() *os.File { return f.f }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
