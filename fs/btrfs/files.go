package btrfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: a Subvol serves one subvolume through io/fs (FS,
// ReadDirFS, StatFS, ReadLinkFS), as mounting it with subvolid= would
// show it: nested subvolumes appear as directories and are entered,
// absolute symbolic links resolve from the subvolume's root. *FS serves
// the default subvolume the same way, as a mount without subvol= does.
// Device files, FIFOs and sockets open as empty files. Files are read
// through their extents: holes and preallocated extents read as zeros,
// compressed extents (zlib, LZO, zstd) are decompressed.
var (
	_ iofs.FS         = (*Subvol)(nil)
	_ iofs.ReadDirFS  = (*Subvol)(nil)
	_ iofs.StatFS     = (*Subvol)(nil)
	_ iofs.ReadLinkFS = (*Subvol)(nil)
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

// Limits on path resolution and directory listing.
const (
	maxLinkTarget = 4096    // bytes of a symbolic link's target (PATH_MAX)
	maxDirEntries = 1 << 20 // entries a directory listing returns
)

// Subvol is one subvolume seen through io/fs. Get one with
// (*FS).Subvolume.
type Subvol struct {
	f  *FS
	id uint64
}

// ID is the subvolume's id (5 for the top level).
func (s *Subvol) ID() uint64 { return s.id }

// node is a resolved inode with the name it was reached by.
type node struct {
	name string
	in   *Inode
}

func (f *FS) Open(name string) (iofs.File, error) {
	return (&Subvol{f: f, id: f.defaultID}).Open(name)
}
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	return (&Subvol{f: f, id: f.defaultID}).Stat(name)
}
func (f *FS) Lstat(name string) (iofs.FileInfo, error) {
	return (&Subvol{f: f, id: f.defaultID}).Lstat(name)
}
func (f *FS) ReadLink(name string) (string, error) {
	return (&Subvol{f: f, id: f.defaultID}).ReadLink(name)
}
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) {
	return (&Subvol{f: f, id: f.defaultID}).ReadDir(name)
}

// view serves io/fs over subvolTree: Open, Stat... below are calls into it.
func (s *Subvol) view() fsfile.View[*node] { return fsfile.View[*node]{Nodes: subvolTree{s}} }

// Open opens the named file for reading, following symbolic links.
func (s *Subvol) Open(name string) (iofs.File, error) { return s.view().Open(name) }

// Stat returns a FileInfo for the named file, following symbolic links.
// Its Sys is the *Inode.
func (s *Subvol) Stat(name string) (iofs.FileInfo, error) { return s.view().Stat(name) }

// Lstat returns a FileInfo for the named file without following a final
// symbolic link.
func (s *Subvol) Lstat(name string) (iofs.FileInfo, error) { return s.view().Lstat(name) }

// ReadLink returns the target of the named symbolic link.
func (s *Subvol) ReadLink(name string) (string, error) { return s.view().ReadLink(name) }

// ReadDir lists the named directory, sorted by name.
func (s *Subvol) ReadDir(name string) ([]iofs.DirEntry, error) { return s.view().ReadDir(name) }

// subvolRoot returns the root directory of subvolume id.
func (f *FS) subvolRoot(id uint64) (*Inode, error) {
	ri, err := f.findRootItem(id)
	if err != nil {
		return nil, err
	}
	if ri == nil {
		return nil, fmt.Errorf("btrfs: subvolume %d: %w", id, iofs.ErrNotExist)
	}
	return f.loadInode(id, ri.dirID)
}

