package ntfs

import (
	"encoding/binary"
	"fmt"
)

// File name namespaces of a $FILE_NAME key.
const (
	nsPOSIX    = 0
	nsWin32    = 1
	nsDOS      = 2
	nsWin32DOS = 3
)

// Index entry flags.
const (
	ieSubnode = 1
	ieLast    = 2
)

// indexEntry is one entry of a $I30 index: a file name and the file it
// names.
type indexEntry struct {
	ref       uint64
	namespace byte
	name      []uint16 // valid during the callback only
}

// indexRootInfo decodes the header of an $INDEX_ROOT value: the indexed
// attribute type, the index record size, and the node header's offset.
func indexRootInfo(v []byte) (typ uint32, recSize int64, err error) {
	if len(v) < 0x20 {
		return 0, 0, fmt.Errorf("$INDEX_ROOT of %d bytes", len(v))
	}
	return binary.LittleEndian.Uint32(v), int64(binary.LittleEndian.Uint32(v[8:])), nil
}

// parseIndexNode calls fn for every $FILE_NAME entry of the index node
// whose header starts at b[h:] (h is 0x10 in an $INDEX_ROOT value, 0x18 in
// an INDX record). Entries are read in order up to the last one; subnode
// pointers are not followed (every node of the tree is read once by the
// caller instead, so a looping tree cannot loop here).
func parseIndexNode(b []byte, h int, fn func(e *indexEntry) error) error {
	if h+16 > len(b) {
		return fmt.Errorf("index node header at %#x past the %d bytes", h, len(b))
	}
	first := h + int(binary.LittleEndian.Uint32(b[h:]))
	end := h + int(binary.LittleEndian.Uint32(b[h+4:]))
	if end > len(b) || end < h || first < h+16 || first > end {
		return fmt.Errorf("index node entries %#x-%#x outside the %d bytes", first, end, len(b))
	}
	var e indexEntry
	var name [255]uint16
	for off := first; off < end; {
		if off+16 > end {
			return fmt.Errorf("index entry at %#x: header past the node's end %#x", off, end)
		}
		n := int(binary.LittleEndian.Uint16(b[off+8:]))
		keyLen := int(binary.LittleEndian.Uint16(b[off+10:]))
		flags := binary.LittleEndian.Uint32(b[off+12:])
		if n < 16 || n&7 != 0 || n > end-off {
			return fmt.Errorf("index entry at %#x: length %d", off, n)
		}
		if flags&ieLast != 0 {
			return nil
		}
		if keyLen < 0x42 || 16+keyLen > n {
			return fmt.Errorf("index entry at %#x: key of %d bytes in an entry of %d", off, keyLen, n)
		}
		k := b[off+16 : off+16+keyLen]
		nl := int(k[0x40])
		if 0x42+2*nl > keyLen {
			return fmt.Errorf("index entry at %#x: name of %d characters past its key", off, nl)
		}
		e.ref = binary.LittleEndian.Uint64(b[off:])
		e.namespace = k[0x41]
		for i := 0; i < nl; i++ {
			name[i] = binary.LittleEndian.Uint16(k[0x42+2*i:])
		}
		e.name = name[:nl]
		if err := fn(&e); err != nil {
			return err
		}
		off += n
	}
	return fmt.Errorf("index node: no last entry before %#x", end)
}
