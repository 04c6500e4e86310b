package ufs

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// A file's blocks: di_db[0..11] map its first 12 logical blocks, di_ib[0]
// an indirect block of nindir pointers to the next ones, di_ib[1] a
// double and di_ib[2] a triple indirect block. Pointers are fragment
// numbers; zero is a hole. Every block is a full fs_bsize block except a
// file's last one when it is among the 12 direct blocks: that one is only
// as many fragments as the file's tail needs (blksize() in fs.h).

// errBudget stops a map that reads more blocks than the volume has: only
// a damaged inode (pointers reused over and over) gets there.
var errBudget = errors.New("ufs: more blocks mapped than the volume holds")

// mapper builds the extents of one inode.
type mapper struct {
	f      *FS
	in     *Inode
	nblk   int64 // logical blocks the size covers
	meta   bool  // also collect the indirect blocks
	data   []bmap.Extent
	ind    []bmap.Extent
	budget int64
	buf    [nIAddr][]byte // one indirect block buffer per level
}

// ptrErr is a block pointer error: the pointer at byte off (inside the
// inode or an indirect block) of inode ino.
func ptrErr(ino uint64, off int64, format string, args ...any) error {
	return inodeErr(ino, off, format, args...)
}

// mapInode returns the data extents of in, sorted by file offset and
// merged where contiguous, and, when meta is set, its indirect blocks.
// A damaged map is an error: reading a file with missing pieces as zeros
// would be a lie.
func (f *FS) mapInode(in *Inode, meta bool) (data, ind []bmap.Extent, err error) {
	if in.special() || in.IsShortLink() || in.Size == 0 {
		return nil, nil, nil
	}
	m := &mapper{f: f, in: in, meta: meta, budget: f.frags/int64(f.sb.frag) + nDAddr + nIAddr}
	m.nblk = (in.Size + f.bsize - 1) / f.bsize
	ptrOff := in.Off + 112
	if !f.sb.ufs2 {
		ptrOff = in.Off + 40
	}
	for lbn := int64(0); lbn < nDAddr && lbn < m.nblk; lbn++ {
		if err := m.block(in.DB[lbn], lbn, ptrOff+lbn*f.sb.ptrSize); err != nil {
			return nil, nil, err
		}
	}
	start, span := int64(nDAddr), int64(1)
	roles := [nIAddr]bmap.Role{bmap.RoleIndirect, bmap.RoleDIndirect, bmap.RoleTIndirect}
	for lvl := 0; lvl < nIAddr && start < m.nblk; lvl++ {
		span *= f.sb.nindir
		if in.IB[lvl] != 0 {
			if err := m.indirect(lvl, roles[lvl], in.IB[lvl], start, ptrOff+(nDAddr+int64(lvl))*f.sb.ptrSize); err != nil {
				return nil, nil, err
			}
		}
		start += span
	}
	return m.data, m.ind, nil
}

// check checks that n fragments from frag lie on the volume; off is where
// the pointer was read.
func (m *mapper) check(frag, n, off int64) error {
	if frag < 0 || frag >= m.f.frags || n > m.f.frags-frag {
		return ptrErr(m.in.Num, off, "block %d beyond the volume", frag)
	}
	if m.budget--; m.budget < 0 {
		return fmt.Errorf("inode %d: %w", m.in.Num, errBudget)
	}
	return nil
}

// block adds logical block lbn at fragment frag (pointer read at off).
func (m *mapper) block(frag, lbn, off int64) error {
	if frag == 0 {
		return nil
	}
	f := m.f
	n := f.bsize
	if lbn < nDAddr && lbn == m.nblk-1 {
		// A direct tail: whole fragments, as blksize() says.
		tail := m.in.Size - lbn*f.bsize
		n = (tail + f.fsize - 1) / f.fsize * f.fsize
	}
	if err := m.check(frag, n/f.fsize, off); err != nil {
		return err
	}
	e := bmap.Extent{Off: frag * f.fsize, Len: n, FileOff: lbn * f.bsize, Role: bmap.RoleData}
	if k := len(m.data); k > 0 && m.data[k-1].End() == e.Off && m.data[k-1].FileOff+m.data[k-1].Len == e.FileOff {
		m.data[k-1].Len += n
		return nil
	}
	m.data = append(m.data, e)
	return nil
}

// indirect maps the indirect block at frag of level lvl (0: single)
// whose first pointer maps logical block start.
func (m *mapper) indirect(lvl int, role bmap.Role, frag, start, off int64) error {
	f := m.f
	if err := m.check(frag, int64(f.sb.frag), off); err != nil {
		return err
	}
	if m.meta {
		m.ind = append(m.ind, bmap.Extent{Off: frag * f.fsize, Len: f.bsize, FileOff: -1, Role: role})
	}
	if m.buf[lvl] == nil {
		m.buf[lvl] = make([]byte, f.bsize)
	}
	b := m.buf[lvl]
	boff := frag * f.fsize
	if err := f.read(b, boff); err != nil {
		return ptrErr(m.in.Num, boff, "reading indirect block %d: %v", frag, err)
	}
	span := int64(1)
	for range lvl {
		span *= f.sb.nindir
	}
	for i := int64(0); i < f.sb.nindir && start+i*span < m.nblk; i++ {
		var p int64
		if f.sb.ufs2 {
			p = int64(binary.LittleEndian.Uint64(b[8*i:]))
		} else {
			p = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
		if p == 0 {
			continue
		}
		poff := boff + i*f.sb.ptrSize
		var err error
		if lvl == 0 {
			err = m.block(p, start+i, poff)
		} else {
			err = m.indirect(lvl-1, role, p, start+i*span, poff)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
