package inspect

import (
	iofs "io/fs"
	"path"
	"strings"
)

// mountFS is an OS's filesystems put together at their mount points, as
// one read-only io/fs.FS: a path is served by the filesystem mounted on
// its longest matching prefix. Symbolic links inside one filesystem are
// followed by that filesystem; a final link is resolved across mounts by
// callers through ReadLinkFS.
type mountFS struct {
	mounts []mount // mounts[0] is the root
}

type mount struct {
	path string // "/", "/var"
	vol  *Volume
}

var (
	_ iofs.ReadDirFS  = (*mountFS)(nil)
	_ iofs.StatFS     = (*mountFS)(nil)
	_ iofs.ReadLinkFS = (*mountFS)(nil)
)

// route gives the filesystem serving name (an io/fs path, no leading
// slash) and the name inside it.
func (m *mountFS) route(op, name string) (iofs.FS, string, error) {
	if !iofs.ValidPath(name) {
		return nil, "", &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	abs := "/" + name
	if name == "." {
		abs = "/"
	}
	best := m.mounts[0]
	for _, mt := range m.mounts[1:] {
		if (abs == mt.path || strings.HasPrefix(abs, mt.path+"/")) && len(mt.path) > len(best.path) {
			best = mt
		}
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(abs, best.path), "/")
	if rel == "" {
		rel = "."
	}
	return best.vol.FS, path.Clean(rel), nil
}

func (m *mountFS) Open(name string) (iofs.File, error) {
	f, rel, err := m.route("open", name)
	if err != nil {
		return nil, err
	}
	return f.Open(rel)
}

func (m *mountFS) Stat(name string) (iofs.FileInfo, error) {
	f, rel, err := m.route("stat", name)
	if err != nil {
		return nil, err
	}
	return iofs.Stat(f, rel)
}

func (m *mountFS) ReadDir(name string) ([]iofs.DirEntry, error) {
	f, rel, err := m.route("readdir", name)
	if err != nil {
		return nil, err
	}
	return iofs.ReadDir(f, rel)
}

func (m *mountFS) Lstat(name string) (iofs.FileInfo, error) {
	f, rel, err := m.route("lstat", name)
	if err != nil {
		return nil, err
	}
	return iofs.Lstat(f, rel)
}

func (m *mountFS) ReadLink(name string) (string, error) {
	f, rel, err := m.route("readlink", name)
	if err != nil {
		return "", err
	}
	return iofs.ReadLink(f, rel)
}
