package xfs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// maxDepth caps the directory nesting Walk follows.
const maxDepth = 4096

// errBudget stops a walk whose budget is exhausted (see walker.budget).
var errBudget = errors.New("xfs: walk stopped after reading more blocks of btrees and directories than the filesystem holds four times over: blocks shared between many inodes")

// walkBudget is the budget of a walk over a filesystem of n blocks: a
// sound filesystem reads each btree and directory block once (twice for a
// hard-linked file's tree), so four times the blocks plus a margin bounds
// the work on a damaged one. A variable so that a test can lower it.
var walkBudget = func(n uint64) int64 { return int64(min(n, 1<<60)*4) + 1<<16 }

// freeLinkExtents is how many extents a hard link's cached copy may have
// before reporting it again is charged to the budget.
const freeLinkExtents = 16

type dirItem struct {
	ino   uint64
	depth int
	path  string
}

// walker is the state of one Walk.
type walker struct {
	f       *FS
	fn      func(fs.Entry) error
	err     error // fn's error
	m       mapper
	in      Inode
	ibuf    []byte
	out     []bmap.Extent
	dirExt  []bmap.Extent
	visited map[uint64]struct{}
	links   map[uint64][]bmap.Extent
	stack   []dirItem
	kids    []dirItem
	parent  dirItem
	budget  int64
}

// errStop ends a directory parse when fn returned an error (kept in
// walker.err).
var errStop = errors.New("xfs: walk stopped")

// Walk calls fn for the metadata (each AG's header sectors, btrees and
// inode chunks, the internal log, the realtime and quota inodes), then for
// the root directory and every directory, file and symbolic link reachable
// from it, each directory before its contents. See the package
// documentation for the extents reported. Damage is reported through the
// SetWarn function and skipped; Walk returns fn's error, or an error when
// the root directory cannot be read or the walk's budget is exhausted.
func (f *FS) Walk(fn func(fs.Entry) error) error {
	w := &walker{
		f:       f,
		fn:      fn,
		ibuf:    make([]byte, f.sb.inodeSize),
		visited: make(map[uint64]struct{}),
		links:   make(map[uint64][]bmap.Extent),
		budget:  walkBudget(f.sb.dblocks),
	}
	w.m = mapper{f: f, budget: &w.budget}
	if f.sb.v5() && !f.sb.crcOK {
		f.warnErr(&diskerr.FormatError{FS: "xfs", Off: sbCRCOff, What: "superblock", Msg: "CRC mismatch (the walk goes on)"})
	}
	if f.sb.v5() && f.sb.incompat&incompatNeedsRepair != 0 {
		f.warnErr(&diskerr.FormatError{FS: "xfs", Off: 216, What: "superblock", Msg: "needsrepair is set: xfs_repair did not finish (the walk goes on)"})
	}
	if err := w.meta(); err != nil {
		return err
	}
	if err := f.readInode(f.sb.rootIno, &w.in, w.ibuf); err != nil {
		return fmt.Errorf("root directory: %w", err)
	}
	if !w.in.IsDir() {
		return inodeErr(f.sb.rootIno, w.in.Off, "root is not a directory (mode %#o)", w.in.Mode)
	}
	w.stack = append(w.stack, dirItem{ino: f.sb.rootIno, path: "/"})
	for len(w.stack) > 0 {
		d := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if err := w.dir(d); err != nil {
			return err
		}
	}
	return nil
}

// meta reports the AGs' metadata, the log and the special inodes.
func (w *walker) meta() error {
	f := w.f
	for agno := range f.sb.agCount {
		if err := f.agMeta(agno, &w.budget, w.fn); err != nil {
			return err
		}
	}
	if f.sb.logStart != 0 {
		if off, err := f.fsbRun(f.sb.logStart, uint64(f.sb.logBlocks)); err != nil {
			f.warnErr(&diskerr.FormatError{FS: "xfs", Off: 48, What: "superblock log", Msg: err.Error()})
		} else if err := w.fn(metaEntry("log", 0, off, int64(f.sb.logBlocks)*f.bs)); err != nil {
			return err
		}
	}
	specials := []struct {
		name string
		ino  uint64
	}{
		{"realtime bitmap", f.sb.rbmIno},
		{"realtime summary", f.sb.rsumIno},
		{"quota (user)", f.sb.uquotIno},
		{"quota (group)", f.sb.gquotIno},
		{"quota (project)", f.sb.pquotIno},
	}
	for _, s := range specials {
		if s.ino == 0 || s.ino == 1<<64-1 {
			continue
		}
		var in Inode
		if err := f.readInode(s.ino, &in, w.ibuf); err != nil {
			f.warnErr(fmt.Errorf("%s: %w", s.name, err))
			continue
		}
		if in.Format != fmtExtents && in.Format != fmtBtree {
			continue
		}
		if err := w.m.mapInode(&in); err != nil {
			if err == errBudget {
				return err
			}
			f.warnErr(fmt.Errorf("%s: %w", s.name, err))
			continue
		}
		runs := append(slices.Clone(w.m.m.data), w.m.m.index...)
		slices.SortFunc(runs, func(a, b bmap.Extent) int { return cmp.Compare(a.Off, b.Off) })
		e := fs.Entry{Kind: bmap.KindMeta, Path: s.name, Inode: s.ino}
		for _, x := range runs {
			e.Extents = appendRun(e.Extents, x.Off, x.Len)
		}
		if len(e.Extents) == 0 {
			continue
		}
		if err := w.fn(e); err != nil {
			return err
		}
	}
	return nil
}

