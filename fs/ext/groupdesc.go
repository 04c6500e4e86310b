package ext

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// groupDesc holds the fields of a block group descriptor this package
// uses; the _hi halves are folded in when the descriptor is 64 bytes or
// more (64bit feature).
type groupDesc struct {
	blockBitmap  uint64
	inodeBitmap  uint64
	inodeTable   uint64
	flags        uint16
	itableUnused uint32
	lost         uint8 // lostBlockBitmap... : structures this group lost
}

// Group descriptor flags.
const (
	bgInodeUninit = 0x0001
	bgBlockUninit = 0x0002
)

// parseGroupDesc decodes one descriptor of size len(b) (32, or 64 and up).
func parseGroupDesc(b []byte) groupDesc {
	le := binary.LittleEndian
	g := groupDesc{
		blockBitmap:  uint64(le.Uint32(b[0x00:])),
		inodeBitmap:  uint64(le.Uint32(b[0x04:])),
		inodeTable:   uint64(le.Uint32(b[0x08:])),
		flags:        le.Uint16(b[0x12:]),
		itableUnused: uint32(le.Uint16(b[0x1C:])),
	}
	if len(b) >= 64 {
		g.blockBitmap |= uint64(le.Uint32(b[0x20:])) << 32
		g.inodeBitmap |= uint64(le.Uint32(b[0x24:])) << 32
		g.inodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		g.itableUnused |= uint32(le.Uint16(b[0x32:])) << 16
	}
	return g
}

// descPerBlock is the number of group descriptors in one block.
func (f *FS) descPerBlock() uint64 { return uint64(f.bs / f.sb.descSizeBytes()) }

// descBlocks is the number of blocks the group descriptor table takes.
func (f *FS) descBlocks() uint64 {
	dpb := f.descPerBlock()
	return (f.ngroups + dpb - 1) / dpb
}

// groupFirstBlock is the first block of group g.
func (f *FS) groupFirstBlock(g uint64) uint64 {
	return uint64(f.sb.firstDataBlock) + g*uint64(f.sb.blocksPerGroup)
}

// groupZeroAdjust is 1 on a bigalloc filesystem with 1 KiB blocks, where
// block 0 is not the superblock's and the superblock is block 1 of group 0.
func (f *FS) groupZeroAdjust(g uint64) uint64 {
	if g == 0 && f.bs == 1024 && f.sb.clusterRatio() > 1 {
		return 1
	}
	return 0
}

// descBlockLoc is the primary location of group descriptor block i, as
// e2fsprogs' ext2fs_descriptor_block_loc2 computes it: right after the
// superblock of group 0, or with meta_bg (for i >= s_first_meta_bg) in the
// first group of meta group i, after its superblock backup if it has one.
func (f *FS) descBlockLoc(i uint64) uint64 {
	if !f.sb.hasMetaBG() || i < uint64(f.sb.firstMetaBG) {
		return f.groupFirstBlock(0) + f.groupZeroAdjust(0) + 1 + i
	}
	g := f.descPerBlock() * i
	blk := f.groupFirstBlock(g) + f.groupZeroAdjust(g)
	if f.hasSuper(g) {
		blk++
	}
	return blk
}

// Parts of a group a damaged descriptor loses (groupDesc.lost).
const (
	lostBlockBitmap = 1 << iota
	lostInodeBitmap
	lostInodeTable
	lostPastEnd // with lostInodeTable: the table lies past the device's end
)

// maxDescCopies bounds the backup copies of a descriptor block tried
// for a damaged descriptor.
const maxDescCopies = 8

