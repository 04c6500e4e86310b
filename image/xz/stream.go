package xz

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Stream header and footer (xz file format 1.2.0, section 2.1).
//
//	header: magic fd 37 7a 58 5a 00 | stream flags (2) | CRC32 of the flags (4)
//	footer: CRC32 of backward size and flags (4) | backward size (4) | stream flags (2) | magic "YZ"
const (
	streamHeaderSize = 12
	streamFooterSize = 12
)

var (
	headerMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	footerMagic = []byte{'Y', 'Z'}
)

// CheckType is the integrity check a stream's blocks carry.
type CheckType byte

// The check types this package verifies; the others the format reserves
// (0x02, 0x03, 0x05-0x09, 0x0b-0x0f) are refused.
const (
	CheckNone   CheckType = 0x00
	CheckCRC32  CheckType = 0x01
	CheckCRC64  CheckType = 0x04
	CheckSHA256 CheckType = 0x0a
)

func (c CheckType) String() string {
	switch c {
	case CheckNone:
		return "none"
	case CheckCRC32:
		return "CRC32"
	case CheckCRC64:
		return "CRC64"
	case CheckSHA256:
		return "SHA-256"
	}
	return fmt.Sprintf("reserved check type %#x", byte(c))
}

// Size is the number of bytes the check occupies after each block: the
// format fixes it for every ID, reserved ones included.
func (c CheckType) Size() int {
	if c == 0 {
		return 0
	}
	return 4 << ((c - 1) / 3)
}

func (c CheckType) supported() bool {
	return c == CheckNone || c == CheckCRC32 || c == CheckCRC64 || c == CheckSHA256
}

// decodeStreamFlags checks the two flag bytes: the first and the high
// nibble of the second are reserved and must be zero, the low nibble is
// the check type.
func decodeStreamFlags(b []byte) (CheckType, error) {
	if b[0] != 0 || b[1]&0xf0 != 0 {
		return 0, fmt.Errorf("reserved stream flag bits set (%#02x %#02x)", b[0], b[1])
	}
	c := CheckType(b[1] & 0x0f)
	if !c.supported() {
		return 0, fmt.Errorf("%v: only none, CRC32, CRC64 and SHA-256 are defined", c)
	}
	return c, nil
}

// decodeStreamHeader decodes the 12-byte stream header that starts at off.
func decodeStreamHeader(b []byte, off int64) (CheckType, error) {
	if len(b) < streamHeaderSize || !bytes.Equal(b[:6], headerMagic) {
		return 0, formatError(off, "stream header", "bad magic")
	}
	if got, want := crc32.ChecksumIEEE(b[6:8]), binary.LittleEndian.Uint32(b[8:12]); got != want {
		return 0, formatError(off, "stream header", fmt.Sprintf("CRC32 %#08x, stored %#08x", got, want))
	}
	c, err := decodeStreamFlags(b[6:8])
	if err != nil {
		return 0, formatError(off, "stream header", err.Error())
	}
	return c, nil
}

// streamFooter is a decoded stream footer.
type streamFooter struct {
	indexSize int64 // the backward size: bytes of the index just before the footer
	check     CheckType
	flags     [2]byte
}

// decodeStreamFooter decodes the 12-byte stream footer that starts at off.
func decodeStreamFooter(b []byte, off int64) (streamFooter, error) {
	var f streamFooter
	if len(b) < streamFooterSize || !bytes.Equal(b[10:12], footerMagic) {
		return f, formatError(off, "stream footer", "bad magic (truncated file or not xz)")
	}
	if got, want := crc32.ChecksumIEEE(b[4:10]), binary.LittleEndian.Uint32(b[0:4]); got != want {
		return f, formatError(off, "stream footer", fmt.Sprintf("CRC32 %#08x, stored %#08x", got, want))
	}
	c, err := decodeStreamFlags(b[8:10])
	if err != nil {
		return f, formatError(off, "stream footer", err.Error())
	}
	f.check = c
	f.flags = [2]byte{b[8], b[9]}
	f.indexSize = (int64(binary.LittleEndian.Uint32(b[4:8])) + 1) * 4
	return f, nil
}
