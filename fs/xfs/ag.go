package xfs

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// Each allocation group starts with four sectors: a superblock (the
// primary in AG 0, a backup elsewhere), the AGF (free space: roots of the
// by-block and by-size free space btrees, the reverse-map and refcount
// btrees), the AGI (inodes: roots of the inode and free inode btrees) and
// the AGFL (blocks set aside for those btrees). The btrees are short-form
// (32-bit AG block pointers).
const (
	agfMagic    = 0x58414746 // "XAGF"
	agiMagic    = 0x58414749 // "XAGI"
	agfCRCOff   = 216
	agiCRCOff   = 312
	sblockV4    = 16 // short-form btree block header, version 4
	sblockV5    = 56 // with blkno, lsn, uuid, owner, crc
	sblockCRC   = 52
	maxAGLevels = 12 // deeper than any real AG btree
	inodesChunk = 64 // XFS_INODES_PER_CHUNK
	nullAGBlock = 0xffffffff
)

// sbtree describes one kind of short-form btree.
type sbtree struct {
	name   string
	v4, v5 uint32 // magics
	keyLen int    // bytes of a key in a node (rmapbt nodes hold low and high keys)
	recLen int    // bytes of a leaf record
}

var (
	bnobt    = sbtree{"free space btree (by block)", 0x41425442, 0x41423342, 8, 8} // ABTB, AB3B
	cntbt    = sbtree{"free space btree (by size)", 0x41425443, 0x41423343, 8, 8}  // ABTC, AB3C
	inobt    = sbtree{"inode btree", 0x49414254, 0x49414233, 4, 16}                // IABT, IAB3
	finobt   = sbtree{"free inode btree", 0x46494254, 0x46494233, 4, 16}           // FIBT, FIB3
	rmapbt   = sbtree{"reverse map btree", 0, 0x524d4233, 40, 24}                  // RMB3
	refcntbt = sbtree{"refcount btree", 0, 0x52334643, 4, 12}                      // R3FC
)

// agMeta reports the metadata of AG agno: its four header sectors, its
// btrees and its inode chunks.
func (f *FS) agMeta(agno uint32, budget *int64, fn func(fs.Entry) error) error {
	base, err := f.agBlockOff(agno, 0)
	if err != nil {
		return err
	}
	sect := int64(f.sb.sectSize)
	name := "superblock"
	if agno > 0 {
		name = fmt.Sprintf("superblock backup (AG %d)", agno)
	}
	for i, n := range []string{name, fmt.Sprintf("AG %d free space header (AGF)", agno), fmt.Sprintf("AG %d inode header (AGI)", agno), fmt.Sprintf("AG %d free list (AGFL)", agno)} {
		if err := fn(metaEntry(n, 0, base+int64(i)*sect, sect)); err != nil {
			return err
		}
	}
	hdr := make([]byte, sect)
	// AGF: free space, reverse map and refcount btrees.
	agfOff := base + sect
	if err := f.read(hdr, agfOff); err != nil {
		f.warnErr(agErr(agno, agfOff, "AGF", "reading: %v", err))
	} else if err := f.checkAGHeader(hdr, agfMagic, agfCRCOff, agno); err != nil {
		f.warnErr(agErr(agno, agfOff, "AGF", "%v", err))
	} else {
		be := binary.BigEndian
		trees := []struct {
			t            sbtree
			root, levels uint32
			on           bool
		}{
			{bnobt, be.Uint32(hdr[16:]), be.Uint32(hdr[28:]), true},
			{cntbt, be.Uint32(hdr[20:]), be.Uint32(hdr[32:]), true},
			{rmapbt, be.Uint32(hdr[24:]), be.Uint32(hdr[36:]), f.sb.roCompat&roCompatRmapbt != 0},
			{refcntbt, be.Uint32(hdr[88:]), be.Uint32(hdr[92:]), f.sb.roCompat&roCompatReflink != 0},
		}
		for _, t := range trees {
			if !t.on {
				continue
			}
			if err := f.agTree(agno, t.t, t.root, t.levels, budget, nil, fn); err != nil {
				return err
			}
		}
	}
	// AGI: inode btrees, whose records place the inode chunks.
	agiOff := base + 2*sect
	if err := f.read(hdr, agiOff); err != nil {
		f.warnErr(agErr(agno, agiOff, "AGI", "reading: %v", err))
		return nil
	}
	if err := f.checkAGHeader(hdr, agiMagic, agiCRCOff, agno); err != nil {
		f.warnErr(agErr(agno, agiOff, "AGI", "%v", err))
		return nil
	}
	be := binary.BigEndian
	var chunks []bmap.Extent
	leaf := func(rec []byte, at int64) {
		chunks = f.appendChunk(chunks, agno, rec, at)
	}
	if err := f.agTree(agno, inobt, be.Uint32(hdr[20:]), be.Uint32(hdr[24:]), budget, leaf, fn); err != nil {
		return err
	}
	if f.sb.roCompat&roCompatFinobt != 0 {
		if err := f.agTree(agno, finobt, be.Uint32(hdr[328:]), be.Uint32(hdr[332:]), budget, nil, fn); err != nil {
			return err
		}
	}
	if len(chunks) > 0 {
		slices.SortFunc(chunks, func(a, b bmap.Extent) int { return cmp.Compare(a.Off, b.Off) })
		e := fs.Entry{Kind: bmap.KindMeta, Path: fmt.Sprintf("AG %d inodes", agno)}
		for _, x := range chunks {
			e.Extents = appendRun(e.Extents, x.Off, x.Len)
		}
		return fn(e)
	}
	return nil
}

