package qcow2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxChain is the longest backing chain Open follows, the image itself
// included.
const MaxChain = 128

// ErrBackingLoop is wrapped by the error Open returns for a backing chain
// that comes back to an image already in it.
var ErrBackingLoop = errors.New("qcow2: backing file loop")

// Open opens the qcow2 image at path read-only with its backing chain:
// backing names are resolved against the directory of the image that
// names them, backing files may be qcow2 or raw (by the backing format
// extension, or by magic when there is none), external data files are
// opened the same way. A loop, a chain longer than MaxChain or a missing
// file is an error that names it. Close closes every file Open opened.
func Open(path string) (*Image, error) {
	c := &chain{}
	r, _, err := c.open(path, "qcow2")
	if err != nil {
		return nil, err
	}
	return r.(*Image), nil
}

// chain is the state of one Open: the images opened so far, outermost
// first.
type chain struct {
	files []chainFile
}

type chainFile struct {
	path string
	info os.FileInfo
}

// open opens path as format ("qcow2", "raw", or "" to detect) and returns
// it as a reader with its size. A qcow2 file is returned as an *Image.
func (c *chain) open(path, format string) (io.ReaderAt, int64, error) {
	if len(c.files) >= MaxChain {
		return nil, 0, fmt.Errorf("qcow2: %s: backing chain longer than %d images", path, MaxChain)
	}
	f, err := os.Open(path) // O_RDONLY: an image is never written to
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: is a directory", path)
	}
	for _, prev := range c.files {
		if os.SameFile(prev.info, st) {
			f.Close()
			return nil, 0, fmt.Errorf("%w: %s", ErrBackingLoop, c.describe(path))
		}
	}
	size, err := f.Seek(0, io.SeekEnd) // regular files and block devices alike
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	isQcow2 := n == len(magic) && bytes.Equal(magic[:], Magic[:])
	switch format {
	case "":
		format = "raw"
		if isQcow2 {
			format = "qcow2"
		}
	case "raw":
	case "qcow2":
		if !isQcow2 {
			f.Close()
			return nil, 0, fmt.Errorf("%s: not a qcow2 image (bad magic %q)", path, magic[:n])
		}
	default:
		f.Close()
		return nil, 0, fmt.Errorf("%s: backing format %q not supported (raw and qcow2 are)", path, format)
	}
	if format == "raw" {
		return f, size, nil
	}

	c.files = append(c.files, chainFile{path, st})
	dir := filepath.Dir(path)
	img, err := NewConfig(f, size, Config{Open: func(name, format string) (io.ReaderAt, int64, error) {
		if strings.HasPrefix(name, "json:") {
			return nil, 0, errors.New("json: pseudo-protocol backing names are not supported")
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if format == DataFileFormat {
			f, err := os.Open(p)
			if err != nil {
				return nil, 0, err
			}
			size, err := f.Seek(0, io.SeekEnd)
			if err != nil {
				f.Close()
				return nil, 0, err
			}
			return f, size, nil
		}
		return c.open(p, format)
	}})
	if err != nil {
		f.Close()
		return nil, 0, wrap("qcow2: "+path, err)
	}
	img.closers = append(img.closers, f)
	return img, img.Size(), nil
}

// describe spells the chain that loops back to path: a → b → a.
func (c *chain) describe(path string) string {
	var names []string
	for _, f := range c.files {
		names = append(names, f.path)
	}
	return strings.Join(append(names, path), " → ")
}

// wrapped is an error with context in front, without repeating the
// "qcow2: " of the error it wraps: errors from a backing chain nest.
type wrapped struct {
	msg string
	err error
}

func wrap(msg string, err error) error { return &wrapped{msg, err} }

func (w *wrapped) Error() string {
	return w.msg + ": " + strings.TrimPrefix(w.err.Error(), "qcow2: ")
}

func (w *wrapped) Unwrap() error { return w.err }
