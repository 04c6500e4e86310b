package ext

import (
	"errors"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// fileMap collects the extents of one inode: its contents (data) and the
// blocks that place them (other: extent tree or indirect blocks, xattr
// block). One fileMap is reused for every inode of a walk.
type fileMap struct {
	f     *FS
	in    *Inode
	path  string // for warnings; may be empty
	warn  func(error)
	data  []bmap.Extent
	other []bmap.Extent
	nblk  uint64 // data blocks mapped so far
	full  bool   // the cap on mapped blocks was hit
	seenL []uint64
	seenM map[uint64]struct{}
	// budget, when set, is the walk's allowance of blocks read for
	// trees and directories (see walker.budget); nil for no limit.
	budget *int64
	bufs   [][]byte // one block buffer per tree level
	// nwarn counts the problems met in this inode (only the first
	// maxInodeWarns are passed on); pastEnd is set when some of its
	// blocks lie past the device's end (a truncated filesystem): those
	// are left out without a warning each; deep when its extent tree is
	// deeper than the format allows.
	nwarn   int
	pastEnd bool
	deep    bool
}

// maxInodeWarns is how many problems of one inode are passed on one by
// one; the rest are summed up in one more warning.
const maxInodeWarns = 4

func (m *fileMap) reset(in *Inode, path string) {
	m.in, m.path = in, path
	m.data, m.other = m.data[:0], m.other[:0]
	m.nblk, m.full = 0, false
	m.nwarn, m.pastEnd, m.deep = 0, false, false
	m.seenL = m.seenL[:0]
	if len(m.seenM) > 0 {
		clear(m.seenM)
	}
}

// what names the inode for a warning.
func (m *fileMap) what() string {
	if m.path == "" {
		return fmt.Sprintf("inode %d", m.in.Num)
	}
	return fmt.Sprintf("inode %d (%s)", m.in.Num, m.path)
}

func (m *fileMap) warnf(off int64, format string, args ...any) {
	m.nwarn++
	if m.warn != nil && m.nwarn <= maxInodeWarns {
		m.warn(&diskerr.FormatError{FS: "ext", Off: off, What: m.what(), Msg: fmt.Sprintf(format, args...)})
	}
}

// seen records a tree block and reports whether it was already recorded
// for this inode: a block met twice in one tree is a loop.
func (m *fileMap) seen(blk uint64) bool {
	if m.seenM == nil && len(m.seenL) < 32 {
		if slices.Contains(m.seenL, blk) {
			return true
		}
		m.seenL = append(m.seenL, blk)
		return false
	}
	if m.seenM == nil {
		m.seenM = make(map[uint64]struct{})
	}
	if len(m.seenL) > 0 {
		for _, b := range m.seenL {
			m.seenM[b] = struct{}{}
		}
		m.seenL = m.seenL[:0]
	}
	if _, ok := m.seenM[blk]; ok {
		return true
	}
	m.seenM[blk] = struct{}{}
	return false
}

// blockOK reports whether n blocks from blk lie inside the filesystem, as
// e2fsck judges block numbers (from s_first_data_block to the end).
func (m *fileMap) blockOK(blk, n uint64) bool {
	sb := m.f.sb
	return blk >= uint64(sb.firstDataBlock) && blk < sb.blocksCount && sb.blocksCount-blk >= n
}

// addData maps n blocks from physical block pblk at logical block lblk.
// It reports false once the inode has mapped more blocks than the
// filesystem has, which only a corrupt inode does.
func (m *fileMap) addData(lblk, pblk, n uint64, unwritten bool) bool {
	if m.full {
		return false
	}
	m.nblk += n
	if m.nblk > m.f.sb.blocksCount {
		m.full = true
		m.warnf(m.in.Off, "maps more blocks than the filesystem's %d; rest ignored", m.f.sb.blocksCount)
		return false
	}
	if dev := m.f.devBlocks; pblk >= dev || dev-pblk < n {
		// Past the device's end: map what is present.
		m.pastEnd = true
		if pblk >= dev {
			return true
		}
		n = dev - pblk
	}
	bs := m.f.bs
	e := bmap.Extent{Off: int64(pblk) * bs, Len: int64(n) * bs, FileOff: int64(lblk) * bs, Role: bmap.RoleData, Unwritten: unwritten}
	if k := len(m.data); k > 0 {
		last := &m.data[k-1]
		if last.FileOff+last.Len == e.FileOff && last.End() == e.Off && last.Unwritten == unwritten {
			last.Len += e.Len
			return true
		}
	}
	m.data = append(m.data, e)
	return true
}

// addOther maps one non-data block with the given role, merging it with
// the previous one of the same role when they are adjacent.
func (m *fileMap) addOther(blk uint64, role bmap.Role) {
	bs := m.f.bs
	e := bmap.Extent{Off: int64(blk) * bs, Len: bs, FileOff: -1, Role: role}
	if k := len(m.other); k > 0 {
		last := &m.other[k-1]
		if last.Role == role && last.End() == e.Off {
			last.Len += bs
			return
		}
	}
	m.other = append(m.other, e)
}

// spend takes n blocks from the walk's budget; it reports false (and
// stops this inode's mapping) once the budget is exhausted.
func (m *fileMap) spend(n int64) bool {
	if m.budget == nil {
		return true
	}
	*m.budget -= n
	if *m.budget < 0 {
		m.full = true
		return false
	}
	return true
}

// readErr handles the failure to read a tree block: past the device's
// end it only marks the inode truncated, otherwise it warns.
func (m *fileMap) readErr(off int64, err error, format string, args ...any) {
	if errors.Is(err, ErrTruncated) {
		m.pastEnd = true
		return
	}
	m.warnf(off, "%s: %v", fmt.Sprintf(format, args...), err)
}

// buf returns the scratch block buffer for tree level l.
func (m *fileMap) buf(l int) []byte {
	for len(m.bufs) <= l {
		m.bufs = append(m.bufs, nil)
	}
	if m.bufs[l] == nil {
		m.bufs[l] = make([]byte, m.f.bs)
	}
	return m.bufs[l]
}

// mapInode maps the inode's contents and the blocks that belong to it.
func (m *fileMap) mapInode() {
	in := m.in
	if in.IsSymlink() && (in.Size >= m.f.bs || in.Size >= maxLinkTarget) {
		// e2fsck's check_symlink: a target is shorter than a block
		// (and PATH_MAX); such a link is cleared by e2fsck.
		m.warnf(in.Off+4, "symbolic link of %d bytes, longer than a block: invalid", in.Size)
	}
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket:
		// i_block holds a device number or nothing: no contents.
	default:
		switch {
		case in.HasInlineData():
			m.inlineData()
		case in.isFastSymlink():
			m.data = append(m.data, bmap.Extent{Off: in.Off + iBlockOff, Len: in.Size, FileOff: 0, Role: bmap.RoleInline})
		case in.HasExtents():
			m.extentTree()
		default:
			m.blockMap()
		}
	}
	m.sortData()
	defer m.finish()
	if acl := in.FileACL; acl != 0 {
		if m.blockOK(acl, 1) && acl >= m.f.devBlocks {
			m.pastEnd = true
		} else if m.blockOK(acl, 1) {
			m.other = append(m.other, bmap.Extent{Off: int64(acl) * m.f.bs, Len: m.f.bs, FileOff: -1, Role: bmap.RoleXattr})
		} else {
			m.warnf(in.Off+0x68, "extended attribute block %d beyond the filesystem", acl)
		}
	}
	if m.f.sb.featureIncompat&incompatEAInode != 0 {
		m.mapEAInodes()
	}
}

