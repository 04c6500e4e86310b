package ntfs

import (
	"encoding/binary"
	"fmt"
)

// maxAttrList caps the $ATTRIBUTE_LIST value read (the format allows
// 256 KiB).
const maxAttrList = 256 << 10

// maxExtRecords caps the extension records one file may have.
const maxExtRecords = 4096

// attrListRecords decodes an $ATTRIBUTE_LIST value and appends to recs
// the record number of every entry that lives outside the base record
// base, each once, in the order met.
func attrListRecords(b []byte, base uint64, recs []uint64) ([]uint64, error) {
	for off := 0; off < len(b); {
		if off+0x1A > len(b) {
			return recs, fmt.Errorf("attribute list entry at %d: %d bytes left", off, len(b)-off)
		}
		n := int(binary.LittleEndian.Uint16(b[off+4:]))
		if n < 0x1A || n > len(b)-off {
			return recs, fmt.Errorf("attribute list entry at %d: length %d", off, n)
		}
		rec := refRecord(binary.LittleEndian.Uint64(b[off+0x10:]))
		if rec != base && !containsU64(recs, rec) {
			if len(recs) >= maxExtRecords {
				return recs, fmt.Errorf("attribute list names more than %d extension records", maxExtRecords)
			}
			recs = append(recs, rec)
		}
		off += n
	}
	return recs, nil
}

func containsU64(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
