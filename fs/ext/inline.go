package ext

import "github.com/virt-bmap/virt-bmap/bmap"

// inlineDataName is the xattr (index system) holding inline data past
// the 60 bytes of i_block.
const inlineDataName = "data"

// inlineData maps an inline-data inode: its first 60 bytes are i_block,
// the rest is the value of the system.data extended attribute in the
// inode's extra space. Both are RoleInline extents at the inode's bytes in
// the inode table.
func (m *fileMap) inlineData() {
	in := m.in
	if in.Size <= 0 {
		return
	}
	n := min(in.Size, iBlockLen)
	m.data = append(m.data, bmap.Extent{Off: in.Off + iBlockOff, Len: n, FileOff: 0, Role: bmap.RoleInline})
	if in.Size <= iBlockLen {
		return
	}
	off, vlen, ok, msg := ibodyXattr(in, xattrIndexSystem, inlineDataName)
	if msg != "" {
		m.warnf(in.Off, "inline data: %s", msg)
		return
	}
	if !ok {
		m.warnf(in.Off, "inline data of %d bytes but no system.data attribute", in.Size)
		return
	}
	rest := min(in.Size-iBlockLen, int64(vlen))
	if rest > 0 {
		m.data = append(m.data, bmap.Extent{Off: in.Off + int64(off), Len: rest, FileOff: iBlockLen, Role: bmap.RoleInline})
	}
}

// inlineDirParts returns the bytes an inline directory's entries live in:
// i_block after the 4-byte parent inode number, and the system.data value
// (nil if none), with their offsets in the filesystem.
func (m *fileMap) inlineDirParts() (a []byte, aOff int64, b []byte, bOff int64) {
	in := m.in
	a, aOff = in.Block[4:], in.Off+iBlockOff+4
	off, vlen, ok, msg := ibodyXattr(in, xattrIndexSystem, inlineDataName)
	if msg != "" {
		m.warnf(in.Off, "inline directory: %s", msg)
		return a, aOff, nil, 0
	}
	if !ok || vlen == 0 {
		return a, aOff, nil, 0
	}
	x := off - in.extraOff
	return a, aOff, in.extra[x : x+vlen], in.Off + int64(off)
}
