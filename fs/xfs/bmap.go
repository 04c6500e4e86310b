package xfs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// A file's block map is a list of 128-bit extent records (xfs_bmbt_rec),
// in the inode's data fork (extents format) or in the leaves of a B+tree
// whose root is in the fork (btree format). A record packs, big-endian,
// from the most significant bit: the unwritten flag (1 bit), the offset
// in the file in blocks (54), the filesystem block number (52) and the
// length in blocks (21).
const (
	bmbtRecSize = 16
	bmapMagic   = 0x424d4150 // "BMAP": version 4 long-form btree block
	bma3Magic   = 0x424d4133 // "BMA3": version 5, with CRC and owner
	lblockV4    = 24         // long-form block header, version 4
	lblockV5    = 72         // with blkno, lsn, uuid, owner, crc
	lblockCRC   = 64
	maxBmLevels = 10 // deeper than any real bmbt (XFS_BM_MAXLEVELS is 9)
)

// bmbtRec is one decoded extent record.
type bmbtRec struct {
	fileOff   uint64 // blocks
	start     uint64 // filesystem block number (AG-encoded)
	count     uint64
	unwritten bool
}

func decodeRec(b []byte) bmbtRec {
	l0 := binary.BigEndian.Uint64(b)
	l1 := binary.BigEndian.Uint64(b[8:])
	return bmbtRec{
		unwritten: l0>>63 != 0,
		fileOff:   (l0 &^ (1 << 63)) >> 9,
		start:     (l0&0x1ff)<<43 | l1>>21,
		count:     l1 & (1<<21 - 1),
	}
}

// forkMap is the block map of one inode's data fork.
type forkMap struct {
	data  []bmap.Extent // contents, sorted by FileOff
	index []bmap.Extent // bmbt blocks below the inode (bmap.RoleExtentIndex)
}

// mapper decodes block maps, bounding its work by a budget of blocks read
// (shared by a whole walk) and keeping its buffers between inodes.
type mapper struct {
	f      *FS
	budget *int64
	buf    []byte
	seen   map[int64]struct{}
	m      forkMap
	next   uint64 // the next file offset a record may start at (blocks)
	in     *Inode
}

func (m *mapper) errf(off int64, what, format string, args ...any) error {
	w := fmt.Sprintf("inode %d", m.in.Num)
	if what != "" {
		w += " " + what
	}
	return &diskerr.FormatError{FS: "xfs", Off: off, What: w, Msg: fmt.Sprintf(format, args...)}
}

// mapInode maps in's data fork into m.m (reused: valid until the next
// call). Local-format contents are one bmap.RoleInline extent at the fork's
// bytes inside the inode; devices, FIFOs and sockets have no extents.
func (m *mapper) mapInode(in *Inode) error {
	m.in = in
	m.m.data, m.m.index = m.m.data[:0], m.m.index[:0]
	m.next = 0
	switch in.Format {
	case fmtDev:
		return nil
	case fmtLocal:
		if in.Size > 0 {
			m.m.data = append(m.m.data, bmap.Extent{Off: in.forkOff, Len: in.Size, FileOff: 0, Role: bmap.RoleInline})
		}
		return nil
	case fmtExtents:
		n := in.Nextents
		if n > uint64(len(in.fork))/bmbtRecSize {
			return m.errf(in.Off, "", "%d extents do not fit the %d-byte data fork", n, len(in.fork))
		}
		return m.records(in.fork[:n*bmbtRecSize], in.forkOff)
	case fmtBtree:
		return m.btreeRoot()
	}
	return m.errf(in.Off, "", "unknown data fork format %d", in.Format)
}

// records appends the extent records in b (at device offset off).
func (m *mapper) records(b []byte, off int64) error {
	f := m.f
	for i := 0; i+bmbtRecSize <= len(b); i += bmbtRecSize {
		r := decodeRec(b[i:])
		at := off + int64(i)
		if r.count == 0 {
			return m.errf(at, "extent record", "zero-length extent at file block %d", r.fileOff)
		}
		if r.fileOff < m.next {
			return m.errf(at, "extent record", "extent at file block %d overlaps or precedes the previous one (ending at %d)", r.fileOff, m.next)
		}
		if r.fileOff+r.count > 1<<54 || (r.fileOff+r.count)>>(63-f.sb.blockLog) != 0 {
			return m.errf(at, "extent record", "extent at file block %d of %d blocks past the largest file", r.fileOff, r.count)
		}
		dev, err := f.fsbRun(r.start, r.count)
		if err != nil {
			return m.errf(at, "extent record", "%v", err)
		}
		m.m.data = append(m.m.data, bmap.Extent{Off: dev, Len: int64(r.count) * f.bs, FileOff: int64(r.fileOff) * f.bs, Role: bmap.RoleData, Unwritten: r.unwritten})
		m.next = r.fileOff + r.count
		if uint64(len(m.m.data)) > m.in.Nextents {
			return m.errf(at, "extent record", "more extents than the inode's %d", m.in.Nextents)
		}
	}
	return nil
}

