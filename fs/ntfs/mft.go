package ntfs

import (
	"encoding/binary"
	"fmt"
)

// Limits on sizes read from the image.
const (
	maxRecordSize = 64 << 10 // MFT record
	maxIndexSize  = 64 << 10 // index (INDX) record
	fixupStride   = 512      // the update sequence protects every 512 bytes
)

// MFT record header flags.
const (
	recInUse     = 0x0001
	recDirectory = 0x0002 // has a $I30 index
)

// record is a decoded MFT record header; the attributes stay in buf.
type record struct {
	buf      []byte // the record with the fixup applied
	seq      uint16
	links    uint16
	attrOff  int
	used     int
	flags    uint16
	baseRef  uint64 // 0 for a base record
	recordNo uint32 // as written in the record (NTFS 3.1), else 0
}

// applyFixup checks and undoes the update sequence array of a
// multi-sector structure (MFT record "FILE" or index record "INDX"): the
// last two bytes of every 512-byte stride must hold the update sequence
// number, and are replaced by the saved bytes. It changes b in place.
//
// go-ntfs applies the fixup without checking it (FixUpDiskMFTEntry); a
// torn write would then go unnoticed, so the check is ours.
func applyFixup(b []byte, magic string) error {
	if len(b) < 48 || len(b)%fixupStride != 0 {
		return fmt.Errorf("%d bytes: not a multiple of %d", len(b), fixupStride)
	}
	if string(b[:4]) != magic {
		return fmt.Errorf("magic %q, want %q", b[:4], magic)
	}
	usaOff := int(binary.LittleEndian.Uint16(b[4:]))
	usaCount := int(binary.LittleEndian.Uint16(b[6:]))
	strides := len(b) / fixupStride
	if usaCount != strides+1 {
		return fmt.Errorf("update sequence of %d entries, want %d", usaCount, strides+1)
	}
	if usaOff&1 != 0 || usaOff < 8 || usaOff+2*usaCount > fixupStride-2 {
		return fmt.Errorf("update sequence array at %#x out of bounds", usaOff)
	}
	usn0, usn1 := b[usaOff], b[usaOff+1]
	for i := 0; i < strides; i++ {
		end := (i+1)*fixupStride - 2
		if b[end] != usn0 || b[end+1] != usn1 {
			return fmt.Errorf("bad fixup: sector %d ends in %#02x%02x, update sequence number is %#02x%02x", i, b[end+1], b[end], usn1, usn0)
		}
	}
	for i := 0; i < strides; i++ {
		end := (i+1)*fixupStride - 2
		b[end] = b[usaOff+2+2*i]
		b[end+1] = b[usaOff+3+2*i]
	}
	return nil
}

// parseRecord applies the fixup to an MFT record read into b and decodes
// its header. It fails for a record that is not "FILE" or whose fixup,
// attribute offset or used size is wrong.
func parseRecord(b []byte, r *record) error {
	if err := applyFixup(b, "FILE"); err != nil {
		return err
	}
	*r = record{buf: b}
	r.seq = binary.LittleEndian.Uint16(b[0x10:])
	r.links = binary.LittleEndian.Uint16(b[0x12:])
	r.attrOff = int(binary.LittleEndian.Uint16(b[0x14:]))
	r.flags = binary.LittleEndian.Uint16(b[0x16:])
	r.used = int(binary.LittleEndian.Uint32(b[0x18:]))
	r.baseRef = binary.LittleEndian.Uint64(b[0x20:])
	if r.attrOff >= 0x30 {
		r.recordNo = binary.LittleEndian.Uint32(b[0x2C:])
	}
	if r.used > len(b) || r.used < 0x18 {
		return fmt.Errorf("used size %d outside the %d-byte record", r.used, len(b))
	}
	if r.attrOff < 0x18 || r.attrOff+4 > r.used || r.attrOff&7 != 0 {
		return fmt.Errorf("first attribute at %#x outside the used %d bytes", r.attrOff, r.used)
	}
	return nil
}

func (r *record) inUse() bool { return r.flags&recInUse != 0 }
func (r *record) isDir() bool { return r.flags&recDirectory != 0 }

// refRecord and refSeq split a file reference (48-bit record number,
// 16-bit sequence number).
func refRecord(ref uint64) uint64 { return ref & (1<<48 - 1) }
func refSeq(ref uint64) uint16    { return uint16(ref >> 48) }