// readGroupDescs reads and checks every group descriptor, isolating
// damage per group as e2fsck does:
//
//   - A descriptor is sound when its checksum matches (gdt_csum or
//     metadata_csum) and its block bitmap, inode bitmap and inode table
//     lie where e2fsck's ext2fs_check_desc accepts them: inside the
//     filesystem (inside the group itself without flex_bg), not over the
//     superblock and descriptor copies of the group they fall in.
//   - A damaged primary descriptor is replaced by the same descriptor in
//     the first sound backup copy of the table (the copies after the
//     backup superblocks; with meta_bg, the two in the meta group's second
//     and last groups), as e2fsck does when it falls back on a backup.
//   - When no copy is sound, the primary is used for what is still
//     plausible: with only the checksum wrong, all of it (e2fsck recomputes
//     the checksum and keeps the descriptor); otherwise each structure
//     whose place is impossible is lost (a lost inode table loses the
//     group's inodes; a lost bitmap only its metadata entry), and e2fsck
//     would relocate it.
//   - A descriptor block past the device's end (a truncated filesystem)
//     with no copy on the device loses its groups.
//
// Every such group is reported once, through openWarns.
func (f *FS) readGroupDescs() error {
	ds := f.sb.descSizeBytes()
	dpb := f.descPerBlock()
	nblocks := f.descBlocks()
	f.groups = make([]groupDesc, 0, f.ngroups)
	prim := make([]byte, f.bs)
	var copies [][]byte // this descriptor block's backup copies, read when first needed
	var copyLocs []uint64
	for i := uint64(0); i < nblocks; i++ {
		blk := f.descBlockLoc(i)
		off := int64(blk) * f.bs
		f.gdtBlocks = append(f.gdtBlocks, blk)
		var primErr error
		if err := f.readBlocks(prim, blk, 1); err != nil {
			primErr = err
		}
		copies, copyLocs = copies[:0], nil
		for j := uint64(0); j < dpb && uint64(len(f.groups)) < f.ngroups; j++ {
			n := uint64(len(f.groups))
			doff := off + int64(j)*ds
			var d groupDesc
			var msg string
			if primErr == nil {
				raw := prim[int64(j)*ds : int64(j+1)*ds]
				d = parseGroupDesc(raw)
				msg = f.descProblem(n, raw, &d)
				if msg == "" {
					f.groups = append(f.groups, d)
					continue
				}
			} else {
				msg = fmt.Sprintf("descriptor block %d unreadable: %v", blk, primErr)
				d.lost = lostBlockBitmap | lostInodeBitmap | lostInodeTable
			}
			// The primary is damaged: look for a sound copy.
			if copyLocs == nil {
				copyLocs = f.descCopies(i)
				copies = make([][]byte, len(copyLocs))
			}
			found := false
			for k, loc := range copyLocs {
				if copies[k] == nil {
					b := make([]byte, f.bs)
					if f.readBlocks(b, loc, 1) != nil {
						copies[k] = []byte{}
						continue
					}
					copies[k] = b
				}
				if len(copies[k]) == 0 {
					continue
				}
				raw := copies[k][int64(j)*ds : int64(j+1)*ds]
				c := parseGroupDesc(raw)
				if f.descProblem(n, raw, &c) != "" {
					continue
				}
				f.damage.GroupsRecovered++
				f.openWarns = append(f.openWarns, &diskerr.FormatError{FS: "ext", Off: doff, What: fmt.Sprintf("group %d descriptor", n),
					Msg: fmt.Sprintf("%s; using the backup copy at block %d", msg, loc)})
				d, found = c, true
				break
			}
			if !found && errors.Is(primErr, ErrTruncated) {
				// The descriptor block lies past the device's end
				// (meta_bg puts one in each meta group): the group is
				// lost with it, counted below, warned once for the
				// device.
				d.lost |= lostPastEnd
			} else if !found {
				if primErr == nil && d.lost == 0 {
					msg += "; no sound backup copy, used as it is (e2fsck would recompute the checksum)"
				} else {
					f.damage.GroupsDamaged++
					var what []string
					for _, x := range []struct {
						bit  uint8
						name string
					}{{lostBlockBitmap, "block bitmap"}, {lostInodeBitmap, "inode bitmap"}, {lostInodeTable, "inode table"}} {
						if d.lost&x.bit != 0 {
							what = append(what, x.name)
						}
					}
					msg += fmt.Sprintf("; no sound backup copy: %s lost", strings.Join(what, ", "))
					if d.lost&lostInodeTable != 0 {
						first := n*uint64(f.sb.inodesPerGroup) + 1
						msg += fmt.Sprintf(" (inodes %d-%d)", first, first+uint64(f.sb.inodesPerGroup)-1)
					}
				}
				f.openWarns = append(f.openWarns, tag(&diskerr.FormatError{FS: "ext", Off: doff, What: fmt.Sprintf("group %d descriptor", n), Msg: msg}, ErrGroupDamaged))
			}
			if d.lost&lostInodeTable == 0 && d.inodeTable+f.inodeTableBlocks() > f.devBlocks {
				d.lost |= lostInodeTable | lostPastEnd // counted; warned once for the device
			}
			if d.lost&lostInodeTable != 0 {
				f.damage.GroupsNoInodes++
			}
			f.groups = append(f.groups, d)
		}
	}
	for n := uint64(len(f.groups)); n < f.ngroups; n++ {
		// Only when nblocks is short of the groups: cannot happen with
		// descBlocks computed from ngroups, kept for safety.
		f.groups = append(f.groups, groupDesc{lost: lostBlockBitmap | lostInodeBitmap | lostInodeTable})
		f.damage.GroupsNoInodes++
	}
	return nil
}

