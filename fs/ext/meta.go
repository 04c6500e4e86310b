package ext

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
)

// hasSuper reports whether group g holds a superblock (and, outside
// meta_bg, a copy of the group descriptors), as e2fsprogs'
// ext2fs_bg_has_super decides: group 0 always; with sparse_super2 only
// the two groups named in s_backup_bgs; with sparse_super groups 0, 1 and
// powers of 3, 5 and 7; without it every group.
func (f *FS) hasSuper(g uint64) bool {
	sb := f.sb
	if g == 0 {
		return true
	}
	if sb.featureCompat&compatSparseSuper2 != 0 {
		return g == uint64(sb.backupBGs[0]) || g == uint64(sb.backupBGs[1])
	}
	if g <= 1 || sb.featureROCompat&roCompatSparseSuper == 0 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	return isPower(g, 3) || isPower(g, 5) || isPower(g, 7)
}

func isPower(g, base uint64) bool {
	n := base
	for n < g {
		n *= base
	}
	return n == g
}

// metaEntry builds a KindMeta entry of blocks [blk, blk+n).
func (f *FS) metaEntry(name string, blk, n uint64) fs.Entry {
	return fs.Entry{Kind: bmap.KindMeta, Path: name, Extents: []bmap.Extent{{Off: int64(blk) * f.bs, Len: int64(n) * f.bs, FileOff: -1, Role: bmap.RoleMeta}}}
}

// clampBlocks trims [blk, blk+n) to the filesystem; ok is false if
// nothing is left. It clamps to the filesystem
// and to the device (a truncated filesystem maps what is present).
func (f *FS) clampBlocks(blk, n uint64) (uint64, bool) {
	end := min(f.sb.blocksCount, f.devBlocks)
	if blk >= end {
		return 0, false
	}
	return min(n, end-blk), n > 0
}