func agErr(agno uint32, off int64, what, format string, args ...any) error {
	return &diskerr.FormatError{FS: "xfs", Off: off, What: fmt.Sprintf("AG %d %s", agno, what), Msg: fmt.Sprintf(format, args...)}
}

// checkAGHeader checks an AGF or AGI sector: magic, sequence number and
// on version 5 its CRC.
func (f *FS) checkAGHeader(b []byte, magic uint32, crcOff int, agno uint32) error {
	be := binary.BigEndian
	if m := be.Uint32(b); m != magic {
		return fmt.Errorf("bad magic %#08x, want %#08x", m, magic)
	}
	if s := be.Uint32(b[8:]); s != agno {
		return fmt.Errorf("sequence number %d, want %d", s, agno)
	}
	if f.sb.v5() && !cksumOK(b, crcOff) {
		return fmt.Errorf("CRC mismatch")
	}
	return nil
}

// appendChunk adds the inodes an inode btree record (at device offset
// at) says are allocated: 64 inodes from its first, less the holes its
// holemask marks on sparse-inode filesystems (a set bit: 4 inodes absent).
func (f *FS) appendChunk(es []bmap.Extent, agno uint32, rec []byte, at int64) []bmap.Extent {
	be := binary.BigEndian
	start := be.Uint32(rec)
	var holes uint16
	if f.sb.v5() && f.sb.incompat&incompatSpinodes != 0 {
		holes = be.Uint16(rec[4:])
	}
	isz := int64(f.sb.inodeSize)
	for i := 0; i < 16; {
		if holes&(1<<i) != 0 {
			i++
			continue
		}
		j := i
		for j < 16 && holes&(1<<j) == 0 {
			j++
		}
		first := start + uint32(i)*4
		blk, err := f.agBlockOff(agno, first>>f.sb.inopbLog)
		off := blk + int64(first&(1<<f.sb.inopbLog-1))*isz
		n := int64(j-i) * 4 * isz
		if err == nil && off+n > int64(f.sb.dblocks)*f.bs {
			err = fmt.Errorf("inodes past the end of the filesystem")
		}
		if err != nil {
			f.warnErr(agErr(agno, at, "inode btree record", "chunk at AG inode %d: %v", start, err))
			return es
		}
		es = append(es, bmap.Extent{Off: off, Len: n, FileOff: -1, Role: bmap.RoleMeta})
		i = j
	}
	return es
}

