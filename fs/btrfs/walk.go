package btrfs

import (
	"errors"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// maxDepth caps the directory nesting Walk follows.
const maxDepth = 4096

// Walk calls fn for the metadata, then for every directory, file and
// symbolic link reachable from the top-level subvolume (id 5), each
// directory before its contents. Subvolumes appear where the kernel
// mounted with subvolid=5 shows them ("/root/etc/os-release" for
// Fedora's root subvolume), so every subvolume and snapshot linked into
// the tree is mapped; a snapshot's stale entry for a nested subvolume is
// an empty directory, as in the kernel.
//
// Metadata entries (bmap.KindMeta, bmap.RoleMeta): "superblock" and
// "superblock copy N" (those inside the device), then one entry per tree
// with every block of it, both copies for DUP: "chunk tree", "root
// tree", "log tree" when there is one, and each tree the root tree lists
// ("extent tree", "fs tree 256", "csum tree"...). Blocks shared by a
// snapshot and its source are reported under both trees.
//
// Directories have no extents of their own: their entries are items in
// their subvolume's tree, reported with it. A file's data extents are
// its disk extents mapped through the chunk tree, with FileOff the
// offset in the file (every copy of a DUP data chunk is reported);
// preallocated extents are Unwritten; a compressed extent is reported
// whole (its disk bytes, FileOff where the file's first byte from it
// is); holes are absent; an inline extent (small files, symbolic links)
// is bmap.RoleInline at its bytes inside the leaf. Extents shared with
// other files (reflinks, snapshots) are reported for each file.
//
// Damage is reported through SetWarn and skipped; Walk returns fn's
// error, or an error when the top-level subvolume cannot be read.
func (f *FS) Walk(fn func(fs.Entry) error) error {
	if !csumSupported(f.sb.csumType) {
		f.warnErr(&diskerr.FormatError{FS: "btrfs", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("%s checksums are not verified", csumName(f.sb.csumType))})
	}
	for i, off := range superblockCopies {
		if off+superblockSize > f.size {
			break
		}
		name := "superblock"
		if i > 0 {
			name = fmt.Sprintf("superblock copy %d", i)
		}
		if err := fn(fs.Entry{Kind: bmap.KindMeta, Path: name, Extents: []bmap.Extent{{Off: off, Len: superblockSize, FileOff: -1, Role: bmap.RoleMeta}}}); err != nil {
			return err
		}
	}
	trees := []treeRoot{{id: chunkTreeID, bytenr: f.sb.chunkRoot, level: f.sb.chunkLevel}, f.rootTree}
	if f.sb.logRoot != 0 {
		trees = append(trees, treeRoot{id: treeLogID, bytenr: f.sb.logRoot, level: f.sb.logLevel})
	}
	err := f.iterate(f.rootTree, key{}, func(it item) (bool, error) {
		if it.key.typ != typeRootItem {
			return true, nil
		}
		r, err := parseRootItem(it.data, it.key.objectid, it.phys)
		if err != nil {
			f.warnErr(err)
			return true, nil
		}
		if n := len(trees); n > 0 && trees[n-1].id == it.key.objectid {
			trees[n-1] = treeRoot{id: it.key.objectid, bytenr: r.bytenr, level: r.level}
		} else {
			trees = append(trees, treeRoot{id: it.key.objectid, bytenr: r.bytenr, level: r.level})
		}
		return true, nil
	})
	if err != nil {
		f.warnErr(fmt.Errorf("listing the trees: %w", err))
	}
	var out []bmap.Extent
	for _, t := range trees {
		out = out[:0]
		err := f.walkBlocks(t, func(logical uint64, level uint8) {
			cs, err := f.physCopies(logical, uint64(f.sb.nodeSize))
			if err != nil {
				f.warnErr(fmt.Errorf("btrfs: %s: %s at logical %#x: %w", treeName(t.id), kindName(level), logical, err))
				return
			}
			for _, c := range cs {
				out = append(out, bmap.Extent{Off: c, Len: int64(f.sb.nodeSize), FileOff: -1, Role: bmap.RoleMeta})
			}
		}, func(item) (bool, error) { return true, nil })
		if err != nil {
			f.warnErr(err)
		}
		if len(out) > 0 {
			if err := fn(fs.Entry{Kind: bmap.KindMeta, Path: treeName(t.id), Extents: out}); err != nil {
				return err
			}
		}
	}
	return f.walkFiles(fn)
}

type walkDir struct {
	in    *Inode
	path  string
	depth int
}

// errStop carries fn's error out of a directory iteration.
type errStop struct{ err error }

func (e *errStop) Error() string { return e.err.Error() }

// walkFiles walks the directory tree from the top-level subvolume.
func (f *FS) walkFiles(fn func(fs.Entry) error) error {
	root, err := f.subvolRoot(fsTreeID)
	if err != nil {
		return fmt.Errorf("btrfs: top-level subvolume: %w", err)
	}
	visited := map[[2]uint64]bool{}
	stack := []walkDir{{in: root, path: "/"}}
	var out []bmap.Extent
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := [2]uint64{d.in.Subvol, d.in.Num}
		if !d.in.empty {
			if visited[k] {
				f.warnErr(fmt.Errorf("btrfs: %s directory %d (%s) reached twice; skipped", treeName(d.in.Subvol), d.in.Num, d.path))
				continue
			}
			visited[k] = true
		}
		if err := fn(fs.Entry{Kind: bmap.KindDir, Path: d.path, Inode: d.in.Num, Size: d.in.Size}); err != nil {
			return err
		}
		var kids []walkDir
		err := f.dirEntries(d.in, func(de dirEntry) error {
			p := d.path + string(de.name)
			if d.path != "/" {
				p = d.path + "/" + string(de.name)
			}
			n, err := f.entryNode(d.in, de)
			if err != nil {
				f.warnErr(fmt.Errorf("%s: %w", p, err))
				return nil
			}
			in := n.in
			if in.IsDir() {
				if d.depth+1 > maxDepth {
					f.warnErr(fmt.Errorf("btrfs: %s: nested deeper than %d; skipped", p, maxDepth))
					return nil
				}
				kids = append(kids, walkDir{in: in, path: p, depth: d.depth + 1})
				return nil
			}
			out, err = f.fileMap(in, out[:0])
			if err != nil {
				f.warnErr(fmt.Errorf("%s: %w", p, err))
			}
			if err := fn(fs.Entry{Kind: bmap.KindFile, Path: p, Inode: in.Num, Size: in.Size, Symlink: in.IsSymlink(), Extents: out}); err != nil {
				return &errStop{err}
			}
			return nil
		})
		var st *errStop
		if errors.As(err, &st) {
			return st.err
		}
		if err != nil {
			f.warnErr(fmt.Errorf("%s: %w", d.path, err))
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, kids[i])
		}
	}
	return nil
}

