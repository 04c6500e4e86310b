package xfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"sort"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: *FS implements io/fs's FS, ReadDirFS, StatFS and
// ReadLinkFS, so that callers (the inspector) read files by path without
// mounting. Names are case-sensitive, as on Linux. Open and Stat follow
// symbolic links (absolute targets from the filesystem's root, at most
// fsfile.MaxLinkHops of them); Lstat and ReadLink do not. Device files, FIFOs and
// sockets open as empty files. Files are read through their extent map,
// holes and unwritten extents reading as zeros.
var (
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

// Limits on path resolution and directory listing.
const (
	maxDirEntries = 1 << 20 // entries a directory listing returns
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

func (t tree) Root() (*node, error)                    { return t.f.loadNode(t.f.sb.rootIno, ".") }
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

// loadNode reads inode ino, reached by name.
func (f *FS) loadNode(ino uint64, name string) (*node, error) {
	in := new(Inode)
	if err := f.readInode(ino, in, make([]byte, f.sb.inodeSize)); err != nil {
		return nil, err
	}
	return &node{name: name, in: in}, nil
}

// newMapper returns a mapper with a budget of its own, for one request.
func (f *FS) newMapper() *mapper {
	b := walkBudget(f.sb.dblocks)
	return &mapper{f: f, budget: &b}
}

// dataExtents returns the extents holding in's contents, sorted by file
// offset. A damaged map is an error: reading a file with missing pieces
// as zeros would be a lie.
func (f *FS) dataExtents(in *Inode) ([]bmap.Extent, error) {
	if in.special() {
		return nil, nil
	}
	m := f.newMapper()
	if err := m.mapInode(in); err != nil {
		return nil, err
	}
	return slices.Clone(m.m.data), nil
}

// linkTarget returns a symbolic link's target.
func (f *FS) linkTarget(in *Inode) (string, error) {
	if in.Size <= 0 || in.Size > maxLinkTarget {
		return "", inodeErr(in.Num, in.Off, "symbolic link target of %d bytes", in.Size)
	}
	switch in.Format {
	case fmtLocal:
		return string(in.fork[:in.Size]), nil
	case fmtExtents, fmtBtree:
		es, err := f.dataExtents(in)
		if err != nil {
			return "", err
		}
		b, err := f.remoteTarget(in, es)
		return string(b), err
	}
	return "", inodeErr(in.Num, in.Off, "symbolic link with data fork format %d", in.Format)
}

// contents returns a reader of in's contents.
func (f *FS) contents(in *Inode) (*fsfile.Extents, error) {
	if in.special() {
		return &fsfile.Extents{R: f.r}, nil
	}
	if in.Format == fmtLocal {
		// Short symbolic link or shortform directory: the fork's bytes.
		return &fsfile.Extents{R: bytes.NewReader(in.fork[:in.Size]), Size: in.Size, Ext: []bmap.Extent{{Off: 0, Len: in.Size, FileOff: 0, Role: bmap.RoleInline}}}, nil
	}
	es, err := f.dataExtents(in)
	if err != nil {
		return nil, err
	}
	return &fsfile.Extents{R: f.r, Size: in.Size, Ext: es}, nil
}

// lookup finds name in directory in and returns its inode number.
func (f *FS) lookup(in *Inode, name string) (uint64, error) {
	var found uint64
	want := []byte(name)
	err := f.scanDir(in, f.newMapper(), func(de dirent) error {
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

// scanDir calls fn for every entry of directory in, "." and ".."
// excluded, mapping it with m. A malformed block is an error.
func (f *FS) scanDir(in *Inode, m *mapper, fn func(dirent) error) error {
	if in.Format == fmtLocal {
		_, err := parseShortform(in.fork[:in.Size], in.forkOff, in.Num, f.sb.hasFtype(), fn)
		return err
	}
	if err := m.mapInode(in); err != nil {
		return err
	}
	return f.dirBlocks(in, m.m.data, m.budget, func(dblk int64, b []byte, off int64) error {
		return f.parseDataBlock(b, off, in.Num, dblk, fn)
	})
}

// dirBlocks calls fn for each directory block of the data space that the
// extents data of directory in map, with its logical offset, its bytes and
// its device offset (-1 when its filesystem blocks are not contiguous).
// Each block read costs its filesystem blocks from budget.
func (f *FS) dirBlocks(in *Inode, data []bmap.Extent, budget *int64, fn func(dblk int64, b []byte, off int64) error) error {
	c := &fsfile.Extents{R: f.r, Size: dirLeafOffset, Ext: data}
	buf := make([]byte, f.dirBS)
	next := int64(0)
	for _, e := range data {
		if e.Unwritten {
			continue
		}
		// The data blocks end at di_size; what lies past it (the hash
		// leaves of a leaf or node directory) holds no entries.
		start := max(e.FileOff/f.dirBS*f.dirBS, next)
		end := min(e.FileOff+e.Len, (min(in.Size, dirLeafOffset)+f.dirBS-1)/f.dirBS*f.dirBS)
		for db := start; db < end; db += f.dirBS {
			if *budget -= f.dirBS / f.bs; *budget < 0 {
				return errBudget
			}
			if _, err := c.ReadAt(buf, db); err != nil && err != io.EOF {
				return dirErr(in.Num, max(c.DiskOff(db), 0), fmt.Sprintf("directory block at %#x", db), "reading: %v", err)
			}
			off := c.DiskOff(db)
			if off >= 0 && c.DiskOff(db+f.dirBS-1) != off+f.dirBS-1 {
				off = -1
			}
			if err := fn(db, buf, off); err != nil {
				return err
			}
			next = db + f.dirBS
		}
	}
	return nil
}

// list returns the entries of directory in, sorted by name.
func (f *FS) list(in *Inode) ([]iofs.DirEntry, error) {
	var es []iofs.DirEntry
	err := f.scanDir(in, f.newMapper(), func(de dirent) error {
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