// descProblem checks descriptor d of group g (raw bytes raw): it returns
// "" when it is sound, else what is wrong, and sets d.lost for the
// structures whose place is impossible.
func (f *FS) descProblem(g uint64, raw []byte, d *groupDesc) string {
	var probs []string
	if !f.descChecksumOK(g, raw) {
		probs = append(probs, "checksum mismatch")
	}
	first, last := uint64(f.sb.firstDataBlock), f.sb.blocksCount-1
	if f.sb.featureIncompat&incompatFlexBG == 0 {
		first = f.groupFirstBlock(g)
		last = min(last, first+uint64(f.sb.blocksPerGroup)-1)
	}
	for _, c := range []struct {
		what string
		blk  uint64
		n    uint64
		bit  uint8
	}{{"block bitmap", d.blockBitmap, 1, lostBlockBitmap}, {"inode bitmap", d.inodeBitmap, 1, lostInodeBitmap}, {"inode table", d.inodeTable, f.inodeTableBlocks(), lostInodeTable}} {
		switch {
		case c.blk < first || c.blk > last || last-c.blk < c.n-1:
			probs = append(probs, fmt.Sprintf("%s at block %d (%d blocks) outside blocks %d-%d", c.what, c.blk, c.n, first, last))
		case f.overSuper(c.blk, c.n):
			probs = append(probs, fmt.Sprintf("%s at block %d (%d blocks) over a superblock or group descriptors", c.what, c.blk, c.n))
		default:
			continue
		}
		d.lost |= c.bit
	}
	return strings.Join(probs, ", ")
}

// overSuper reports whether blocks [blk, blk+n) overlap the superblock,
// group descriptors or reserved GDT blocks of the groups they start and
// end in.
func (f *FS) overSuper(blk, n uint64) bool {
	fdb := uint64(f.sb.firstDataBlock)
	bpg := uint64(f.sb.blocksPerGroup)
	for _, b := range []uint64{blk, blk + n - 1} {
		if b < fdb {
			return true
		}
		g := (b - fdb) / bpg
		start, cnt := f.superRegion(g)
		if cnt > 0 && blk < start+cnt && start < blk+n {
			return true
		}
	}
	return false
}