// btreeRoot walks the bmbt whose root (xfs_bmdr_block: level, numrecs,
// then keys and pointers sized for the whole fork) is in the data fork.
func (m *mapper) btreeRoot() error {
	in := m.in
	fork := in.fork
	if len(fork) < 4+16 {
		return m.errf(in.forkOff, "bmbt root", "data fork of %d bytes too small", len(fork))
	}
	level := int(binary.BigEndian.Uint16(fork))
	nrecs := int(binary.BigEndian.Uint16(fork[2:]))
	maxrecs := (len(fork) - 4) / 16
	switch {
	case level < 1 || level > maxBmLevels:
		return m.errf(in.forkOff, "bmbt root", "bad level %d", level)
	case nrecs < 1 || nrecs > maxrecs:
		return m.errf(in.forkOff, "bmbt root", "%d records, room for %d", nrecs, maxrecs)
	}
	if m.seen == nil {
		m.seen = make(map[int64]struct{})
	}
	clear(m.seen)
	ptrs := fork[4+maxrecs*8:]
	for i := range nrecs {
		if err := m.node(binary.BigEndian.Uint64(ptrs[i*8:]), level-1, in.forkOff+4+int64(maxrecs+i)*8); err != nil {
			return err
		}
	}
	return nil
}

// node reads the bmbt block fsb, which must be at level, named by the
// pointer at device offset from.
func (m *mapper) node(fsb uint64, level int, from int64) error {
	f := m.f
	off, err := f.fsbRun(fsb, 1)
	if err != nil {
		return m.errf(from, "bmbt pointer", "%v", err)
	}
	if _, ok := m.seen[off]; ok {
		return m.errf(off, "bmbt block", "block %d reached twice (a loop)", fsb)
	}
	m.seen[off] = struct{}{}
	if *m.budget--; *m.budget < 0 {
		return errBudget
	}
	if int64(cap(m.buf)) < f.bs {
		m.buf = make([]byte, f.bs)
	}
	b := m.buf[:f.bs]
	if err := f.read(b, off); err != nil {
		return m.errf(off, "bmbt block", "reading: %v", err)
	}
	hdr, err := f.checkLBlock(b, off, m.in.Num)
	if err != nil {
		return m.errf(off, "bmbt block", "%v", err)
	}
	m.m.index = append(m.m.index, bmap.Extent{Off: off, Len: f.bs, FileOff: -1, Role: bmap.RoleExtentIndex})
	be := binary.BigEndian
	if l := int(be.Uint16(b[4:])); l != level {
		return m.errf(off, "bmbt block", "level %d, want %d", l, level)
	}
	nrecs := int(be.Uint16(b[6:]))
	if level == 0 {
		if nrecs < 1 || nrecs > (len(b)-hdr)/bmbtRecSize {
			return m.errf(off, "bmbt block", "%d records, room for %d", nrecs, (len(b)-hdr)/bmbtRecSize)
		}
		return m.records(b[hdr:hdr+nrecs*bmbtRecSize], off+int64(hdr))
	}
	maxrecs := (len(b) - hdr) / 16
	if nrecs < 1 || nrecs > maxrecs {
		return m.errf(off, "bmbt block", "%d keys, room for %d", nrecs, maxrecs)
	}
	// The block is reused by the children: copy the pointers first.
	ptrs := make([]uint64, nrecs)
	for i := range ptrs {
		ptrs[i] = be.Uint64(b[hdr+(maxrecs+i)*8:])
	}
	for i, p := range ptrs {
		if err := m.node(p, level-1, off+int64(hdr+(maxrecs+i)*8)); err != nil {
			return err
		}
	}
	return nil
}

// checkLBlock checks a long-form btree block header (bmbt): magic, and on
// version 5 the CRC, the block's own address and its owner. It returns the
// header's size.
func (f *FS) checkLBlock(b []byte, off int64, owner uint64) (int, error) {
	be := binary.BigEndian
	magic := be.Uint32(b)
	if !f.sb.v5() {
		if magic != bmapMagic {
			return 0, fmt.Errorf("bad magic %#08x, want BMAP", magic)
		}
		return lblockV4, nil
	}
	if magic != bma3Magic {
		return 0, fmt.Errorf("bad magic %#08x, want BMA3", magic)
	}
	if !cksumOK(b, lblockCRC) {
		return 0, fmt.Errorf("CRC mismatch")
	}
	if d := be.Uint64(b[24:]); d != uint64(off)/512 {
		return 0, fmt.Errorf("block records its address as sector %d, is at sector %d", d, off/512)
	}
	if o := be.Uint64(b[56:]); o != owner {
		return 0, fmt.Errorf("block owned by inode %d", o)
	}
	return lblockV5, nil
}
