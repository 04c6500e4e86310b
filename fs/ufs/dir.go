package ufs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// A directory's contents are DIRBLKSIZ (512-byte) chunks of struct
// direct records (sys/ufs/ufs/dir.h, the 4.4BSD format):
//
//	u32 d_ino; u16 d_reclen; u8 d_type; u8 d_namlen; char d_name[];
//
// Records never cross a chunk; d_reclen takes a deleted neighbour's
// space; d_ino 0 is a free slot.
const (
	dirBlkSize = 512
	direntHdr  = 8
	maxNameLen = 255
)

// dirent is one directory record.
type dirent struct {
	ino  uint64
	typ  uint8
	name []byte // valid until the next chunk is read
}

func dirErr(dir uint64, off int64, format string, args ...any) error {
	return &diskerr.FormatError{FS: "ufs", Off: off, What: fmt.Sprintf("inode %d directory", dir), Msg: fmt.Sprintf(format, args...)}
}

// parseDirChunk calls fn for each live entry of the chunk b, "." and ".."
// excluded. off is the chunk's device offset (for errors), dir the
// directory's inode number.
func parseDirChunk(b []byte, dir uint64, off int64, fn func(dirent) error) error {
	for pos := 0; pos < len(b); {
		if len(b)-pos < direntHdr {
			return dirErr(dir, off+int64(pos), "record header past the chunk's end")
		}
		ino := binary.LittleEndian.Uint32(b[pos:])
		reclen := int(binary.LittleEndian.Uint16(b[pos+4:]))
		typ, namlen := b[pos+6], int(b[pos+7])
		if reclen < direntHdr || reclen%4 != 0 || reclen > len(b)-pos {
			return dirErr(dir, off+int64(pos), "bad record length %d", reclen)
		}
		if ino != 0 {
			if namlen == 0 || direntHdr+namlen > reclen {
				return dirErr(dir, off+int64(pos), "name of %d bytes in a %d-byte record", namlen, reclen)
			}
			name := b[pos+direntHdr : pos+direntHdr+namlen]
			if bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0 {
				return dirErr(dir, off+int64(pos), "bad name %q", name)
			}
			if !bytes.Equal(name, []byte(".")) && !bytes.Equal(name, []byte("..")) {
				if err := fn(dirent{ino: uint64(ino), typ: typ, name: name}); err != nil {
					return err
				}
			}
		}
		pos += reclen
	}
	return nil
}

// scanDir calls fn for every entry of directory in, "." and ".."
// excluded. A malformed chunk is an error.
func (f *FS) scanDir(in *Inode, fn func(dirent) error) error {
	if in.Size%dirBlkSize != 0 {
		return dirErr(in.Num, in.Off, "size %d is not a multiple of %d", in.Size, dirBlkSize)
	}
	data, _, err := f.mapInode(in, false)
	if err != nil {
		return err
	}
	c := &fsfile.Extents{R: f.r, Size: in.Size, Ext: data}
	buf := make([]byte, dirBlkSize)
	for _, e := range data {
		for pos := e.FileOff; pos < e.FileOff+e.Len && pos < in.Size; pos += dirBlkSize {
			if _, err := c.ReadAt(buf, pos); err != nil && err != io.EOF {
				return dirErr(in.Num, e.Off+pos-e.FileOff, "reading: %v", err)
			}
			if err := parseDirChunk(buf, in.Num, e.Off+pos-e.FileOff, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