// walkMeta reports the metadata structures, group by group, then the
// journal, the resize inode and the other special inodes.
func (f *FS) walkMeta(fn func(fs.Entry) error, m *fileMap) error {
	sb := f.sb
	dpb := f.descPerBlock()
	descBlocks := f.descBlocks()
	metaBG := sb.hasMetaBG()
	// Outside meta_bg every backup holds the whole table; with meta_bg
	// the groups of the first s_first_meta_bg meta groups hold that many
	// descriptor blocks, the old way.
	oldDesc := descBlocks
	if metaBG {
		oldDesc = min(uint64(sb.firstMetaBG), descBlocks)
	}
	emit := func(name string, blk, n uint64) error {
		if n, ok := f.clampBlocks(blk, n); ok {
			return fn(f.metaEntry(name, blk, n))
		}
		return nil
	}
	for g := uint64(0); g < f.ngroups; g++ {
		gb := f.groupFirstBlock(g) + f.groupZeroAdjust(g)
		super := f.hasSuper(g)
		if g == 0 {
			// The primary superblock: byte 1024 to the end of its block.
			end := int64(2048)
			if f.bs > 1024 {
				end = f.bs
			}
			if err := fn(fs.Entry{Kind: bmap.KindMeta, Path: "superblock", Extents: []bmap.Extent{{Off: superblockOff, Len: end - superblockOff, FileOff: -1, Role: bmap.RoleMeta}}}); err != nil {
				return err
			}
			e := fs.Entry{Kind: bmap.KindMeta, Path: "group descriptors"}
			for _, b := range f.gdtBlocks {
				if _, ok := f.clampBlocks(b, 1); ok {
					e.Extents = appendRun(e.Extents, int64(b)*f.bs, f.bs)
				}
			}
			if err := fn(e); err != nil {
				return err
			}
			if !metaBG && sb.reservedGDT > 0 {
				if err := emit("reserved GDT blocks", gb+1+descBlocks, uint64(sb.reservedGDT)); err != nil {
					return err
				}
			}
		} else {
			if super {
				if err := emit(fmt.Sprintf("superblock backup (group %d)", g), gb, 1); err != nil {
					return err
				}
			}
			mg := g / dpb
			if !metaBG || mg < uint64(sb.firstMetaBG) {
				if super {
					if err := emit(fmt.Sprintf("group descriptors backup (group %d)", g), gb+1, oldDesc); err != nil {
						return err
					}
					if !metaBG && sb.reservedGDT > 0 {
						if err := emit(fmt.Sprintf("reserved GDT blocks backup (group %d)", g), gb+1+descBlocks, uint64(sb.reservedGDT)); err != nil {
							return err
						}
					}
				}
			} else if r := g % dpb; r == 1 || r == dpb-1 {
				if err := emit(fmt.Sprintf("group descriptors backup (group %d)", g), gb+boolU64(super), 1); err != nil {
					return err
				}
			}
		}
		// A structure a damaged descriptor places where it cannot be
		// is not mapped (New warned about it).
		gd := f.groups[g]
		if gd.lost&lostBlockBitmap == 0 {
			if err := emit(fmt.Sprintf("group %d block bitmap", g), gd.blockBitmap, 1); err != nil {
				return err
			}
		}
		if gd.lost&lostInodeBitmap == 0 {
			if err := emit(fmt.Sprintf("group %d inode bitmap", g), gd.inodeBitmap, 1); err != nil {
				return err
			}
		}
		if gd.lost&(lostInodeTable|lostPastEnd) != lostInodeTable {
			if err := emit(fmt.Sprintf("group %d inode table", g), gd.inodeTable, f.inodeTableBlocks()); err != nil {
				return err
			}
		}
	}
	// Special inodes whose blocks are metadata.
	specials := []struct {
		name string
		ino  uint32
		on   bool
	}{
		{"bad blocks", badBlocksIno, true},
		{"boot loader", bootLoaderIno, true},
		{"resize inode", resizeIno, sb.featureCompat&compatResizeInode != 0},
		{"journal", sb.journalInum, sb.featureCompat&compatHasJournal != 0 && sb.journalDev == 0},
		{"quota (user)", sb.usrQuotaInum, sb.featureROCompat&roCompatQuota != 0},
		{"quota (group)", sb.grpQuotaInum, sb.featureROCompat&roCompatQuota != 0},
		{"quota (project)", sb.prjQuotaInum, sb.featureROCompat&roCompatQuota != 0},
		{"orphan file", sb.orphanFileInum, sb.featureCompat&compatOrphanFile != 0},
	}
	for _, s := range specials {
		if !s.on || s.ino == 0 || s.ino > sb.inodesCount {
			continue
		}
		var in Inode
		buf := make([]byte, sb.inodeSize)
		if err := f.readInode(s.ino, &in, buf); err != nil {
			f.warnErr(fmt.Errorf("%s: %w", s.name, err))
			continue
		}
		m.reset(&in, s.name)
		m.mapInode()
		// Metadata has no file offsets: the blocks sorted by place and
		// merged (the resize inode's blocks interleave across groups).
		var runs []bmap.Extent
		for _, x := range m.data {
			if x.Role != bmap.RoleInline {
				runs = append(runs, x)
			}
		}
		runs = append(runs, m.other...)
		slices.SortFunc(runs, func(a, b bmap.Extent) int { return cmp.Compare(a.Off, b.Off) })
		e := fs.Entry{Kind: bmap.KindMeta, Path: s.name, Inode: uint64(s.ino)}
		for _, x := range runs {
			e.Extents = appendRun(e.Extents, x.Off, x.Len)
		}
		if len(e.Extents) == 0 {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func boolU64(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// appendRun appends a RoleMeta run, merging it with the previous one when
// adjacent.
func appendRun(es []bmap.Extent, off, n int64) []bmap.Extent {
	if k := len(es); k > 0 && es[k-1].End() >= off {
		es[k-1].Len = max(es[k-1].End(), off+n) - es[k-1].Off
		return es
	}
	return append(es, bmap.Extent{Off: off, Len: n, FileOff: -1, Role: bmap.RoleMeta})
}