// fileMap appends the extents of in's contents to out, sorted by file
// offset (see Walk).
func (f *FS) fileMap(in *Inode, out []bmap.Extent) ([]bmap.Extent, error) {
	switch in.Mode & modeTypeMask {
	case modeReg, modeSymlink:
	default:
		return out, nil
	}
	t, err := f.tree(in.Subvol)
	if err != nil {
		return out, err
	}
	es, err := f.fileExtents(t, in)
	if err != nil {
		return out, err
	}
	var errs []error
	for i := range es {
		e := &es[i]
		var logical, n uint64
		role := bmap.RoleData
		switch {
		case e.typ == extInline:
			if len(e.inline) == 0 {
				continue
			}
			logical, n, role = e.inlineLeaf+uint64(e.inlineOff), uint64(len(e.inline)), bmap.RoleInline
		case e.hole():
			continue
		case e.comp != compNone:
			logical, n = e.diskBytenr, e.diskNum
		default:
			logical, n = e.diskBytenr+e.offset, e.length
		}
		cs, err := f.physCopies(logical, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("extent at file offset %d: %w", e.fileOff, err))
			continue
		}
		for _, c := range cs {
			out = append(out, bmap.Extent{Off: c, Len: int64(n), FileOff: int64(e.fileOff), Role: role, Unwritten: e.typ == extPrealloc})
		}
	}
	slices.SortStableFunc(out, func(a, b bmap.Extent) int { return int(min(max(a.FileOff-b.FileOff, -1), 1)) })
	return out, errors.Join(errs...)
}
