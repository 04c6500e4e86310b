package ufs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: *FS implements io/fs's FS, ReadDirFS, StatFS and
// ReadLinkFS, so that the inspector reads a FreeBSD guest's files by path
// without mounting. Names are case-sensitive. Open and Stat follow
// symbolic links (fsfile.Resolve); Lstat and ReadLink do not. Device
// files, FIFOs and sockets open as empty files; holes read as zeros.
var (
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

const (
	maxDirEntries = 1 << 20 // entries a directory listing returns
	maxLinkTarget = 4096    // bytes of a symbolic link target (PATH_MAX)
)

var errFound = errors.New("found")

// node is a resolved inode with the name it was reached by.
type node struct {
	name string
	in   *Inode
}

// view serves io/fs over tree: Open, Stat... below are calls into it.
func (f *FS) view() fsfile.View[*node] { return fsfile.View[*node]{Nodes: tree{f}} }

// Open opens the named file for reading, following symbolic links.
func (f *FS) Open(name string) (iofs.File, error) { return f.view().Open(name) }

// Stat returns a FileInfo for the named file, following symbolic links.
func (f *FS) Stat(name string) (iofs.FileInfo, error) { return f.view().Stat(name) }

// Lstat returns a FileInfo for the named file without following a final
// symbolic link.
func (f *FS) Lstat(name string) (iofs.FileInfo, error) { return f.view().Lstat(name) }

// ReadLink returns the target of the named symbolic link.
func (f *FS) ReadLink(name string) (string, error) { return f.view().ReadLink(name) }

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) { return f.view().ReadDir(name) }

// tree is f's directory tree with what fsfile.View needs to serve
// io/fs over it.
type tree struct{ f *FS }

func (t tree) Root() (*node, error)                    { return t.f.loadNode(rootIno, ".") }
func (tree) IsDir(n *node) bool                        { return n.in.IsDir() }
func (tree) IsSymlink(n *node) bool                    { return n.in.IsSymlink() }
func (t tree) LinkTarget(n *node) (string, error)      { return t.f.linkTarget(n.in) }
func (tree) Named(n *node, name string) *node          { n.name = name; return n }
func (tree) Info(n *node) iofs.FileInfo                { return &fileInfo{n} }
func (t tree) List(dir *node) ([]iofs.DirEntry, error) { return t.f.list(dir.in) }
func (t tree) Contents(n *node) (io.ReaderAt, int64, error) {
	c, err := t.f.contents(n.in)
	if err != nil {
		return nil, 0, err
	}
	return c, c.Size, nil
}
func (t tree) Lookup(dir *node, name string) (*node, error) {
	ino, err := t.f.lookup(dir.in, name)
	if err != nil {
		return nil, err
	}
	return t.f.loadNode(ino, name)
}

func (f *FS) loadNode(ino uint64, name string) (*node, error) {
	in, err := f.readInode(ino)
	if err != nil {
		return nil, err
	}
	return &node{name: name, in: in}, nil
}

// linkTarget returns a symbolic link's target: in the inode's pointer
// bytes when short, else in its blocks.
func (f *FS) linkTarget(in *Inode) (string, error) {
	if in.Size <= 0 || in.Size > maxLinkTarget {
		return "", inodeErr(in.Num, in.Off, "symbolic link target of %d bytes", in.Size)
	}
	if in.IsShortLink() {
		return string(in.shortLink), nil
	}
	c, err := f.contents(in)
	if err != nil {
		return "", err
	}
	b := make([]byte, in.Size)
	if _, err := c.ReadAt(b, 0); err != nil {
		return "", inodeErr(in.Num, in.Off, "reading symbolic link target: %v", err)
	}
	return string(b), nil
}

// contents returns a reader of in's contents.
func (f *FS) contents(in *Inode) (*fsfile.Extents, error) {
	if in.special() {
		return &fsfile.Extents{R: f.r}, nil
	}
	if in.IsShortLink() {
		return &fsfile.Extents{R: bytes.NewReader(in.shortLink), Size: in.Size}, nil
	}
	data, _, err := f.mapInode(in, false)
	if err != nil {
		return nil, err
	}
	return &fsfile.Extents{R: f.r, Size: in.Size, Ext: data}, nil
}

// lookup finds name in directory in and returns its inode number.
func (f *FS) lookup(in *Inode, name string) (uint64, error) {
	var found uint64
	want := []byte(name)
	err := f.scanDir(in, func(de dirent) error {
		if bytes.Equal(de.name, want) {
			found = de.ino
			return errFound
		}
		return nil
	})
	if err == errFound {
		return found, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, iofs.ErrNotExist
}

// list returns the entries of directory in, sorted by name.
func (f *FS) list(in *Inode) ([]iofs.DirEntry, error) {
	var es []iofs.DirEntry
	err := f.scanDir(in, func(de dirent) error {
		if len(es) >= maxDirEntries {
			return fmt.Errorf("directory of more than %d entries", maxDirEntries)
		}
		n, err := f.loadNode(de.ino, string(de.name))
		if err != nil {
			return err
		}
		es = append(es, iofs.FileInfoToDirEntry(&fileInfo{n}))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
	return es, nil
}

// fileInfo is the FileInfo of an inode. Sys returns the inode number as a
// uint64.
type fileInfo struct{ n *node }

func (i *fileInfo) Name() string       { return i.n.name }
func (i *fileInfo) Size() int64        { return i.n.in.Size }
func (i *fileInfo) ModTime() time.Time { return i.n.in.Mtime }
func (i *fileInfo) IsDir() bool        { return i.n.in.IsDir() }
func (i *fileInfo) Sys() any           { return i.n.in.Num }

func (i *fileInfo) Mode() iofs.FileMode { return fsfile.UnixMode(uint32(i.n.in.Mode)) }
