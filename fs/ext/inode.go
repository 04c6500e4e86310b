package ext

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Reserved inode numbers.
const (
	badBlocksIno  = 1
	rootIno       = 2
	bootLoaderIno = 5
	resizeIno     = 7
	journalIno    = 8
)

// Inode flags (i_flags).
const (
	flagIndex      = 0x1000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
)

// File types in i_mode.
const (
	modeTypeMask = 0xF000
	modeFIFO     = 0x1000
	modeChar     = 0x2000
	modeDir      = 0x4000
	modeBlock    = 0x6000
	modeReg      = 0x8000
	modeSymlink  = 0xA000
	modeSocket   = 0xC000
)

// iBlockOff and iBlockLen place i_block inside an inode.
const (
	iBlockOff = 0x28
	iBlockLen = 60
)

// Inode is the part of an ext inode this package uses.
type Inode struct {
	Num   uint32 // inode number
	Off   int64  // byte offset of the inode in the filesystem
	Mode  uint16 // i_mode: type and permissions
	Links uint16 // i_links_count
	Flags uint32 // i_flags
	// Size is i_size (low and high halves), clamped to the int64 range.
	Size int64
	// FileACL is the block of the inode's external extended attributes
	// (i_file_acl, with its high half on 64bit filesystems), 0 if none.
	FileACL uint64
	// Block is i_block: block pointers, the extent tree's root, a fast
	// symlink's target or the start of inline data.
	Block [iBlockLen]byte
	// extra is the inode's bytes past the 128-byte base (where in-inode
	// extended attributes live); it aliases no cache.
	extra []byte
	// extraOff is the offset inside the inode where extra starts.
	extraOff int
	// csumBad is set when the metadata_csum checksum does not match.
	csumBad bool
}

// ChecksumOK reports whether the inode's metadata_csum checksum matched
// (true without metadata_csum).
func (in *Inode) ChecksumOK() bool { return !in.csumBad }

// IsDir, IsRegular and IsSymlink report the inode's file type.
func (in *Inode) IsDir() bool     { return in.Mode&modeTypeMask == modeDir }
func (in *Inode) IsRegular() bool { return in.Mode&modeTypeMask == modeReg }
func (in *Inode) IsSymlink() bool { return in.Mode&modeTypeMask == modeSymlink }

// HasExtents reports an extent-mapped inode; HasInlineData one whose
// contents are stored inside the inode.
func (in *Inode) HasExtents() bool    { return in.Flags&flagExtents != 0 }
func (in *Inode) HasInlineData() bool { return in.Flags&flagInlineData != 0 }

// isFastSymlink is the kernel's ext4_inode_is_fast_symlink: a symlink
// whose target (shorter than i_block) is stored in i_block.
func (in *Inode) isFastSymlink() bool {
	return in.IsSymlink() && in.Size > 0 && in.Size < iBlockLen && !in.HasInlineData()
}

// inodeOff returns the byte offset of inode n, which must be in range.
func (f *FS) inodeOff(n uint32) int64 {
	g := uint64(n-1) / uint64(f.sb.inodesPerGroup)
	idx := uint64(n-1) % uint64(f.sb.inodesPerGroup)
	return int64(f.groups[g].inodeTable)*f.bs + int64(idx)*int64(f.sb.inodeSize)
}

// Inode reads and decodes inode n.
func (f *FS) Inode(n uint32) (*Inode, error) {
	in := new(Inode)
	buf := make([]byte, f.sb.inodeSize)
	if err := f.readInode(n, in, buf); err != nil {
		return nil, err
	}
	in.extra = append([]byte(nil), in.extra...)
	return in, nil
}

