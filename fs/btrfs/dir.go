package btrfs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

const dirItemHdr = 30 // btrfs_dir_item: location, transid, data_len, name_len, type

// maxNameLen is BTRFS_NAME_LEN.
const maxNameLen = 255

// dirEntry is one btrfs_dir_item: the name and what it points to, an
// inode (location type INODE_ITEM) or a subvolume (ROOT_ITEM).
type dirEntry struct {
	location key
	typ      uint8
	name     []byte // aliases the item's data
}

// parseDirItems decodes the entries packed in a DIR_ITEM (several when
// names collide on their hash) or a DIR_INDEX (one); off is where b lies
// on disk, for errors.
func parseDirItems(b []byte, off int64, fn func(dirEntry) error) error {
	le := binary.LittleEndian
	for p := 0; p < len(b); {
		if len(b)-p < dirItemHdr {
			return &diskerr.FormatError{FS: "btrfs", Off: off + int64(p), What: "dir item", Msg: fmt.Sprintf("%d bytes, short of a header", len(b)-p)}
		}
		h := b[p:]
		dataLen, nameLen := int(le.Uint16(h[25:])), int(le.Uint16(h[27:]))
		if nameLen == 0 || nameLen > maxNameLen {
			return &diskerr.FormatError{FS: "btrfs", Off: off + int64(p), What: "dir item", Msg: fmt.Sprintf("name of %d bytes", nameLen)}
		}
		end := dirItemHdr + nameLen + dataLen
		if end > len(h) {
			return &diskerr.FormatError{FS: "btrfs", Off: off + int64(p), What: "dir item", Msg: fmt.Sprintf("name and data of %d bytes beyond the item's %d", nameLen+dataLen, len(h)-dirItemHdr)}
		}
		d := dirEntry{location: parseKey(h), typ: h[29], name: h[dirItemHdr : dirItemHdr+nameLen]}
		if err := fn(d); err != nil {
			return err
		}
		p += end
	}
	return nil
}
