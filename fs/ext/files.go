package ext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"sort"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: *FS implements io/fs's FS, ReadDirFS, StatFS and
// ReadLinkFS, so that callers read files by path (fs.ReadFile,
// fs.ReadDir, fs.WalkDir, fs.Glob) without mounting. Names are
// case-sensitive, as on Linux. Open and Stat follow symbolic links
// (absolute targets from the filesystem's root, at most fsfile.MaxLinkHops of
// them); Lstat and ReadLink do not. Device files, FIFOs and sockets open
// as empty files. Files are read through their extents (or block map),
// holes and unwritten extents reading as zeros, inline data from the
// inode.
var (
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

// Limits on path resolution and directory listing.
const (
	maxLinkTarget = 4096    // bytes of a symbolic link's target (PATH_MAX)
	maxDirEntries = 1 << 20 // entries a directory listing returns
	maxDirBytes   = 1 << 30 // bytes of a directory read for a listing or lookup
)

// errNotDir is returned when a path goes through something that is not a
// directory.
var errNotDir = fsfile.ErrNotDir

// node is a resolved inode with the name it was reached by.
type node struct {
	name  string
	in    *Inode
	mtime time.Time
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

// loadNode reads inode ino, reached by name.
func (f *FS) loadNode(ino uint32, name string) (*node, error) {
	buf := make([]byte, f.sb.inodeSize)
	in := new(Inode)
	if err := f.readInode(ino, in, buf); err != nil {
		return nil, err
	}
	in.extra = append([]byte(nil), in.extra...)
	return &node{name: name, in: in, mtime: inodeMtime(buf)}, nil
}

// inodeMtime decodes i_mtime, with its extra epoch bits and nanoseconds
// when the inode's extra space holds i_mtime_extra.
func inodeMtime(b []byte) time.Time {
	le := binary.LittleEndian
	sec := int64(int32(le.Uint32(b[0x10:])))
	var nsec int64
	if len(b) >= 0x8C && 128+int(le.Uint16(b[0x80:])) >= 0x8C {
		x := le.Uint32(b[0x88:])
		sec += int64(x&3) << 32
		nsec = int64(x >> 2)
		if nsec > 999999999 {
			nsec = 0
		}
	}
	return time.Unix(sec, nsec).UTC()
}

// dataExtents returns the extents holding in's contents, sorted by file
// offset. A damaged map is an error: reading a file with missing pieces
// as zeros would be a lie.
func (f *FS) dataExtents(in *Inode) ([]bmap.Extent, error) {
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket:
		return nil, nil
	}
	var errs []error
	m := &fileMap{f: f, warn: func(err error) { errs = append(errs, err) }}
	m.reset(in, "")
	m.mapInode()
	if m.pastEnd {
		errs = append(errs, tag(&diskerr.FormatError{FS: "ext", Off: in.Off, What: fmt.Sprintf("inode %d", in.Num), Msg: "contents run past the device's end (truncated filesystem)"}, ErrTruncated))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return slices.Clone(m.data), nil
}

// linkTarget returns a symbolic link's target.
func (f *FS) linkTarget(in *Inode) (string, error) {
	if in.Size <= 0 || in.Size > maxLinkTarget {
		return "", &diskerr.FormatError{FS: "ext", Off: in.Off, What: fmt.Sprintf("inode %d", in.Num), Msg: fmt.Sprintf("symbolic link target of %d bytes", in.Size)}
	}
	if in.isFastSymlink() {
		return string(in.Block[:in.Size]), nil
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
func (f *FS) contents(in *Inode) (*fsfile.Extents, error) {
	es, err := f.dataExtents(in)
	if err != nil {
		return nil, err
	}
	size := in.Size
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket:
		size = 0
	}
	return &fsfile.Extents{R: f.r, Size: size, Ext: es}, nil
}

// lookup finds name in directory in and returns its inode number.
func (f *FS) lookup(in *Inode, name string) (uint32, error) {
	var found uint32
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

var errFound = errors.New("found")

// scanDir calls fn for every entry of directory in, "." and ".."
// excluded. A malformed block is an error.
func (f *FS) scanDir(in *Inode, fn func(dirent) error) error {
	filetype := f.sb.hasFiletype()
	if in.HasInlineData() {
		m := &fileMap{f: f}
		m.reset(in, "")
		a, aOff, b, bOff := m.inlineDirParts()
		if err := parseDirBlock(a, aOff, filetype, f.bs, fn); err != nil {
			return err
		}
		if b != nil {
			return parseDirBlock(b, bOff, filetype, f.bs, fn)
		}
		return nil
	}
	c, err := f.contents(in)
	if err != nil {
		return err
	}
	size := min(c.Size, maxDirBytes)
	buf := make([]byte, f.bs)
	for off := int64(0); off+f.bs <= size; off += f.bs {
		if _, err := c.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
		if !c.Mapped(off) {
			continue // a hole in a directory: no entries
		}
		if err := parseDirBlock(buf, c.DiskOff(off), filetype, f.bs, fn); err != nil {
			return err
		}
	}
	return nil
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

// fileInfo is the FileInfo of an inode. Sys returns the inode number as
// a uint64.
type fileInfo struct{ n *node }

func (i *fileInfo) Name() string       { return i.n.name }
func (i *fileInfo) Size() int64        { return i.n.in.Size }
func (i *fileInfo) ModTime() time.Time { return i.n.mtime }
func (i *fileInfo) IsDir() bool        { return i.n.in.IsDir() }
func (i *fileInfo) Sys() any           { return uint64(i.n.in.Num) }

func (i *fileInfo) Mode() iofs.FileMode { return fsfile.UnixMode(uint32(i.n.in.Mode)) }
