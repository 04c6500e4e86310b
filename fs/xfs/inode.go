package xfs

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The dinode: a core of 100 bytes (version 1 and 2) or 176 bytes (version
// 3, with CRC, inode number and UUID), then the data fork, then the
// attribute fork at di_forkoff*8 bytes into the literal area.
const (
	inodeMagic    = 0x494e // "IN"
	coreSizeV2    = 100
	coreSizeV3    = 176
	inodeCRCOff   = 100
	diFlags2Nrext = 0x10 // XFS_DIFLAG2_NREXT64: 64-bit data extent counter
	diFlags2Big   = 0x08 // XFS_DIFLAG2_BIGTIME: timestamps are nanoseconds since 1901
)

// Data fork formats (di_format).
const (
	fmtDev     = 0
	fmtLocal   = 1
	fmtExtents = 2
	fmtBtree   = 3
)

// File types in di_mode.
const (
	modeTypeMask = 0o170000
	modeFIFO     = 0o010000
	modeChar     = 0o020000
	modeDir      = 0o040000
	modeBlock    = 0o060000
	modeReg      = 0o100000
	modeSymlink  = 0o120000
	modeSocket   = 0o140000
)

// Inode is a decoded XFS inode.
type Inode struct {
	Num      uint64
	Off      int64 // byte offset of the inode on the device
	Mode     uint16
	Version  uint8
	Format   uint8
	Nlink    uint32
	Size     int64
	Nextents uint64 // data fork extents (di_nextents or di_big_nextents)
	Mtime    time.Time
	// fork is the data fork's bytes (a copy, owned by the Inode); forkOff
	// is where they start on the device.
	fork    []byte
	forkOff int64
}

func (in *Inode) IsDir() bool     { return in.Mode&modeTypeMask == modeDir }
func (in *Inode) IsSymlink() bool { return in.Mode&modeTypeMask == modeSymlink }
func (in *Inode) IsReg() bool     { return in.Mode&modeTypeMask == modeReg }

// special reports a device, FIFO or socket: no contents.
func (in *Inode) special() bool {
	switch in.Mode & modeTypeMask {
	case modeChar, modeBlock, modeFIFO, modeSocket:
		return true
	}
	return false
}

// inodeOff locates inode ino: the AG number is above sb_agblklog +
// sb_inopblog bits, the AG block number above sb_inopblog bits, the
// inode's index in its block below.
func (f *FS) inodeOff(ino uint64) (int64, error) {
	sb := f.sb
	shift := uint(sb.agBlkLog) + uint(sb.inopbLog)
	agno := ino >> shift
	agino := ino & (1<<shift - 1)
	agbno := agino >> sb.inopbLog
	idx := agino & (1<<sb.inopbLog - 1)
	if agno >= uint64(sb.agCount) || agbno >= uint64(f.agLength(uint32(agno))) {
		return 0, fmt.Errorf("inode %d (AG %d block %d) outside the filesystem", ino, agno, agbno)
	}
	blk, err := f.agBlockOff(uint32(agno), uint32(agbno))
	if err != nil {
		return 0, fmt.Errorf("inode %d: %w", ino, err)
	}
	return blk + int64(idx)<<sb.inodeLog, nil
}

func inodeErr(ino uint64, off int64, format string, args ...any) error {
	return &diskerr.FormatError{FS: "xfs", Off: off, What: fmt.Sprintf("inode %d", ino), Msg: fmt.Sprintf(format, args...)}
}

// readInode reads and checks inode ino into in, using buf (one inode's
// size) for the raw bytes.
func (f *FS) readInode(ino uint64, in *Inode, buf []byte) error {
	off, err := f.inodeOff(ino)
	if err != nil {
		return &diskerr.FormatError{FS: "xfs", Off: 0, What: fmt.Sprintf("inode %d", ino), Msg: err.Error()}
	}
	buf = buf[:f.sb.inodeSize]
	if err := f.read(buf, off); err != nil {
		return inodeErr(ino, off, "reading: %v", err)
	}
	return f.parseInode(ino, off, buf, in)
}

// parseInode decodes the inode ino at device offset off from b.
func (f *FS) parseInode(ino uint64, off int64, b []byte, in *Inode) error {
	be := binary.BigEndian
	if m := be.Uint16(b); m != inodeMagic {
		return inodeErr(ino, off, "bad magic %#04x, want IN", m)
	}
	ver := b[4]
	core := coreSizeV2
	switch {
	case ver == 3 && f.sb.v5():
		core = coreSizeV3
		if !cksumOK(b, inodeCRCOff) {
			return inodeErr(ino, off, "CRC mismatch")
		}
		if n := be.Uint64(b[152:]); n != ino {
			return inodeErr(ino, off, "inode records number %d", n)
		}
	case (ver == 1 || ver == 2) && !f.sb.v5():
	default:
		return inodeErr(ino, off, "inode version %d on a version %d filesystem", ver, f.sb.version())
	}
	*in = Inode{Num: ino, Off: off, Mode: be.Uint16(b[2:]), Version: ver, Format: b[5]}
	if ver == 1 {
		in.Nlink = uint32(be.Uint16(b[6:]))
	} else {
		in.Nlink = be.Uint32(b[16:])
	}
	size := be.Uint64(b[56:])
	if size > 1<<63-1 {
		return inodeErr(ino, off, "size %d too large", size)
	}
	in.Size = int64(size)
	var flags2 uint64
	if ver == 3 {
		flags2 = be.Uint64(b[120:])
	}
	if flags2&diFlags2Nrext != 0 {
		in.Nextents = be.Uint64(b[24:])
	} else {
		in.Nextents = uint64(be.Uint32(b[76:]))
	}
	in.Mtime = inodeTime(be.Uint64(b[40:]), flags2&diFlags2Big != 0)
	// The data fork ends where the attribute fork begins.
	forkEnd := len(b)
	if fo := int(b[82]); fo != 0 {
		forkEnd = core + fo*8
		if forkEnd > len(b) {
			return inodeErr(ino, off, "attribute fork offset %d past the inode's %d bytes", fo*8, len(b)-core)
		}
	}
	in.fork = append([]byte(nil), b[core:forkEnd]...)
	in.forkOff = off + int64(core)
	switch in.Format {
	case fmtDev, fmtLocal, fmtExtents, fmtBtree:
	default:
		return inodeErr(ino, off, "unknown data fork format %d", in.Format)
	}
	switch in.Mode & modeTypeMask {
	case modeReg, modeDir, modeSymlink:
		if in.Format == fmtDev {
			return inodeErr(ino, off, "mode %#o with device fork format", in.Mode)
		}
	case modeChar, modeBlock, modeFIFO, modeSocket:
	case 0:
		return inodeErr(ino, off, "free inode (mode 0)")
	default:
		return inodeErr(ino, off, "unknown file type in mode %#o", in.Mode)
	}
	if in.Format == fmtLocal && in.Size > int64(len(in.fork)) {
		return inodeErr(ino, off, "local format with size %d larger than its %d-byte fork", in.Size, len(in.fork))
	}
	return nil
}

// inodeTime decodes a timestamp: seconds and nanoseconds as two 32-bit
// halves, or with bigtime nanoseconds since 1901-12-13 as one 64-bit
// count.
func inodeTime(t uint64, big bool) time.Time {
	if big {
		const bias = 1 << 31 // seconds from 1901-12-13T20:45:52Z to the Unix epoch
		return time.Unix(int64(t/1e9)-bias, int64(t%1e9)).UTC()
	}
	sec := int64(int32(t >> 32))
	nsec := int64(uint32(t))
	if nsec > 999999999 {
		nsec = 0
	}
	return time.Unix(sec, nsec).UTC()
}
