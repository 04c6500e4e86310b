package xfs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Directories come in four shapes. A shortform directory lives in the
// inode's data fork (local format). The others are made of directory
// blocks (sb_dirblklog filesystem blocks each) mapped like a file's data:
// a block directory has one block whose entries end before a tail of hash
// leaves; leaf and node directories keep their entries in data blocks
// below XFS_DIR2_LEAF_OFFSET (32 GiB into the directory) and their hash
// index and free-space blocks above it. Only the data blocks are needed
// to list the entries.
const (
	dirLeafOffset = 1 << 35    // XFS_DIR2_LEAF_OFFSET in bytes
	xd2bMagic     = 0x58443242 // "XD2B": version 4 block directory
	xd2dMagic     = 0x58443244 // "XD2D": version 4 data block
	xdb3Magic     = 0x58444233 // "XDB3": version 5 block directory
	xdd3Magic     = 0x58444433 // "XDD3": version 5 data block
	dataHdrV4     = 16         // magic + 3 bestfree
	dataHdrV5     = 64         // xfs_dir3_blk_hdr (48) + 3 bestfree + pad
	dirCRCOff     = 4
	dirFreeTag    = 0xffff
)

// File types in directory entries (ftype).
const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
	ftSymlink = 7
	ftMax     = 7
)

// dirent is one directory entry. name aliases the block being parsed.
type dirent struct {
	name  []byte
	ino   uint64
	ftype uint8
	off   int64 // device offset of the entry, for messages (-1 if unknown)
}

func dirErr(dir uint64, off int64, what, format string, args ...any) error {
	return &diskerr.FormatError{FS: "xfs", Off: off, What: fmt.Sprintf("inode %d %s", dir, what), Msg: fmt.Sprintf(format, args...)}
}

// parseShortform calls fn for each entry of the shortform directory in
// fork (at device offset off) of directory dir. It also returns the
// parent's inode number.
func parseShortform(fork []byte, off int64, dir uint64, ftype bool, fn func(dirent) error) (uint64, error) {
	if len(fork) < 6 {
		return 0, dirErr(dir, off, "shortform directory", "%d bytes, too short for the header", len(fork))
	}
	count := int(fork[0])
	i8 := fork[1] != 0
	isz := 4
	if i8 {
		isz = 8
	}
	p := 2 + isz
	if p > len(fork) {
		return 0, dirErr(dir, off, "shortform directory", "header past the fork's %d bytes", len(fork))
	}
	parent := readIno(fork[2:], isz)
	extra := 0
	if ftype {
		extra = 1
	}
	for i := range count {
		if p+3 > len(fork) {
			return parent, dirErr(dir, off+int64(p), "shortform directory", "entry %d of %d past the fork's %d bytes", i, count, len(fork))
		}
		nl := int(fork[p])
		if nl == 0 {
			return parent, dirErr(dir, off+int64(p), "shortform directory", "entry %d has an empty name", i)
		}
		end := p + 3 + nl + extra + isz
		if end > len(fork) {
			return parent, dirErr(dir, off+int64(p), "shortform directory", "entry %d of %d bytes past the fork's %d bytes", i, end-p, len(fork))
		}
		de := dirent{name: fork[p+3 : p+3+nl], off: off + int64(p)}
		if ftype {
			de.ftype = fork[p+3+nl]
		}
		de.ino = readIno(fork[p+3+nl+extra:], isz)
		if err := fn(de); err != nil {
			return parent, err
		}
		p = end
	}
	return parent, nil
}

func readIno(b []byte, n int) uint64 {
	if n == 8 {
		return binary.BigEndian.Uint64(b) & (1<<56 - 1)
	}
	return uint64(binary.BigEndian.Uint32(b))
}

// parseDataBlock calls fn for each entry of the directory block b (one
// directory block, at device offset off or -1 when it is not contiguous)
// of directory dir, "." and ".." excluded. Blocks of either kind (block
// directory or data block) are accepted; others are an error. dblk is the
// block's logical directory offset, for messages.
func (f *FS) parseDataBlock(b []byte, off int64, dir uint64, dblk int64, fn func(dirent) error) error {
	be := binary.BigEndian
	where := fmt.Sprintf("directory block at %#x", dblk)
	at := off
	if at < 0 {
		at = 0
	}
	magic := be.Uint32(b)
	hdr := dataHdrV4
	block := false
	if f.sb.v5() {
		hdr = dataHdrV5
		switch magic {
		case xdb3Magic:
			block = true
		case xdd3Magic:
		default:
			return dirErr(dir, at, where, "bad magic %#08x, want XDB3 or XDD3", magic)
		}
		if !cksumOK(b, dirCRCOff) {
			return dirErr(dir, at, where, "CRC mismatch")
		}
		if o := be.Uint64(b[40:]); o != dir {
			return dirErr(dir, at, where, "block owned by inode %d", o)
		}
	} else {
		switch magic {
		case xd2bMagic:
			block = true
		case xd2dMagic:
		default:
			return dirErr(dir, at, where, "bad magic %#08x, want XD2B or XD2D", magic)
		}
	}
	end := len(b)
	if block {
		// Tail: count and stale of the hash leaves, which precede it.
		n := int64(be.Uint32(b[len(b)-8:]))
		if n > int64(len(b)) || int64(len(b))-8-n*8 < int64(hdr) {
			return dirErr(dir, at+int64(len(b)-8), where, "%d leaf entries do not fit the block", n)
		}
		end = len(b) - 8 - int(n)*8
	}
	ftype := f.sb.hasFtype()
	extra := 0
	if ftype {
		extra = 1
	}
	for p := hdr; p < end; {
		if end-p < 8 {
			return dirErr(dir, at+int64(p), where, "%d bytes left at the end of the entries", end-p)
		}
		if be.Uint16(b[p:]) == dirFreeTag {
			l := int(be.Uint16(b[p+2:]))
			if l < 8 || l%8 != 0 || l > end-p {
				return dirErr(dir, at+int64(p), where, "unused entry of %d bytes (%d left)", l, end-p)
			}
			p += l
			continue
		}
		nl := int(b[p+8])
		size := (8 + 1 + nl + extra + 2 + 7) &^ 7
		if nl == 0 || size > end-p {
			return dirErr(dir, at+int64(p), where, "entry with a name of %d bytes (%d left)", nl, end-p)
		}
		if tag := int(be.Uint16(b[p+size-2:])); tag != p {
			return dirErr(dir, at+int64(p), where, "entry's tag %#x, want %#x", tag, p)
		}
		de := dirent{ino: be.Uint64(b[p:]), name: b[p+9 : p+9+nl], off: -1}
		if off >= 0 {
			de.off = off + int64(p)
		}
		if ftype {
			de.ftype = b[p+9+nl]
		}
		p += size
		if isDot(de.name) {
			continue
		}
		if err := fn(de); err != nil {
			return err
		}
	}
	return nil
}

func isDot(n []byte) bool {
	return len(n) == 1 && n[0] == '.' || len(n) == 2 && n[0] == '.' && n[1] == '.'
}