// agTree reports the blocks of the btree t of AG agno rooted at block
// root, levels deep, as one metadata entry; leaf, if not nil, is called
// for each leaf record with its device offset. Damage is warned about and
// the rest of the tree skipped; only fn's error is returned.
func (f *FS) agTree(agno uint32, t sbtree, root, levels uint32, budget *int64, leaf func(rec []byte, at int64), fn func(fs.Entry) error) error {
	if levels == 0 || levels > maxAGLevels {
		f.warnErr(agErr(agno, 0, t.name, "bad depth %d", levels))
		return nil
	}
	var blocks []bmap.Extent
	seen := map[uint32]struct{}{}
	buf := make([]byte, f.bs)
	var visit func(bno uint32, level int) error
	visit = func(bno uint32, level int) error {
		off, err := f.agBlockOff(agno, bno)
		if err != nil {
			return agErr(agno, 0, t.name, "%v", err)
		}
		if _, ok := seen[bno]; ok {
			return agErr(agno, off, t.name, "block %d reached twice (a loop)", bno)
		}
		seen[bno] = struct{}{}
		if *budget--; *budget < 0 {
			return errBudget
		}
		b := buf
		if err := f.read(b, off); err != nil {
			return agErr(agno, off, t.name, "reading: %v", err)
		}
		hdr, err := f.checkSBlock(b, off, t, agno)
		if err != nil {
			return agErr(agno, off, t.name+" block", "%v", err)
		}
		blocks = append(blocks, bmap.Extent{Off: off, Len: f.bs, FileOff: -1, Role: bmap.RoleMeta})
		be := binary.BigEndian
		if l := int(be.Uint16(b[4:])); l != level {
			return agErr(agno, off, t.name+" block", "level %d, want %d", l, level)
		}
		nrecs := int(be.Uint16(b[6:]))
		if level == 0 {
			if nrecs > (len(b)-hdr)/t.recLen {
				return agErr(agno, off, t.name+" block", "%d records, room for %d", nrecs, (len(b)-hdr)/t.recLen)
			}
			if leaf != nil {
				for i := range nrecs {
					p := hdr + i*t.recLen
					leaf(b[p:p+t.recLen], off+int64(p))
				}
			}
			return nil
		}
		maxrecs := (len(b) - hdr) / (t.keyLen + 4)
		if nrecs < 1 || nrecs > maxrecs {
			return agErr(agno, off, t.name+" block", "%d keys, room for %d", nrecs, maxrecs)
		}
		ptrs := make([]uint32, nrecs)
		for i := range ptrs {
			ptrs[i] = be.Uint32(b[hdr+maxrecs*t.keyLen+i*4:])
		}
		for _, p := range ptrs {
			if err := visit(p, level-1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(root, int(levels)-1); err != nil {
		if err == errBudget {
			return err
		}
		f.warnErr(err)
	}
	if len(blocks) == 0 {
		return nil
	}
	slices.SortFunc(blocks, func(a, b bmap.Extent) int { return cmp.Compare(a.Off, b.Off) })
	e := fs.Entry{Kind: bmap.KindMeta, Path: fmt.Sprintf("AG %d %s", agno, t.name)}
	for _, x := range blocks {
		e.Extents = appendRun(e.Extents, x.Off, x.Len)
	}
	return fn(e)
}

// checkSBlock checks a short-form btree block header: magic, and on
// version 5 the CRC, the block's own address and its owner (the AG). It
// returns the header's size.
func (f *FS) checkSBlock(b []byte, off int64, t sbtree, agno uint32) (int, error) {
	be := binary.BigEndian
	magic := be.Uint32(b)
	if !f.sb.v5() {
		if magic != t.v4 || t.v4 == 0 {
			return 0, fmt.Errorf("bad magic %#08x, want %#08x", magic, t.v4)
		}
		return sblockV4, nil
	}
	if magic != t.v5 {
		return 0, fmt.Errorf("bad magic %#08x, want %#08x", magic, t.v5)
	}
	if !cksumOK(b, sblockCRC) {
		return 0, fmt.Errorf("CRC mismatch")
	}
	if d := be.Uint64(b[16:]); d != uint64(off)/512 {
		return 0, fmt.Errorf("block records its address as sector %d, is at sector %d", d, off/512)
	}
	if o := be.Uint32(b[48:]); o != agno {
		return 0, fmt.Errorf("block owned by AG %d", o)
	}
	return sblockV5, nil
}

// metaEntry is a metadata entry of one run.
func metaEntry(name string, ino uint64, off, n int64) fs.Entry {
	return fs.Entry{Kind: bmap.KindMeta, Path: name, Inode: ino, Extents: []bmap.Extent{{Off: off, Len: n, FileOff: -1, Role: bmap.RoleMeta}}}
}

// appendRun appends a RoleMeta run, merging it with the previous one when
// they touch or overlap.
func appendRun(es []bmap.Extent, off, n int64) []bmap.Extent {
	if k := len(es); k > 0 && es[k-1].End() >= off {
		es[k-1].Len = max(es[k-1].End(), off+n) - es[k-1].Off
		return es
	}
	return append(es, bmap.Extent{Off: off, Len: n, FileOff: -1, Role: bmap.RoleMeta})
}
