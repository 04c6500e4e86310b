package ext

import (
	"encoding/binary"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// Block-map (ext2/ext3) layout of i_block: 12 direct pointers, then the
// single, double and triple indirect blocks.
const (
	nDirect   = 12
	indIndex  = 12
	dindIndex = 13
	tindIndex = 14
)

// indirectRole is the role of a block of pointers that is level levels
// above the data: 1 RoleIndirect, 2 RoleDIndirect, 3 RoleTIndirect.
func indirectRole(level int) bmap.Role {
	switch level {
	case 1:
		return bmap.RoleIndirect
	case 2:
		return bmap.RoleDIndirect
	}
	return bmap.RoleTIndirect
}

// blockMap maps a block-mapped inode: direct pointers, then the indirect
// trees. A zero pointer is a hole.
func (m *fileMap) blockMap() {
	le := binary.LittleEndian
	b := m.in.Block[:]
	for i := uint64(0); i < nDirect; i++ {
		p := uint64(le.Uint32(b[i*4:]))
		if p == 0 {
			continue
		}
		if !m.blockOK(p, 1) {
			m.warnf(m.in.Off+iBlockOff+int64(i*4), "block pointer %d (file block %d) outside the filesystem", p, i)
			continue
		}
		if !m.addData(i, p, 1, false) {
			return
		}
	}
	per := uint64(m.f.bs / 4)
	base := uint64(nDirect)
	span := per
	for level := 1; level <= 3; level++ {
		idx := indIndex + level - 1
		p := uint64(le.Uint32(b[idx*4:]))
		m.indirect(p, level, base, m.in.Off+iBlockOff+int64(idx*4))
		if m.full {
			return
		}
		base += span
		span *= per
	}
}

// indirect maps the indirect block blk, level levels above the data,
// whose first pointer maps logical block base; ptrOff is where the
// pointer to blk was read (for warnings).
func (m *fileMap) indirect(blk uint64, level int, base uint64, ptrOff int64) {
	if blk == 0 {
		return
	}
	if !m.blockOK(blk, 1) {
		m.warnf(ptrOff, "%s block pointer %d (file block %d) outside the filesystem", indirectRole(level), blk, base)
		return
	}
	if m.seen(blk) {
		m.warnf(ptrOff, "%s block %d met twice", indirectRole(level), blk)
		return
	}
	buf := m.buf(level)
	off := int64(blk) * m.f.bs
	if !m.spend(1) {
		return
	}
	if err := m.f.readBlocks(buf, blk, 1); err != nil {
		m.readErr(off, err, "reading %s block %d", indirectRole(level), blk)
		return
	}
	m.addOther(blk, indirectRole(level))
	le := binary.LittleEndian
	per := uint64(len(buf) / 4)
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= per
	}
	for i := uint64(0); i < per; i++ {
		p := uint64(le.Uint32(buf[i*4:]))
		if p == 0 {
			continue
		}
		if level > 1 {
			m.indirect(p, level-1, base+i*span, off+int64(i*4))
			// m.buf(level) is not touched by lower levels.
		} else {
			if !m.blockOK(p, 1) {
				m.warnf(off+int64(i*4), "block pointer %d (file block %d) outside the filesystem", p, base+i)
				continue
			}
			if !m.addData(base+i, p, 1, false) {
				return
			}
		}
		if m.full {
			return
		}
	}
}