// superRegion is the run of blocks at the start of group g taken by its
// superblock (copy), descriptor blocks and reserved GDT blocks.
func (f *FS) superRegion(g uint64) (start, n uint64) {
	start = f.groupFirstBlock(g)
	if g == 0 {
		start = 0 // the boot block(s) and the primary superblock
		n = f.groupFirstBlock(0) + f.groupZeroAdjust(0) + 1
	} else if f.hasSuper(g) {
		n = 1
	}
	if n == 0 {
		if f.sb.hasMetaBG() {
			if r := g % f.descPerBlock(); r == 1 || r == f.descPerBlock()-1 {
				n = 1 // a meta_bg descriptor copy without a superblock
			}
		}
		return start, n
	}
	descs := f.descBlocks()
	if f.sb.hasMetaBG() {
		descs = min(uint64(f.sb.firstMetaBG), descs)
		if r := g % f.descPerBlock(); r == 0 || r == 1 || r == f.descPerBlock()-1 {
			descs++
		}
	} else {
		descs += uint64(f.sb.reservedGDT)
	}
	return start, n + descs
}

// descCopies lists the backup copies of descriptor block i: after each
// backup superblock outside meta_bg (at most maxDescCopies), in the
// second and last groups of its meta group with meta_bg.
func (f *FS) descCopies(i uint64) []uint64 {
	var locs []uint64
	if !f.sb.hasMetaBG() || i < uint64(f.sb.firstMetaBG) {
		for _, g := range f.superGroups(maxDescCopies) {
			if loc := f.groupFirstBlock(g) + f.groupZeroAdjust(g) + 1 + i; loc < f.sb.blocksCount {
				locs = append(locs, loc)
			}
		}
		return locs
	}
	dpb := f.descPerBlock()
	for _, g := range []uint64{dpb*i + 1, dpb*i + dpb - 1} {
		if g < f.ngroups {
			locs = append(locs, f.groupFirstBlock(g)+boolU64(f.hasSuper(g)))
		}
	}
	return locs
}

// superGroups lists up to limit groups after group 0 that hold a
// superblock backup, in order.
func (f *FS) superGroups(limit int) []uint64 {
	var gs []uint64
	switch {
	case f.sb.featureCompat&compatSparseSuper2 != 0:
		for _, g := range f.sb.backupBGs {
			if g != 0 && uint64(g) < f.ngroups {
				gs = append(gs, uint64(g))
			}
		}
		slices.Sort(gs)
		gs = slices.Compact(gs)
	case f.sb.featureROCompat&roCompatSparseSuper != 0:
		gs = backupGroups(f.ngroups)
		gs = slices.DeleteFunc(gs, func(g uint64) bool { return !f.hasSuper(g) })
	default:
		for g := uint64(1); g < f.ngroups && len(gs) < limit; g++ {
			gs = append(gs, g)
		}
	}
	return gs[:min(len(gs), limit)]
}

// descChecksumOK checks a descriptor's bg_checksum: crc32c (low 16 bits)
// with metadata_csum, crc16 with gdt_csum, as ext2fs_group_desc_csum
// computes them; true when the filesystem has neither.
func (f *FS) descChecksumOK(g uint64, b []byte) bool {
	le := binary.LittleEndian
	stored := le.Uint16(b[0x1E:])
	var gb [4]byte
	le.PutUint32(gb[:], uint32(g))
	switch {
	case f.sb.hasMetaCsum():
		crc := crc32c(f.seed, gb[:])
		crc = crc32c(crc, b[:0x1E])
		crc = crc32c(crc, []byte{0, 0})
		crc = crc32c(crc, b[0x20:])
		return uint16(crc) == stored
	case f.sb.featureROCompat&roCompatGdtCsum != 0:
		crc := crc16(0xFFFF, f.sb.uuid[:])
		crc = crc16(crc, gb[:])
		crc = crc16(crc, b[:0x1E])
		crc = crc16(crc, b[0x20:])
		return crc == stored
	}
	return true
}

// crc16 is e2fsprogs' ext2fs_crc16: CRC-16 (x^16 + x^15 + x^2 + 1),
// bit-reflected, continued from crc.
func crc16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// inodeTableBlocks is the number of blocks of one group's inode table.
func (f *FS) inodeTableBlocks() uint64 {
	return (uint64(f.sb.inodesPerGroup)*uint64(f.sb.inodeSize) + uint64(f.bs) - 1) / uint64(f.bs)
}