// warnAt passes on an error about inode ino (at path), naming the path.
func (w *walker) warnAt(ino uint64, path string, err error) {
	var fe *diskerr.FormatError
	if errors.As(err, &fe) {
		c := *fe
		c.What += " (" + path + ")"
		w.f.warnErr(&c)
		return
	}
	w.f.warnErr(fmt.Errorf("xfs: inode %d (%s): %w", ino, path, err))
}

// extents appends the mapped data then the btree blocks to w.out[:0].
func (w *walker) extents() []bmap.Extent {
	w.out = append(w.out[:0], w.m.m.data...)
	w.out = append(w.out, w.m.m.index...)
	return w.out
}

// dir reports directory d, reads its entries, reports its files and
// queues its subdirectories.
func (w *walker) dir(d dirItem) error {
	f := w.f
	if _, ok := w.visited[d.ino]; ok {
		off, _ := f.inodeOff(d.ino)
		w.warnAt(d.ino, d.path, inodeErr(d.ino, off, "directory reached twice (a loop or a hard-linked directory); skipped"))
		return nil
	}
	w.visited[d.ino] = struct{}{}
	in := &w.in
	if err := f.readInode(d.ino, in, w.ibuf); err != nil {
		w.warnAt(d.ino, d.path, err)
		return nil
	}
	if !in.IsDir() {
		return nil
	}
	if err := w.m.mapInode(in); err != nil {
		if err == errBudget {
			return err
		}
		w.warnAt(d.ino, d.path, err)
		return nil
	}
	if err := w.fn(fs.Entry{Kind: bmap.KindDir, Path: d.path, Inode: d.ino, Size: in.Size, Extents: w.extents()}); err != nil {
		return err
	}
	w.parent = d
	w.kids = w.kids[:0]
	if in.Format == fmtLocal {
		if _, err := parseShortform(in.fork[:in.Size], in.forkOff, in.Num, f.sb.hasFtype(), w.entry); err != nil && w.err == nil {
			w.warnAt(d.ino, d.path, err)
		}
	} else {
		// The entries' inodes are mapped with w.m: keep the directory's
		// extents apart.
		w.dirExt = append(w.dirExt[:0], w.m.m.data...)
		err := f.dirBlocks(in, w.dirExt, &w.budget, func(dblk int64, b []byte, off int64) error {
			err := f.parseDataBlock(b, off, d.ino, dblk, w.entry)
			if err != nil && w.err == nil && err != errBudget {
				w.warnAt(d.ino, d.path, err) // the rest of the block is skipped
				return nil
			}
			return err
		})
		if err == errBudget {
			return err
		}
		if err != nil && w.err == nil {
			w.warnAt(d.ino, d.path, err)
		}
	}
	if w.err != nil {
		return w.err
	}
	for i := len(w.kids) - 1; i >= 0; i-- {
		w.stack = append(w.stack, w.kids[i])
	}
	return nil
}

// entry handles one entry of the directory w.parent: a subdirectory is
// queued, anything else is reported at once.
func (w *walker) entry(de dirent) error {
	f := w.f
	d := w.parent
	path := d.path + "/" + string(de.name)
	if d.path == "/" {
		path = "/" + string(de.name)
	}
	var in Inode
	if err := f.readInode(de.ino, &in, w.ibuf); err != nil {
		w.warnAt(de.ino, path, err)
		return nil
	}
	if de.ftype != ftUnknown && f.sb.hasFtype() && de.ftype != modeToFtype(in.Mode) {
		w.warnAt(de.ino, path, inodeErr(de.ino, in.Off, "directory entry's file type %d does not match the inode's mode %#o (the inode is trusted)", de.ftype, in.Mode))
	}
	if in.IsDir() {
		if d.depth+1 > maxDepth {
			w.warnAt(de.ino, path, inodeErr(de.ino, in.Off, "directory nested deeper than %d; skipped", maxDepth))
			return nil
		}
		w.kids = append(w.kids, dirItem{ino: de.ino, depth: d.depth + 1, path: path})
		return nil
	}
	e := fs.Entry{Kind: bmap.KindFile, Path: path, Inode: de.ino, Size: in.Size, Symlink: in.IsSymlink()}
	if in.Nlink > 1 {
		if ext, ok := w.links[de.ino]; ok {
			if w.budget -= int64(max(0, len(ext)-freeLinkExtents)); w.budget < 0 {
				w.err = errBudget
				return errStop
			}
			e.Extents = ext
			return w.emit(e)
		}
	}
	if err := w.m.mapInode(&in); err != nil {
		if err == errBudget {
			w.err = err
			return errStop
		}
		w.warnAt(de.ino, path, err)
		return nil
	}
	e.Extents = w.extents()
	if in.Nlink > 1 {
		w.links[de.ino] = slices.Clone(e.Extents)
	}
	return w.emit(e)
}

func (w *walker) emit(e fs.Entry) error {
	if err := w.fn(e); err != nil {
		w.err = err
		return errStop
	}
	return nil
}

// modeToFtype gives the directory entry file type of a mode.
func modeToFtype(mode uint16) uint8 {
	switch mode & modeTypeMask {
	case modeReg:
		return ftReg
	case modeDir:
		return ftDir
	case modeChar:
		return 3
	case modeBlock:
		return 4
	case modeFIFO:
		return 5
	case modeSocket:
		return 6
	case modeSymlink:
		return ftSymlink
	}
	return ftUnknown
}
