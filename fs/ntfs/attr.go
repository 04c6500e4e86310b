package ntfs

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// Attribute types.
const (
	atStandardInfo   = 0x10
	atAttributeList  = 0x20
	atFileName       = 0x30
	atVolumeName     = 0x60
	atData           = 0x80
	atIndexRoot      = 0x90
	atIndexAlloc     = 0xA0
	atBitmap         = 0xB0
	atEnd            = 0xFFFFFFFF
	attrCompressed   = 0x0001
	attrSparse       = 0x8000
	attrHeaderMinLen = 0x18
)

// attr is one attribute record inside an MFT record.
type attr struct {
	typ       uint32
	off       int // offset of the attribute in its record
	length    int
	resident  bool
	name      string
	flags     uint16
	id        uint16
	valueOff  int // resident: offset of the value in the record
	valueLen  int
	startVCN  int64 // non-resident
	lastVCN   int64
	runsOff   int // non-resident: offset of the run list in the record
	allocSize int64
	dataSize  int64
	initSize  int64
	compUnit  int
}

// parseAttrs decodes the attributes of record r, calling fn for each in
// order. It stops at the end marker, at the record's used size, or at the
// first malformed header, which it returns as an error.
func parseAttrs(r *record, fn func(a *attr) error) error {
	b := r.buf[:r.used]
	var a attr
	for off := r.attrOff; ; {
		if off+4 > len(b) {
			return fmt.Errorf("attribute at %#x: no end marker before the used size %d", off, len(b))
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == atEnd {
			return nil
		}
		if off+attrHeaderMinLen > len(b) {
			return fmt.Errorf("attribute %#x at %#x: header past the used size %d", typ, off, len(b))
		}
		if err := decodeAttr(b, off, &a); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		off += a.length
	}
}

// decodeAttr decodes the attribute header at b[off:].
func decodeAttr(b []byte, off int, a *attr) error {
	h := b[off:]
	*a = attr{typ: binary.LittleEndian.Uint32(h), off: off}
	a.length = int(binary.LittleEndian.Uint32(h[4:]))
	if a.length < attrHeaderMinLen || a.length > len(h) || a.length&7 != 0 {
		return fmt.Errorf("attribute %#x at %#x: length %d (record has %d bytes left)", a.typ, off, a.length, len(h))
	}
	h = h[:a.length]
	a.resident = h[8] == 0
	nameLen := int(h[9])
	nameOff := int(binary.LittleEndian.Uint16(h[0x0A:]))
	a.flags = binary.LittleEndian.Uint16(h[0x0C:])
	a.id = binary.LittleEndian.Uint16(h[0x0E:])
	if nameLen > 0 {
		if nameOff+2*nameLen > a.length {
			return fmt.Errorf("attribute %#x at %#x: name past the attribute", a.typ, off)
		}
		a.name = utf16String(h[nameOff : nameOff+2*nameLen])
	}
	if a.resident {
		a.valueLen = int(binary.LittleEndian.Uint32(h[0x10:]))
		vo := int(binary.LittleEndian.Uint16(h[0x14:]))
		if vo > a.length || a.valueLen > a.length-vo {
			return fmt.Errorf("attribute %#x at %#x: resident value of %d bytes at %#x past the attribute's %d", a.typ, off, a.valueLen, vo, a.length)
		}
		a.valueOff = off + vo
		return nil
	}
	if a.length < 0x40 {
		return fmt.Errorf("attribute %#x at %#x: non-resident header of %d bytes", a.typ, off, a.length)
	}
	a.startVCN = int64(binary.LittleEndian.Uint64(h[0x10:]))
	a.lastVCN = int64(binary.LittleEndian.Uint64(h[0x18:]))
	ro := int(binary.LittleEndian.Uint16(h[0x20:]))
	a.compUnit = int(binary.LittleEndian.Uint16(h[0x22:]))
	a.allocSize = int64(binary.LittleEndian.Uint64(h[0x28:]))
	a.dataSize = int64(binary.LittleEndian.Uint64(h[0x30:]))
	a.initSize = int64(binary.LittleEndian.Uint64(h[0x38:]))
	if ro < 0x40 || ro > a.length {
		return fmt.Errorf("attribute %#x at %#x: run list at %#x outside the attribute", a.typ, off, ro)
	}
	if a.startVCN < 0 || a.startVCN > maxRunClusters || a.lastVCN < a.startVCN-1 || a.lastVCN > maxRunClusters {
		return fmt.Errorf("attribute %#x at %#x: VCNs %d-%d", a.typ, off, a.startVCN, a.lastVCN)
	}
	if a.dataSize < 0 || a.allocSize < 0 {
		return fmt.Errorf("attribute %#x at %#x: negative size", a.typ, off)
	}
	a.runsOff = off + ro
	a.valueOff = off + a.length // end of the run list
	return nil
}

// value returns a resident attribute's value inside the record.
func (a *attr) value(r *record) []byte { return r.buf[a.valueOff : a.valueOff+a.valueLen] }

// runBytes returns a non-resident attribute's run list bytes.
func (a *attr) runBytes(r *record) []byte { return r.buf[a.runsOff:a.valueOff] }

// utf16String decodes a little-endian UTF-16 name.
func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// typeName names an attribute type as TSK and Microsoft do.
func typeName(t uint32) string {
	switch t {
	case atStandardInfo:
		return "$STANDARD_INFORMATION"
	case atAttributeList:
		return "$ATTRIBUTE_LIST"
	case atFileName:
		return "$FILE_NAME"
	case 0x40:
		return "$OBJECT_ID"
	case 0x50:
		return "$SECURITY_DESCRIPTOR"
	case atVolumeName:
		return "$VOLUME_NAME"
	case 0x70:
		return "$VOLUME_INFORMATION"
	case atData:
		return "$DATA"
	case atIndexRoot:
		return "$INDEX_ROOT"
	case atIndexAlloc:
		return "$INDEX_ALLOCATION"
	case atBitmap:
		return "$BITMAP"
	case 0xC0:
		return "$REPARSE_POINT"
	case 0xD0:
		return "$EA_INFORMATION"
	case 0xE0:
		return "$EA"
	case 0x100:
		return "$LOGGED_UTILITY_STREAM"
	}
	return fmt.Sprintf("attribute %#x", t)
}
