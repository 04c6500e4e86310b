package btrfs

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

const inodeItemSize = 160

// Mode bits (st_mode).
const (
	modeTypeMask = 0o170000
	modeSocket   = 0o140000
	modeSymlink  = 0o120000
	modeReg      = 0o100000
	modeBlock    = 0o060000
	modeDir      = 0o040000
	modeChar     = 0o020000
	modeFIFO     = 0o010000
)

// Inode is the part of a btrfs INODE_ITEM this package uses, with the
// subvolume (tree) and number that name it.
type Inode struct {
	Subvol uint64 // tree id
	Num    uint64
	Size   int64
	NBytes uint64
	Nlink  uint32
	UID    uint32
	GID    uint32
	Mode   uint32
	Flags  uint64
	Mtime  time.Time
	// empty marks the placeholder for a subvolume a snapshot does not
	// hold: a directory with no entries.
	empty bool
}

func (in *Inode) IsDir() bool     { return in.Mode&modeTypeMask == modeDir }
func (in *Inode) IsSymlink() bool { return in.Mode&modeTypeMask == modeSymlink }
func (in *Inode) IsRegular() bool { return in.Mode&modeTypeMask == modeReg }

func parseInodeItem(b []byte, subvol, ino uint64, off int64) (*Inode, error) {
	if len(b) < inodeItemSize {
		return nil, &diskerr.FormatError{FS: "btrfs", Off: off, What: fmt.Sprintf("fs tree %d inode %d", subvol, ino), Msg: fmt.Sprintf("inode item of %d bytes, short of %d", len(b), inodeItemSize)}
	}
	le := binary.LittleEndian
	in := &Inode{
		Subvol: subvol,
		Num:    ino,
		NBytes: le.Uint64(b[24:]),
		Nlink:  le.Uint32(b[40:]),
		UID:    le.Uint32(b[44:]),
		GID:    le.Uint32(b[48:]),
		Mode:   le.Uint32(b[52:]),
		Flags:  le.Uint64(b[64:]),
	}
	size := le.Uint64(b[16:])
	if size > 1<<62 {
		return nil, &diskerr.FormatError{FS: "btrfs", Off: off, What: fmt.Sprintf("fs tree %d inode %d", subvol, ino), Msg: fmt.Sprintf("size %d", size)}
	}
	in.Size = int64(size)
	nsec := int64(le.Uint32(b[136+8:]))
	if nsec > 999999999 {
		nsec = 0
	}
	in.Mtime = time.Unix(int64(le.Uint64(b[136:])), nsec).UTC()
	return in, nil
}
