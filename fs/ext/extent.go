package ext

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Extent tree constants.
const (
	extentMagic    = 0xF30A
	extentHdrLen   = 12
	extentEntLen   = 12
	maxExtentDepth = 5 // the kernel's EXT4_MAX_EXTENT_DEPTH
	// maxFollowDepth is the deepest tree followed: deeper than the
	// format allows, with a warning, when every node is consistent (its
	// depth one less than its parent's, no block met twice), as e2fsck
	// reads such a tree before it rebuilds it; the cap bounds the
	// recursion.
	maxFollowDepth = 32
	initMaxLen     = 32768 // ee_len above this marks an unwritten extent
)

// extentHeader is ext4_extent_header.
type extentHeader struct {
	magic   uint16
	entries uint16
	max     uint16
	depth   uint16
}

func parseExtentHeader(b []byte) extentHeader {
	le := binary.LittleEndian
	return extentHeader{magic: le.Uint16(b[0:]), entries: le.Uint16(b[2:]), max: le.Uint16(b[4:]), depth: le.Uint16(b[6:])}
}

// checkExtentHeader checks a node's header against the node's size and
// the depth its parent announced (-1 for the root); it returns a message
// for a bad header, "" for a good one.
func checkExtentHeader(h extentHeader, size int, want int) string {
	switch {
	case h.magic != extentMagic:
		return fmt.Sprintf("bad extent header magic %#04x", h.magic)
	case int(h.max)*extentEntLen+extentHdrLen > size:
		return fmt.Sprintf("extent header eh_max %d too large for a %d-byte node", h.max, size)
	case h.entries > h.max:
		return fmt.Sprintf("extent header eh_entries %d > eh_max %d", h.entries, h.max)
	case h.depth > maxFollowDepth:
		return fmt.Sprintf("extent tree depth %d > %d", h.depth, maxFollowDepth)
	case want >= 0 && int(h.depth) != want:
		return fmt.Sprintf("extent node depth %d, parent expects %d", h.depth, want)
	}
	return ""
}

// extentTree maps an extent-mapped inode from the tree rooted in i_block.
func (m *fileMap) extentTree() {
	m.extentNode(m.in.Block[:], m.in.Off+iBlockOff, -1, 0)
}

// extentNode maps node b (at disk offset off) of the tree; want is the
// depth the parent expects (-1 at the root), level the node's distance
// from the root (which picks a scratch buffer).
func (m *fileMap) extentNode(b []byte, off int64, want, level int) {
	h := parseExtentHeader(b)
	if msg := checkExtentHeader(h, len(b), want); msg != "" {
		m.warnf(off, "%s", msg)
		return
	}
	if want < 0 && h.depth > maxExtentDepth {
		// Not counted as a problem of the inode: nothing is lost.
		m.deep = true
		if m.warn != nil {
			m.warn(&diskerr.FormatError{FS: "ext", Off: off, What: m.what(), Msg: fmt.Sprintf("extent tree depth %d > %d, the format's limit; followed where consistent", h.depth, maxExtentDepth)})
		}
	}
	le := binary.LittleEndian
	bs := m.f.bs
	for i := 0; i < int(h.entries); i++ {
		e := b[extentHdrLen+i*extentEntLen:]
		eoff := off + int64(extentHdrLen+i*extentEntLen)
		if h.depth == 0 {
			lblk := uint64(le.Uint32(e[0:]))
			n := uint64(le.Uint16(e[4:]))
			pblk := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			unwritten := n > initMaxLen
			if unwritten {
				n -= initMaxLen
			}
			if n == 0 {
				continue
			}
			if lblk+n > 1<<32 {
				m.warnf(eoff, "extent at logical block %d of %d blocks past the 2^32-block limit", lblk, n)
				continue
			}
			if !m.blockOK(pblk, n) {
				m.warnf(eoff, "extent blocks %d-%d outside the filesystem", pblk, pblk+n-1)
				continue
			}
			if !m.addData(lblk, pblk, n, unwritten) {
				return
			}
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if !m.blockOK(child, 1) {
			m.warnf(eoff, "extent index points to block %d outside the filesystem", child)
			continue
		}
		if m.seen(child) {
			m.warnf(eoff, "extent tree loop: block %d met twice", child)
			continue
		}
		cb := m.buf(level + 1)
		coff := int64(child) * bs
		if !m.spend(1) {
			return
		}
		if err := m.f.readBlocks(cb, child, 1); err != nil {
			m.readErr(coff, err, "reading extent tree block %d", child)
			continue
		}
		ch := parseExtentHeader(cb)
		if msg := checkExtentHeader(ch, len(cb), int(h.depth)-1); msg != "" {
			m.warnf(coff, "extent tree block %d: %s", child, msg)
			continue
		}
		m.addOther(child, bmap.RoleExtentIndex)
		m.extentNode(cb, coff, int(h.depth)-1, level+1)
		if m.full {
			return
		}
	}
}
