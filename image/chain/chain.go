// Package chain decides which files a disk image may make virt-bmap open:
// qcow2 backing files and external data files, VMDK extents and parents,
// VHD/VHDX/VDI parents. An image is untrusted input: a name it holds must
// not make the tools read (and then serve over NBD, or map) a file of the
// host the user did not choose.
//
// The rule, as a Policy applies it: a name is resolved against the
// directory of the image that holds it, and must stay inside that
// directory (no absolute path, no "..", no symbolic link leading out).
// Anything else is refused with ErrOutside, unless the user named the file
// (Policy.Allow, from a flag such as --allow-backing PATH, or because the
// file was itself given on the command line).
//
// Format packages do not import the image package (it imports them): they
// receive an Opener, which image implements with this policy, loop
// detection, a depth limit and content detection of the opened file.
package chain

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutside is wrapped by the error for a name that is absolute or leaves
// the referring image's directory and that the user did not allow.
var ErrOutside = errors.New("refers to a file outside the image's directory")

// ErrLoop is wrapped by the error for a chain that comes back to a file
// already in it.
var ErrLoop = errors.New("loop in the image chain")

// MaxDepth is the longest chain followed, the first image included.
const MaxDepth = 128

// File is an opened file of a chain: its bytes as stored.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Image is an opened image of a chain (a parent or backing image): its
// bytes as the guest sees them, after the image's own format is read.
type Image interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Opener opens the files an image names. from is the path of the image
// that holds the name (as the Opener gave it, or as the user gave the
// first image); name is the name as stored in the image.
type Opener interface {
	// OpenFile opens name as plain bytes (a VMDK extent, a qcow2 external
	// data file) and returns it with its resolved path.
	OpenFile(from, name string) (File, string, error)
	// OpenImage opens name as an image (a backing or parent image),
	// detecting its format by content, or reading it as format when that
	// is not "" ("raw", "qcow2", "vmdk"...). It returns the image and its
	// resolved path.
	OpenImage(from, name, format string) (Image, string, error)
}

// Policy resolves names and decides whether they may be opened.
type Policy struct {
	// Allow lists files the user named: they may be opened wherever they
	// are. Paths are compared after filepath.Abs and EvalSymlinks.
	Allow []string
}

// OpenFile resolves name as named by the image at from (Resolve) and
// opens it read-only (OpenFile): what a format package's Opener.OpenFile
// does with the default policy. It returns the file and its path.
func (p *Policy) OpenFile(from, name string) (File, string, error) {
	path, err := p.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	f, err := OpenFile(path)
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

// Resolve returns the path of name as named by the image at from, or an
// error wrapping ErrOutside. A name the image holds in Windows form (VHD
// and VHDX parent locators) goes through WindowsName first.
func (p *Policy) Resolve(from, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty file name")
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%q: file name holds a NUL byte", name)
	}
	dir := filepath.Dir(from)
	var path string
	if filepath.IsAbs(name) {
		path = filepath.Clean(name)
	} else {
		path = filepath.Join(dir, name)
	}
	if p.allowed(path) {
		return path, nil
	}
	if filepath.IsAbs(name) {
		return "", fmt.Errorf("%q: %w (absolute path; name it with --allow-backing to use it)", name, ErrOutside)
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%q: %w (name it with --allow-backing to use it)", name, ErrOutside)
	}
	// A symbolic link inside the directory may still lead out of it.
	realDir, err1 := filepath.EvalSymlinks(dir)
	realPath, err2 := filepath.EvalSymlinks(path)
	if err1 == nil && err2 == nil {
		if p.allowed(realPath) {
			return path, nil
		}
		rel, err := filepath.Rel(realDir, realPath)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%q: %w (a symbolic link to %s; name it with --allow-backing to use it)", name, ErrOutside, realPath)
		}
	}
	return path, nil
}

// WindowsName turns a Windows path as VHD and VHDX parent locators store
// it into slash form, as qemu does: backslashes become slashes, a "\\?\"
// prefix and a drive letter ("C:") are dropped (leaving an absolute path,
// which the policy refuses unless the user allows it), and a leading ".\"
// goes.
func WindowsName(s string) string {
	s = strings.ReplaceAll(s, `\`, "/")
	s = strings.TrimPrefix(s, "//?/")
	if len(s) >= 2 && s[1] == ':' && (s[0]|0x20 >= 'a' && s[0]|0x20 <= 'z') {
		s = s[2:]
	}
	for strings.HasPrefix(s, "./") {
		s = s[2:]
	}
	return s
}

func (p *Policy) allowed(path string) bool {
	if len(p.Allow) == 0 {
		return false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		real = abs
	}
	for _, a := range p.Allow {
		aa, err := filepath.Abs(a)
		if err != nil {
			continue
		}
		if ar, err := filepath.EvalSymlinks(aa); err == nil {
			aa = ar
		}
		if aa == real || aa == abs {
			return true
		}
	}
	return false
}

// osFile is a File on an *os.File.
type osFile struct {
	*os.File
	size int64
}

func (f *osFile) Size() int64 { return f.size }

// SourceFile returns the file, so that a raw image on it is served with
// sendfile (nbd.FileBacked).
func (f *osFile) SourceFile() *os.File { return f.File }

// OpenFile opens path read-only (an image is never written to) with its
// size; regular files and block devices alike. A directory or a file that
// cannot be sought (a FIFO) is an error.
func OpenFile(path string) (File, error) {
	// Stat first: opening a FIFO with no writer would block for ever.
	if st, err := os.Stat(path); err == nil && !st.IsDir() && !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		return nil, fmt.Errorf("%s: not a regular file or block device (%v): a disk image must be seekable; write it to a file first", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file or block device (%v): a disk image must be seekable; write it to a file first", path, st.Mode().Type())
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &osFile{f, size}, nil
}

// Tracker detects loops and overlong chains: Enter records one more file
// of the chain.
type Tracker struct {
	seen []os.FileInfo
	path []string
}

// Enter adds the file at path to the chain, failing with ErrLoop when it
// is already in it and when the chain would be longer than MaxDepth.
func (t *Tracker) Enter(path string) error {
	if len(t.seen) >= MaxDepth {
		return fmt.Errorf("%s: chain longer than %d images", path, MaxDepth)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	for i, s := range t.seen {
		if os.SameFile(s, st) {
			return fmt.Errorf("%w: %s -> %s (again)", ErrLoop, strings.Join(t.path[i:], " -> "), path)
		}
	}
	t.seen = append(t.seen, st)
	t.path = append(t.path, path)
	return nil
}
