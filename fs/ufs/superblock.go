package ufs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Superblock locations and magics (FreeBSD sys/ufs/ffs/fs.h): UFS2 puts
// its superblock at 64 KiB (SBLOCK_UFS2), UFS1 at 8 KiB (SBLOCK_UFS1).
// struct fs is read from its first sbSize bytes; fs_magic sits at 1372.
const (
	sbUFS2Off = 65536
	sbUFS1Off = 8192
	sbSize    = 1376
	magicUFS2 = 0x19540119 // FS_UFS2_MAGIC
	magicUFS1 = 0x00011954 // FS_UFS1_MAGIC
	rootIno   = 2          // UFS_ROOTINO
	nDAddr    = 12         // UFS_NDADDR: direct block pointers
	nIAddr    = 3          // UFS_NIADDR: single, double, triple indirect
)

// Limits on what a superblock may say, from FreeBSD's ffs_sbget checks
// (MINBSIZE, MAXBSIZE, MAXFRAG).
const (
	minBSize = 4096
	maxBSize = 65536
	maxFrag  = 8
)

// superblock holds the fields of struct fs the reader uses.
type superblock struct {
	off        int64 // where it was found
	ufs2       bool
	sblkno     int32 // fs_sblkno: superblock copy in each cylinder group, frags from cgstart
	cblkno     int32 // fs_cblkno: cylinder group block
	iblkno     int32 // fs_iblkno: inode blocks, frags from cgstart
	dblkno     int32 // fs_dblkno: first data frag after the inodes
	cgoffset   int32 // fs_old_cgoffset (UFS1 only)
	cgmask     int32 // fs_old_cgmask (UFS1 only)
	ncg        uint32
	bsize      int32
	fsize      int32
	frag       int32
	fragshift  int32
	inopb      uint32
	ipg        uint32
	fpg        int32
	cssize     int32
	cgsize     int32
	csaddr     int64
	sblockloc  int64 // fs_sblockloc (UFS2): where this superblock belongs
	size       int64 // fs_size: frags in the filesystem
	volname    string
	id         [2]uint32
	maxsymlink int32
	dinodeSize int64 // 256 (UFS2) or 128 (UFS1)
	ptrSize    int64 // bytes of a block pointer: 8 (UFS2) or 4 (UFS1)
	nindir     int64 // block pointers in an indirect block
}

// sbErr is a superblock error at off.
func sbErr(off int64, msg string, args ...any) error {
	return &diskerr.FormatError{FS: "ufs", Off: off, What: "superblock", Msg: fmt.Sprintf(msg, args...)}
}

