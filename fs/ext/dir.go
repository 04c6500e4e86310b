package ext

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Directory entry (ext4_dir_entry_2) layout.
const (
	direntHdrLen = 8
	// csumTailType is the file type of the metadata_csum tail dirent
	// (inode 0, rec_len 12, name_len 0).
	csumTailType = 0xDE
)

// dirent is one live entry of a directory block.
type dirent struct {
	ino  uint32
	name []byte // aliases the block
}

// parseDirBlock calls fn for each entry of directory block b (at offset
// off in the filesystem) with a non-zero inode, "." and ".." excluded.
// An htree directory's index blocks parse as blocks of empty entries
// (dx_root's ".." covers the index; a dx_node starts with a fake entry of
// inode 0 spanning the block), so every block of a directory is read this
// way, as e2fsck and The Sleuth Kit do. On a malformed entry it stops and
// returns an error naming its offset; the entries before it were passed
// to fn.
func parseDirBlock(b []byte, off int64, filetype bool, bs int64, fn func(dirent) error) error {
	le := binary.LittleEndian
	for p := 0; p < len(b); {
		if len(b)-p < direntHdrLen {
			return &diskerr.FormatError{FS: "ext", Off: off + int64(p), What: "", Msg: fmt.Sprintf("%d bytes left in block, too few for an entry", len(b)-p)}
		}
		ino := le.Uint32(b[p:])
		recLen := int(le.Uint16(b[p+4:]))
		if bs >= 65536 {
			// ext4_rec_len_from_disk for 64 KiB blocks.
			if recLen == 65535 || recLen == 0 {
				recLen = int(bs)
			} else {
				recLen = recLen&65532 | (recLen&3)<<16
			}
		}
		nameLen := int(b[p+6])
		if !filetype {
			nameLen = int(le.Uint16(b[p+6:]))
		}
		switch {
		case recLen < direntHdrLen:
			return &diskerr.FormatError{FS: "ext", Off: off + int64(p), What: "", Msg: fmt.Sprintf("rec_len %d too small", recLen)}
		case recLen%4 != 0:
			return &diskerr.FormatError{FS: "ext", Off: off + int64(p), What: "", Msg: fmt.Sprintf("rec_len %d not a multiple of 4", recLen)}
		case recLen > len(b)-p:
			return &diskerr.FormatError{FS: "ext", Off: off + int64(p), What: "", Msg: fmt.Sprintf("rec_len %d past the end of the block (%d bytes left)", recLen, len(b)-p)}
		case nameLen+direntHdrLen > recLen:
			return &diskerr.FormatError{FS: "ext", Off: off + int64(p), What: "", Msg: fmt.Sprintf("name_len %d does not fit rec_len %d", nameLen, recLen)}
		}
		if ino != 0 {
			name := b[p+direntHdrLen : p+direntHdrLen+nameLen]
			dot := nameLen == 1 && name[0] == '.' || nameLen == 2 && name[0] == '.' && name[1] == '.'
			if !dot && nameLen > 0 {
				if err := fn(dirent{ino: ino, name: name}); err != nil {
					return err
				}
			}
		}
		p += recLen
	}
	return nil
}