// loadInode reads inode ino of subvolume (tree) sub.
func (f *FS) loadInode(sub, ino uint64) (*Inode, error) {
	t, err := f.tree(sub)
	if err != nil {
		return nil, err
	}
	k := key{objectid: ino, typ: typeInodeItem}
	var in *Inode
	err = f.iterate(t, k, func(it item) (bool, error) {
		if it.key.objectid == ino && it.key.typ == typeInodeItem {
			var err error
			in, err = parseInodeItem(it.data, sub, ino, it.phys)
			return false, err
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, fmt.Errorf("btrfs: %s: inode %d has no inode item", treeName(sub), ino)
	}
	return in, nil
}

// subvolTree is a subvolume's directory tree with what fsfile.View needs to serve
// io/fs over it.
type subvolTree struct{ s *Subvol }

func (t subvolTree) Root() (*node, error) {
	in, err := t.s.f.subvolRoot(t.s.id)
	if err != nil {
		return nil, err
	}
	return &node{name: ".", in: in}, nil
}
func (subvolTree) IsDir(n *node) bool                        { return n.in.IsDir() }
func (subvolTree) IsSymlink(n *node) bool                    { return n.in.IsSymlink() }
func (t subvolTree) LinkTarget(n *node) (string, error)      { return t.s.f.linkTarget(n.in) }
func (subvolTree) Named(n *node, name string) *node          { n.name = name; return n }
func (subvolTree) Info(n *node) iofs.FileInfo                { return &fileInfo{n} }
func (t subvolTree) List(dir *node) ([]iofs.DirEntry, error) { return t.s.f.list(dir.in) }
func (t subvolTree) Contents(n *node) (io.ReaderAt, int64, error) {
	c, err := t.s.f.contents(n.in)
	if err != nil {
		return nil, 0, err
	}
	return c, c.size, nil
}
func (t subvolTree) Lookup(dir *node, name string) (*node, error) {
	return t.s.f.lookupName(dir.in, name)
}

// entryNode loads what directory entry d of dir points to: an inode of
// the same subvolume, or the root directory of a nested subvolume.
func (f *FS) entryNode(dir *Inode, d dirEntry) (*node, error) {
	switch d.location.typ {
	case typeInodeItem:
		in, err := f.loadInode(dir.Subvol, d.location.objectid)
		if err != nil {
			return nil, err
		}
		return &node{name: string(d.name), in: in}, nil
	case typeRootItem:
		ok, err := f.hasRootRef(dir, d)
		if err != nil {
			return nil, err
		}
		if !ok {
			// A subvolume entry copied into a snapshot: the subvolume
			// is not there (no ROOT_REF says so), and the kernel shows
			// an empty directory (BTRFS_EMPTY_SUBVOL_DIR_OBJECTID).
			return &node{name: string(d.name), in: &Inode{Subvol: dir.Subvol, Num: emptySubvolDirID, Mode: modeDir | 0o755, Nlink: 1, Mtime: dir.Mtime, empty: true}}, nil
		}
		in, err := f.subvolRoot(d.location.objectid)
		if err != nil {
			return nil, err
		}
		return &node{name: string(d.name), in: in}, nil
	}
	return nil, fmt.Errorf("btrfs: %s directory %d: entry %q points to key %v", treeName(dir.Subvol), dir.Num, d.name, d.location)
}

// emptySubvolDirID is the inode number of the placeholder directory.
const emptySubvolDirID = 2

// hasRootRef reports whether the root tree's ROOT_REF of the subvolume d
// points to says it sits at that name in dir, as the kernel checks before
// entering a subvolume (fixup_tree_root_location).
func (f *FS) hasRootRef(dir *Inode, d dirEntry) (bool, error) {
	b, err := f.lookup(f.rootTree, key{objectid: dir.Subvol, typ: typeRootRef, offset: d.location.objectid})
	if err != nil || b == nil {
		return false, err
	}
	le := binary.LittleEndian
	if len(b) < 18 || len(b) < 18+int(le.Uint16(b[16:])) {
		return false, fmt.Errorf("btrfs: root tree: root ref %d -> %d: %d bytes, too short", dir.Subvol, d.location.objectid, len(b))
	}
	return le.Uint64(b) == dir.Num && bytes.Equal(b[18:18+int(le.Uint16(b[16:]))], d.name), nil
}

// lookupName finds name in directory dir through its DIR_ITEM, keyed by
// the name's hash.
func (f *FS) lookupName(dir *Inode, name string) (*node, error) {
	t, err := f.tree(dir.Subvol)
	if err != nil {
		return nil, err
	}
	want := []byte(name)
	if len(want) > maxNameLen {
		return nil, iofs.ErrNotExist
	}
	k := key{objectid: dir.Num, typ: typeDirItem, offset: nameHash(want)}
	var found *dirEntry
	err = f.iterate(t, k, func(it item) (bool, error) {
		if it.key != k {
			return false, nil
		}
		return false, parseDirItems(it.data, it.phys, func(d dirEntry) error {
			if bytes.Equal(d.name, want) {
				c := d
				c.name = want
				found = &c
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, iofs.ErrNotExist
	}
	return f.entryNode(dir, *found)
}

// dirEntries calls fn for each entry of directory dir in index order
// (its DIR_INDEX items), as readdir returns them.
func (f *FS) dirEntries(dir *Inode, fn func(dirEntry) error) error {
	if dir.empty {
		return nil
	}
	t, err := f.tree(dir.Subvol)
	if err != nil {
		return err
	}
	n := 0
	return f.iterate(t, key{objectid: dir.Num, typ: typeDirIndex}, func(it item) (bool, error) {
		if it.key.objectid != dir.Num || it.key.typ != typeDirIndex {
			return false, nil
		}
		if n++; n > maxDirEntries {
			return false, fmt.Errorf("btrfs: %s directory %d: more than %d entries", treeName(dir.Subvol), dir.Num, maxDirEntries)
		}
		return true, parseDirItems(it.data, it.phys, fn)
	})
}

// list returns the entries of directory dir, sorted by name.
func (f *FS) list(dir *Inode) ([]iofs.DirEntry, error) {
	var es []iofs.DirEntry
	err := f.dirEntries(dir, func(d dirEntry) error {
		n, err := f.entryNode(dir, d)
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

// linkTarget returns a symbolic link's target (an inline extent).
func (f *FS) linkTarget(in *Inode) (string, error) {
	if in.Size <= 0 || in.Size > maxLinkTarget {
		return "", fmt.Errorf("btrfs: %s inode %d: symbolic link target of %d bytes", treeName(in.Subvol), in.Num, in.Size)
	}
	c, err := f.contents(in)
	if err != nil {
		return "", err
	}
	b := make([]byte, in.Size)
	if _, err := c.ReadAt(b, 0); err != nil && err != io.EOF {
		return "", err
	}
	return string(b), nil
}

// contents returns a reader of in's contents.
func (f *FS) contents(in *Inode) (*extentReader, error) {
	size := in.Size
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket:
		return &extentReader{f: f, size: 0}, nil
	}
	t, err := f.tree(in.Subvol)
	if err != nil {
		return nil, err
	}
	es, err := f.fileExtents(t, in)
	if err != nil {
		return nil, err
	}
	return &extentReader{f: f, size: size, ext: es}, nil
}

// fileInfo is the FileInfo of an inode. Sys returns the *Inode.
type fileInfo struct{ n *node }

func (i *fileInfo) Name() string       { return i.n.name }
func (i *fileInfo) Size() int64        { return i.n.in.Size }
func (i *fileInfo) ModTime() time.Time { return i.n.in.Mtime }
func (i *fileInfo) IsDir() bool        { return i.n.in.IsDir() }
func (i *fileInfo) Sys() any           { return i.n.in }

func (i *fileInfo) Mode() iofs.FileMode { return fsfile.UnixMode(uint32(i.n.in.Mode)) }