// parseSuperblock decodes and checks the superblock b (sbSize bytes) read
// at off. devSize is the device's size in bytes.
func parseSuperblock(b []byte, off, devSize int64) (*superblock, error) {
	le := binary.LittleEndian
	i32 := func(o int) int32 { return int32(le.Uint32(b[o:])) }
	u32 := func(o int) uint32 { return le.Uint32(b[o:]) }
	i64 := func(o int) int64 { return int64(le.Uint64(b[o:])) }
	magic := u32(1372)
	sb := &superblock{off: off}
	switch magic {
	case magicUFS2:
		sb.ufs2 = true
	case magicUFS1:
	default:
		be := binary.BigEndian.Uint32(b[1372:])
		if be == magicUFS2 || be == magicUFS1 {
			return nil, sbErr(off, "big-endian UFS (sparc64, powerpc) is not supported")
		}
		return nil, sbErr(off, "bad magic %#x", magic)
	}
	sb.sblkno, sb.cblkno, sb.iblkno, sb.dblkno = i32(8), i32(12), i32(16), i32(20)
	sb.cgoffset, sb.cgmask = i32(24), i32(28)
	sb.ncg, sb.bsize, sb.fsize, sb.frag = u32(44), i32(48), i32(52), i32(56)
	sb.fragshift = i32(96)
	sb.inopb = u32(120)
	sb.ipg, sb.fpg = u32(184), i32(188)
	sb.cssize, sb.cgsize = i32(156), i32(160)
	sb.id = [2]uint32{u32(144), u32(148)}
	sb.maxsymlink = i32(1320)
	if sb.ufs2 {
		sb.size = i64(1080)
		sb.csaddr = i64(1096)
		sb.sblockloc = i64(1000)
		sb.dinodeSize, sb.ptrSize = 256, 8
	} else {
		// UFS1 keeps its sizes in the 32-bit fs_old_* fields.
		sb.size = int64(i32(36))
		sb.csaddr = int64(i32(152))
		sb.dinodeSize, sb.ptrSize = 128, 4
	}
	vol := b[680:712]
	for i, c := range vol {
		if c == 0 {
			vol = vol[:i]
			break
		}
	}
	sb.volname = string(vol)

	switch {
	case sb.bsize < minBSize || sb.bsize > maxBSize || sb.bsize&(sb.bsize-1) != 0:
		return nil, sbErr(off, "bad block size %d", sb.bsize)
	case sb.frag < 1 || sb.frag > maxFrag || sb.frag&(sb.frag-1) != 0:
		return nil, sbErr(off, "bad fragments per block %d", sb.frag)
	case sb.fsize*sb.frag != sb.bsize:
		return nil, sbErr(off, "fragment size %d times %d fragments is not the block size %d", sb.fsize, sb.frag, sb.bsize)
	case sb.fragshift < 0 || 1<<sb.fragshift != sb.frag:
		return nil, sbErr(off, "bad fragment shift %d for %d fragments per block", sb.fragshift, sb.frag)
	case sb.ncg < 1:
		return nil, sbErr(off, "no cylinder groups")
	case sb.ipg < 1 || sb.fpg < sb.frag:
		return nil, sbErr(off, "bad cylinder group: %d inodes, %d fragments", sb.ipg, sb.fpg)
	case int64(sb.inopb) != int64(sb.bsize)/sb.dinodeSize:
		return nil, sbErr(off, "%d inodes per block with a block size of %d", sb.inopb, sb.bsize)
	case sb.ipg%sb.inopb != 0:
		return nil, sbErr(off, "%d inodes per group is not a multiple of %d per block", sb.ipg, sb.inopb)
	case sb.iblkno < 0 || sb.iblkno >= sb.fpg:
		return nil, sbErr(off, "inode blocks at fragment %d outside a %d-fragment cylinder group", sb.iblkno, sb.fpg)
	case int64(sb.iblkno)+int64(sb.ipg/sb.inopb)<<sb.fragshift > int64(sb.fpg):
		return nil, sbErr(off, "%d inodes from fragment %d do not fit a %d-fragment cylinder group", sb.ipg, sb.iblkno, sb.fpg)
	case sb.size < 1:
		return nil, sbErr(off, "filesystem of %d fragments", sb.size)
	case int64(sb.ncg-1)*int64(sb.fpg) >= sb.size:
		return nil, sbErr(off, "%d cylinder groups of %d fragments past the filesystem's %d fragments", sb.ncg, sb.fpg, sb.size)
	case sb.size > devSize/int64(sb.fsize):
		return nil, sbErr(off, "filesystem of %d bytes larger than the device's %d bytes", sb.size*int64(sb.fsize), devSize)
	}
	if !sb.ufs2 && (sb.cgoffset < 0 || sb.cgoffset > sb.fpg) {
		return nil, sbErr(off, "bad cylinder group offset %d", sb.cgoffset)
	}
	if sb.maxsymlink <= 0 || int64(sb.maxsymlink) > (nDAddr+nIAddr)*sb.ptrSize {
		// fs_maxsymlinklen is 120 (UFS2) or 60 (UFS1) on every
		// filesystem FreeBSD and makefs create: the pointers' bytes.
		sb.maxsymlink = int32((nDAddr + nIAddr) * sb.ptrSize)
	}
	sb.nindir = int64(sb.bsize) / sb.ptrSize
	return sb, nil
}

// cgStart is the first fragment of cylinder group c (cgstart): UFS1
// staggers its groups' metadata by fs_old_cgoffset.
func (sb *superblock) cgStart(c uint32) int64 {
	base := int64(c) * int64(sb.fpg)
	if !sb.ufs2 {
		base += int64(sb.cgoffset) * int64(int32(c) & ^sb.cgmask)
	}
	return base
}

// inodeFrag returns the fragment holding inode ino and the inode's byte
// offset within that block (ino_to_fsba, ino_to_fsbo).
func (sb *superblock) inodeFrag(ino uint64) (frag int64, off int64) {
	cg := uint32(ino / uint64(sb.ipg))
	idx := ino % uint64(sb.ipg)
	frag = sb.cgStart(cg) + int64(sb.iblkno) + int64(idx/uint64(sb.inopb))<<sb.fragshift
	return frag, int64(idx%uint64(sb.inopb)) * sb.dinodeSize
}
