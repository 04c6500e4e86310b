package ufs

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// File types in di_mode (IFMT and friends, sys/ufs/ufs/dinode.h).
const (
	modeTypeMask = 0o170000
	modeFIFO     = 0o010000
	modeChar     = 0o020000
	modeDir      = 0o040000
	modeBlock    = 0o060000
	modeReg      = 0o100000
	modeSymlink  = 0o120000
	modeSocket   = 0o140000
	modeWhiteout = 0o160000
)

// Inode is a decoded UFS1 or UFS2 dinode.
type Inode struct {
	Num     uint64
	Off     int64 // byte offset of the dinode on the device
	Mode    uint16
	Nlink   int16
	Size    int64
	Blocks  uint64 // di_blocks: 512-byte sectors held, indirect blocks included
	Mtime   time.Time
	ExtSize uint32 // di_extsize: bytes of UFS2 extended attributes
	// DB and IB are the direct and indirect block pointers, in fragments
	// (zero: a hole). For a short symbolic link they hold the target
	// instead; shortLink keeps those bytes.
	DB        [nDAddr]int64
	IB        [nIAddr]int64
	ExtB      [2]int64 // di_extb: UFS2 extended attribute blocks
	shortLink []byte
}

func (in *Inode) IsDir() bool     { return in.Mode&modeTypeMask == modeDir }
func (in *Inode) IsSymlink() bool { return in.Mode&modeTypeMask == modeSymlink }
func (in *Inode) IsReg() bool     { return in.Mode&modeTypeMask == modeReg }

// special reports a device, FIFO, socket or whiteout: no contents.
func (in *Inode) special() bool {
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket, modeWhiteout:
		return true
	}
	return false
}

// IsShortLink reports a symbolic link whose target lives in the block
// pointers' bytes (di_size below fs_maxsymlinklen and no blocks).
func (in *Inode) IsShortLink() bool { return in.shortLink != nil }

func inodeErr(ino uint64, off int64, format string, args ...any) error {
	return &diskerr.FormatError{FS: "ufs", Off: off, What: fmt.Sprintf("inode %d", ino), Msg: fmt.Sprintf(format, args...)}
}

// inodeOff returns the byte offset of inode ino, checking it exists.
func (f *FS) inodeOff(ino uint64) (int64, error) {
	if ino < rootIno || ino >= uint64(f.sb.ncg)*uint64(f.sb.ipg) {
		return 0, inodeErr(ino, 0, "inode number outside the filesystem's %d inodes", uint64(f.sb.ncg)*uint64(f.sb.ipg))
	}
	frag, off := f.sb.inodeFrag(ino)
	if frag+int64(f.sb.frag) > f.frags {
		return 0, inodeErr(ino, frag*f.fsize, "inode block %d beyond the volume", frag)
	}
	return frag*f.fsize + off, nil
}

// readInode reads and decodes inode ino.
func (f *FS) readInode(ino uint64) (*Inode, error) {
	off, err := f.inodeOff(ino)
	if err != nil {
		return nil, err
	}
	b := make([]byte, f.sb.dinodeSize)
	if err := f.read(b, off); err != nil {
		return nil, inodeErr(ino, off, "reading: %v", err)
	}
	in := &Inode{Num: ino, Off: off}
	if err := f.parseInode(b, in); err != nil {
		return nil, err
	}
	return in, nil
}

// parseInode decodes dinode b into in (Num and Off already set).
func (f *FS) parseInode(b []byte, in *Inode) error {
	le := binary.LittleEndian
	in.Mode = le.Uint16(b[0:])
	in.Nlink = int16(le.Uint16(b[2:]))
	var ptrs []byte
	if f.sb.ufs2 {
		in.Size = int64(le.Uint64(b[16:]))
		in.Blocks = le.Uint64(b[24:])
		in.Mtime = time.Unix(int64(le.Uint64(b[40:])), int64(int32(le.Uint32(b[64:])))%1e9)
		in.ExtSize = le.Uint32(b[92:])
		in.ExtB[0], in.ExtB[1] = int64(le.Uint64(b[96:])), int64(le.Uint64(b[104:]))
		ptrs = b[112:232]
		for i := range in.DB {
			in.DB[i] = int64(le.Uint64(ptrs[8*i:]))
		}
		for i := range in.IB {
			in.IB[i] = int64(le.Uint64(ptrs[8*(nDAddr+i):]))
		}
	} else {
		in.Size = int64(le.Uint64(b[8:]))
		in.Blocks = uint64(le.Uint32(b[104:]))
		in.Mtime = time.Unix(int64(int32(le.Uint32(b[24:]))), int64(int32(le.Uint32(b[28:])))%1e9)
		ptrs = b[40:100]
		for i := range in.DB {
			in.DB[i] = int64(int32(le.Uint32(ptrs[4*i:])))
		}
		for i := range in.IB {
			in.IB[i] = int64(int32(le.Uint32(ptrs[4*(nDAddr+i):])))
		}
	}
	if in.Size < 0 {
		return inodeErr(in.Num, in.Off, "negative size %d", in.Size)
	}
	if in.Size > f.maxFileSize() {
		return inodeErr(in.Num, in.Off, "size %d beyond what 12 direct and 3 indirect pointers map", in.Size)
	}
	if in.IsSymlink() && in.Size < int64(f.sb.maxsymlink) && in.Blocks == 0 {
		in.shortLink = append([]byte{}, ptrs[:in.Size]...)
	}
	return nil
}

// maxFileSize is the most bytes the block pointers can map.
func (f *FS) maxFileSize() int64 {
	n := f.sb.nindir
	blocks := nDAddr + n + n*n + n*n*n
	if blocks > (1<<62)/f.bsize {
		return 1 << 62
	}
	return blocks * f.bsize
}
