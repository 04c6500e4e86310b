package rpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Header tags read here (rpm's include/rpm/rpmtag.h).
const (
	TagName        = 1000
	TagVersion     = 1001
	TagRelease     = 1002
	TagEpoch       = 1003
	TagSummary     = 1004
	TagDescription = 1005
	TagVendor      = 1011
	TagURL         = 1020
	TagArch        = 1022
	TagSourceRPM   = 1044
)

// Header entry data types.
const (
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// rpm's own limits on a header (lib/header.c).
const (
	maxIndex = 0xffff
	maxData  = 0x0fffffff
)

// Header is an rpm package header as stored in the database: the index
// count and data length (two big-endian int32), the index entries of 16
// bytes (tag, type, offset, count) and the data store. The lead and the
// header magic of a .rpm file are not stored.
type Header struct {
	index map[int32]entry
	data  []byte
}

type entry struct {
	typ    uint32
	off    uint32
	count  uint32
	entOff int // offset of the index entry in the blob, for errors
}

// ParseHeader checks the blob's counts against its length and indexes its
// entries. The data is read lazily by String and Int32, which check every
// offset.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("rpm header: %d bytes, shorter than the counts", len(b))
	}
	il := binary.BigEndian.Uint32(b)
	dl := binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxIndex {
		return nil, fmt.Errorf("rpm header: bad index count %d", il)
	}
	if dl > maxData {
		return nil, fmt.Errorf("rpm header: bad data length %d", dl)
	}
	need := 8 + 16*int64(il) + int64(dl)
	if need > int64(len(b)) {
		return nil, fmt.Errorf("rpm header: %d index entries and %d data bytes need %d bytes, blob has %d", il, dl, need, len(b))
	}
	h := &Header{index: make(map[int32]entry, il), data: b[8+16*int(il) : need]}
	for i := 0; i < int(il); i++ {
		e := b[8+16*i:]
		tag := int32(binary.BigEndian.Uint32(e))
		if _, dup := h.index[tag]; dup {
			continue // the first wins, as the immutable region comes first
		}
		h.index[tag] = entry{typ: binary.BigEndian.Uint32(e[4:]), off: binary.BigEndian.Uint32(e[8:]),
			count: binary.BigEndian.Uint32(e[12:]), entOff: 8 + 16*i}
	}
	return h, nil
}

// String returns the value of a string tag; for a string array or an
// i18n string (one per language) it is the first. ok is false when the
// tag is absent.
func (h *Header) String(tag int32) (s string, ok bool, err error) {
	e, ok := h.index[tag]
	if !ok {
		return "", false, nil
	}
	switch e.typ {
	case typeString, typeStringArray, typeI18NString:
	default:
		return "", true, fmt.Errorf("rpm header: tag %d (entry at %#x): type %d is not a string", tag, e.entOff, e.typ)
	}
	if e.count == 0 || int64(e.off) >= int64(len(h.data)) {
		return "", true, fmt.Errorf("rpm header: tag %d (entry at %#x): offset %d count %d outside %d data bytes", tag, e.entOff, e.off, e.count, len(h.data))
	}
	d := h.data[e.off:]
	end := bytes.IndexByte(d, 0)
	if end < 0 {
		return "", true, fmt.Errorf("rpm header: tag %d (entry at %#x): string at %d not terminated", tag, e.entOff, e.off)
	}
	return string(d[:end]), true, nil
}

// Int32 returns the first value of an int32 tag.
func (h *Header) Int32(tag int32) (v int32, ok bool, err error) {
	e, ok := h.index[tag]
	if !ok {
		return 0, false, nil
	}
	if e.typ != typeInt32 {
		return 0, true, fmt.Errorf("rpm header: tag %d (entry at %#x): type %d is not int32", tag, e.entOff, e.typ)
	}
	if e.count == 0 || int64(e.off)+4 > int64(len(h.data)) {
		return 0, true, fmt.Errorf("rpm header: tag %d (entry at %#x): offset %d count %d outside %d data bytes", tag, e.entOff, e.off, e.count, len(h.data))
	}
	return int32(binary.BigEndian.Uint32(h.data[e.off:])), true, nil
}