// readInode reads inode n into in, using buf (s_inode_size bytes) for its
// raw bytes; in.extra aliases buf.
func (f *FS) readInode(n uint32, in *Inode, buf []byte) error {
	if n == 0 || n > f.sb.inodesCount {
		return &diskerr.FormatError{FS: "ext", Off: superblockOff, What: fmt.Sprintf("inode %d", n), Msg: fmt.Sprintf("inode number out of range 1-%d", f.sb.inodesCount)}
	}
	off := f.inodeOff(n)
	if gd := &f.groups[uint64(n-1)/uint64(f.sb.inodesPerGroup)]; gd.lost&lostInodeTable != 0 {
		g := uint64(n-1) / uint64(f.sb.inodesPerGroup)
		if gd.lost&lostPastEnd != 0 {
			return tag(&diskerr.FormatError{FS: "ext", Off: off, What: fmt.Sprintf("inode %d", n), Msg: fmt.Sprintf("in group %d, whose inode table lies past the device's end", g)}, ErrTruncated)
		}
		return &diskerr.FormatError{FS: "ext", Off: superblockOff, What: fmt.Sprintf("inode %d", n), Msg: fmt.Sprintf("in group %d, whose inode table is lost (damaged group descriptor)", g)}
	}
	if err := f.cache.Read(buf, off); err != nil {
		return &diskerr.FormatError{FS: "ext", Off: off, What: fmt.Sprintf("inode %d", n), Msg: fmt.Sprintf("reading: %v", err)}
	}
	if err := decodeInode(n, off, buf, in); err != nil {
		return err
	}
	if !f.sb.has64bit() {
		in.FileACL &= 0xFFFFFFFF
	}
	in.csumBad = f.sb.hasMetaCsum() && !f.inodeChecksumOK(n, buf)
	return nil
}

// inodeChecksumOK checks a metadata_csum inode checksum as
// ext2fs_inode_csum_verify does: crc32c of the inode number, i_generation
// and the inode with its checksum fields zeroed; the high 16 bits only
// when i_extra_isize covers i_checksum_hi. An inode of all zeros (never
// used) passes.
func (f *FS) inodeChecksumOK(n uint32, b []byte) bool {
	le := binary.LittleEndian
	hasHi := len(b) > 128 && le.Uint16(b[0x80:]) >= 4
	stored := uint32(le.Uint16(b[0x7C:]))
	if hasHi {
		stored |= uint32(le.Uint16(b[0x82:])) << 16
	}
	crc := crc32cUint32(f.seed, n)
	crc = crc32c(crc, b[0x64:0x68])
	crc = crc32c(crc, b[:0x7C])
	crc = crc32c(crc, zero2)
	if hasHi {
		crc = crc32c(crc, b[0x7E:0x82])
		crc = crc32c(crc, zero2)
		crc = crc32c(crc, b[0x84:])
	} else {
		crc = crc32c(crc, b[0x7E:])
		crc &= 0xFFFF
	}
	if crc == stored {
		return true
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zero2 stands for a zeroed 16-bit checksum field (a package variable: a
// []byte{0, 0} literal passed to crc32 is allocated on every call).
var zero2 = []byte{0, 0}

// crc32cUint32 is crc32c(crc, v as 4 little-endian bytes), without the
// 4-byte slice crc32.Update would make escape once per inode.
func crc32cUint32(crc, v uint32) uint32 {
	for i := 0; i < 4; i++ { // crc32.Update's loop; crc32c does without its inversions
		crc = castagnoli[byte(crc)^byte(v>>(8*i))] ^ crc>>8
	}
	return crc
}

// decodeInode decodes the raw bytes b of inode n found at off.
func decodeInode(n uint32, off int64, b []byte, in *Inode) error {
	if len(b) < 128 {
		return &diskerr.FormatError{FS: "ext", Off: off, What: fmt.Sprintf("inode %d", n), Msg: fmt.Sprintf("short inode: %d bytes", len(b))}
	}
	le := binary.LittleEndian
	*in = Inode{
		Num:     n,
		Off:     off,
		Mode:    le.Uint16(b[0x00:]),
		Links:   le.Uint16(b[0x1A:]),
		Flags:   le.Uint32(b[0x20:]),
		FileACL: uint64(le.Uint32(b[0x68:])) | uint64(le.Uint16(b[0x76:]))<<32,
	}
	size := uint64(le.Uint32(b[0x04:])) | uint64(le.Uint32(b[0x6C:]))<<32
	if size > math.MaxInt64 {
		size = math.MaxInt64
	}
	in.Size = int64(size)
	copy(in.Block[:], b[iBlockOff:iBlockOff+iBlockLen])
	if len(b) > 128 {
		in.extraOff = 128
		in.extra = b[128:]
	}
	return nil
}
