package ext

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
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

// readGroupDescs reads and checks every group descriptor. A descriptor
// whose bitmaps or inode table fall outside the filesystem is an error:
// the kernel refuses to mount such a filesystem, and every inode of the
// group would be unreadable.
func (f *FS) readGroupDescs() error {
	ds := f.sb.descSizeBytes()
	dpb := f.descPerBlock()
	nblocks := f.descBlocks()
	f.groups = make([]groupDesc, 0, f.ngroups)
	buf := make([]byte, f.bs)
	itb := f.inodeTableBlocks()
	for i := uint64(0); i < nblocks; i++ {
		blk := f.descBlockLoc(i)
		off := int64(blk) * f.bs
		if blk >= f.sb.blocksCount {
			return &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "group descriptors", Msg: fmt.Sprintf("descriptor block %d at block %d beyond the filesystem's %d blocks", i, blk, f.sb.blocksCount)}
		}
		if err := chunkcache.ReadFull(f.r, buf, off); err != nil {
			return &diskerr.FormatError{FS: "ext", Off: off, What: "group descriptors", Msg: fmt.Sprintf("reading descriptor block %d: %v", i, err)}
		}
		f.gdtBlocks = append(f.gdtBlocks, blk)
		for j := uint64(0); j < dpb && uint64(len(f.groups)) < f.ngroups; j++ {
			g := parseGroupDesc(buf[int64(j)*ds : int64(j+1)*ds])
			n := uint64(len(f.groups))
			doff := off + int64(j)*ds
			for _, c := range []struct {
				what string
				blk  uint64
				n    uint64
			}{{"block bitmap", g.blockBitmap, 1}, {"inode bitmap", g.inodeBitmap, 1}, {"inode table", g.inodeTable, itb}} {
				if c.blk < uint64(f.sb.firstDataBlock) || c.blk >= f.sb.blocksCount || f.sb.blocksCount-c.blk < c.n {
					return &diskerr.FormatError{FS: "ext", Off: doff, What: fmt.Sprintf("group %d descriptor", n), Msg: fmt.Sprintf("%s at block %d (%d blocks) outside the filesystem's blocks %d-%d", c.what, c.blk, c.n, f.sb.firstDataBlock, f.sb.blocksCount-1)}
				}
			}
			f.groups = append(f.groups, g)
		}
	}
	return nil
}

// inodeTableBlocks is the number of blocks of one group's inode table.
func (f *FS) inodeTableBlocks() uint64 {
	return (uint64(f.sb.inodesPerGroup)*uint64(f.sb.inodeSize) + uint64(f.bs) - 1) / uint64(f.bs)
}