// finish sums up the problems of the inode that were not passed on.
func (m *fileMap) finish() {
	if m.nwarn > maxInodeWarns && m.warn != nil {
		m.warn(&diskerr.FormatError{FS: "ext", Off: m.in.Off, What: m.what(), Msg: fmt.Sprintf("and %d more problems in this inode", m.nwarn-maxInodeWarns)})
	}
}

// mapEAInodes maps the inodes holding the values of the inode's large
// extended attributes (feature ea_inode) as RoleXattr: they are reachable
// only through the xattr entries that name them.
func (m *fileMap) mapEAInodes() {
	nums := m.eaInodes()
	if len(nums) == 0 {
		return
	}
	owner, path := m.in, m.path
	sub := &fileMap{f: m.f, warn: m.warn}
	buf := make([]byte, m.f.sb.inodeSize)
	for _, n := range nums {
		if n > m.f.sb.inodesCount || n == owner.Num {
			m.warnf(owner.Off, "xattr value in inode %d, out of range", n)
			continue
		}
		var ea Inode
		if err := m.f.readInode(n, &ea, buf); err != nil {
			m.warnf(owner.Off, "xattr value inode %d: %v", n, err)
			continue
		}
		if ea.Flags&flagEAInode == 0 || !ea.IsRegular() {
			m.warnf(ea.Off, "xattr value inode %d is not an EA inode (flags %#x)", n, ea.Flags)
			continue
		}
		sub.reset(&ea, fmt.Sprintf("%s xattr value", path))
		if ea.HasExtents() {
			sub.extentTree()
		} else {
			sub.blockMap()
		}
		for _, x := range append(sub.data, sub.other...) {
			if x.Role == bmap.RoleInline {
				continue
			}
			m.other = append(m.other, bmap.Extent{Off: x.Off, Len: x.Len, FileOff: -1, Role: bmap.RoleXattr})
		}
	}
}

// sortData sorts the data extents by FileOff if a damaged tree left them
// out of order, and merges runs that became adjacent.
func (m *fileMap) sortData() {
	sorted := true
	for i := 1; i < len(m.data); i++ {
		if m.data[i].FileOff < m.data[i-1].FileOff {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	slices.SortStableFunc(m.data, func(a, b bmap.Extent) int {
		switch {
		case a.FileOff < b.FileOff:
			return -1
		case a.FileOff > b.FileOff:
			return 1
		}
		return 0
	})
	out := m.data[:1]
	for _, e := range m.data[1:] {
		last := &out[len(out)-1]
		if last.FileOff+last.Len == e.FileOff && last.End() == e.Off && last.Unwritten == e.Unwritten && last.Role == e.Role {
			last.Len += e.Len
			continue
		}
		out = append(out, e)
	}
	m.data = out
}

// extents returns a fresh slice with the data extents then the others.
func (m *fileMap) extents() []bmap.Extent {
	if len(m.data)+len(m.other) == 0 {
		return nil
	}
	return m.appendExtents(make([]bmap.Extent, 0, len(m.data)+len(m.other)))
}

// appendExtents appends the contents extents, then the others, to dst:
// Walk reuses one buffer for every entry instead of allocating one each.
func (m *fileMap) appendExtents(dst []bmap.Extent) []bmap.Extent {
	dst = append(dst, m.data...)
	return append(dst, m.other...)
}

// Extents returns the extents of inode in: its contents sorted by file
// offset, then its extent tree or indirect blocks and its extended
// attribute block. Problems met on the way are joined into the error;
// the extents that could be mapped are returned with it.
func (f *FS) Extents(in *Inode) ([]bmap.Extent, error) {
	var errs []error
	m := &fileMap{f: f, warn: func(err error) { errs = append(errs, err) }}
	m.reset(in, "")
	m.mapInode()
	return m.extents(), errors.Join(errs...)
}
