package ext

import (
	"encoding/binary"
	"slices"
)

// In-inode extended attributes: after the 128-byte base inode and
// i_extra_isize bytes comes a 4-byte magic, then the entries
// (ext4_xattr_entry), ended by four zero bytes; a value's e_value_offs is
// relative to the first entry.
const (
	xattrMagic       = 0xEA020000
	xattrEntryLen    = 16
	xattrIndexSystem = 7 // "system." names, such as system.data
)

// ibodyXattr finds the in-inode extended attribute index:name of inode
// in. It returns the value's offset from the inode's first byte and its
// length; ok is false when the inode has no such attribute. msg is set
// when the in-inode area is malformed.
func ibodyXattr(in *Inode, index uint8, name string) (off, n int, ok bool, msg string) {
	x := in.extra
	if len(x) < 4 {
		return 0, 0, false, ""
	}
	le := binary.LittleEndian
	isize := int(le.Uint16(x[0:]))
	if isize%4 != 0 || isize+4 > len(x) {
		if isize+4 > len(x) && isize <= len(x) {
			return 0, 0, false, "" // no room for attributes
		}
		return 0, 0, false, sprintfMsg("bad i_extra_isize %d", isize)
	}
	if le.Uint32(x[isize:]) != xattrMagic {
		return 0, 0, false, ""
	}
	first := isize + 4 // offset in x of the first entry
	for p := first; p+xattrEntryLen <= len(x); {
		if le.Uint32(x[p:]) == 0 {
			break
		}
		nameLen := int(x[p])
		eIndex := x[p+1]
		vOff := int(le.Uint16(x[p+2:]))
		vInum := le.Uint32(x[p+4:])
		vSize := int(le.Uint32(x[p+8:]))
		if p+xattrEntryLen+nameLen > len(x) {
			return 0, 0, false, sprintfMsg("xattr entry at inode offset %d: name past the inode", in.extraOff+p)
		}
		if eIndex == index && string(x[p+xattrEntryLen:p+xattrEntryLen+nameLen]) == name {
			if vInum != 0 {
				return 0, 0, false, sprintfMsg("xattr %q stored in inode %d, not in the inode body", name, vInum)
			}
			if vSize < 0 || vSize > len(x) || first+vOff > len(x)-vSize {
				return 0, 0, false, sprintfMsg("xattr %q value (offset %d, %d bytes) past the inode", name, vOff, vSize)
			}
			return in.extraOff + first + vOff, vSize, true, ""
		}
		p += (xattrEntryLen + nameLen + 3) &^ 3
	}
	return 0, 0, false, ""
}

// External xattr block header (ext4_xattr_header): magic, refcount,
// h_blocks (must be 1); entries start after the 32-byte header and their
// value offsets are relative to the block.
const (
	xattrBlockHdrLen = 32
	// maxEAInodes caps the EA inodes followed for one file.
	maxEAInodes = 64
)

// xattrValueInodes appends the inode numbers holding xattr values
// (e_value_inum, feature ea_inode) of the entries in x from offset first.
func xattrValueInodes(x []byte, first int, dst []uint32) []uint32 {
	le := binary.LittleEndian
	for p := first; p+xattrEntryLen <= len(x) && len(dst) < maxEAInodes; {
		if le.Uint32(x[p:]) == 0 {
			break
		}
		if n := le.Uint32(x[p+4:]); n != 0 {
			dst = append(dst, n)
		}
		p += (xattrEntryLen + int(x[p]) + 3) &^ 3
	}
	return dst
}

// eaInodes returns the EA inodes that hold the values of in's extended
// attributes, from the inode body and from its xattr block.
func (m *fileMap) eaInodes() []uint32 {
	in := m.in
	var out []uint32
	le := binary.LittleEndian
	if x := in.extra; len(x) >= 4 {
		isize := int(le.Uint16(x[0:]))
		if isize%4 == 0 && isize+4 <= len(x) && le.Uint32(x[isize:]) == xattrMagic {
			out = xattrValueInodes(x, isize+4, out)
		}
	}
	if in.FileACL != 0 && m.blockOK(in.FileACL, 1) && m.spend(1) {
		buf := m.buf(0)
		if err := m.f.readBlocks(buf, in.FileACL, 1); err != nil {
			m.readErr(int64(in.FileACL)*m.f.bs, err, "reading xattr block %d", in.FileACL)
		} else if le.Uint32(buf[0:]) == xattrMagic && le.Uint32(buf[8:]) == 1 {
			out = xattrValueInodes(buf, xattrBlockHdrLen, out)
		}
	}
	// Attributes with equal values share one EA inode (e2fsprogs and
	// the kernel deduplicate them): map it once.
	slices.Sort(out)
	return slices.Compact(out)
}
