package fsfile

import (
	"io"
	"io/fs"
	"path"
)

// Nodes is what View needs of a filesystem with inodes and symbolic
// links (fs/ext, fs/xfs, fs/ufs, fs/btrfs), N being its node type: the
// Tree Resolve walks, and for a node its FileInfo, directory listing and
// contents.
type Nodes[N any] interface {
	Tree[N]
	// Named returns n as reached by the given name (the last element of
	// the path it was looked up by), for its FileInfo.
	Named(n N, name string) N
	Info(n N) fs.FileInfo
	// List returns the entries of directory dir, sorted by name.
	List(dir N) ([]fs.DirEntry, error)
	// Contents returns the bytes of a node that is not a directory.
	Contents(n N) (r io.ReaderAt, size int64, err error)
}

// View serves io/fs (FS, StatFS, ReadDirFS, ReadLinkFS) over Nodes: Open
// and Stat follow symbolic links, Lstat and ReadLink do not. The
// filesystems' own Open, Stat... are one-line calls into it.
type View[N any] struct{ Nodes Nodes[N] }

// Resolve looks name up (see the package function Resolve) and names the
// node by the path's last element.
func (v View[N]) Resolve(op, name string, follow bool) (N, error) {
	n, atRoot, err := Resolve(v.Nodes, op, name, follow)
	if err != nil {
		return n, err
	}
	if !atRoot || name == "." {
		n = v.Nodes.Named(n, path.Base(name))
	}
	return n, nil
}

// Open opens the named file for reading, following symbolic links.
func (v View[N]) Open(name string) (fs.File, error) {
	n, err := v.Resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if v.Nodes.IsDir(n) {
		return NewDir(v.Nodes.Info(n), name, func() ([]fs.DirEntry, error) { return v.Nodes.List(n) }), nil
	}
	r, size, err := v.Nodes.Contents(n)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return NewFile(v.Nodes.Info(n), name, r, size), nil
}

// Stat returns a FileInfo for the named file, following symbolic links.
func (v View[N]) Stat(name string) (fs.FileInfo, error) {
	return v.info("stat", name, true)
}

// Lstat returns a FileInfo for the named file without following a final
// symbolic link.
func (v View[N]) Lstat(name string) (fs.FileInfo, error) {
	return v.info("lstat", name, false)
}

func (v View[N]) info(op, name string, follow bool) (fs.FileInfo, error) {
	n, err := v.Resolve(op, name, follow)
	if err != nil {
		return nil, err
	}
	return v.Nodes.Info(n), nil
}

// ReadLink returns the target of the named symbolic link.
func (v View[N]) ReadLink(name string) (string, error) {
	n, err := v.Resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !v.Nodes.IsSymlink(n) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := v.Nodes.LinkTarget(n)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return t, nil
}

// ReadDir lists the named directory, sorted by name.
func (v View[N]) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := v.Resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !v.Nodes.IsDir(n) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	es, err := v.Nodes.List(n)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return es, nil
}
