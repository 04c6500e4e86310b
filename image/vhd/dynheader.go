package vhd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// dynHeaderSize is the size of the dynamic disk header.
const dynHeaderSize = 1024

// locator is one parent locator entry of the dynamic disk header.
type locator struct {
	code   [4]byte // platform code: "W2ku", "W2ru", "Wi2k", "Wi2r", "Mac ", "MacX"
	space  uint32  // bytes (or sectors, by the spec's letter) reserved
	length uint32  // bytes of locator data
	offset uint64  // where the data is in the file
}

// dynHeader is the Dynamic Disk Header ("cxsparse") that dynamic and
// differencing disks have at the footer's data offset.
type dynHeader struct {
	tableOffset     uint64 // the BAT
	version         uint32
	maxTableEntries uint32
	blockSize       uint32
	checksum        uint32
	parentUUID      [16]byte
	parentTimestamp uint32
	parentName      string // UTF-16BE in the file
	locators        [8]locator
}

// parseDynHeader decodes the dynamic disk header read at off and checks
// its cookie, checksum, version and block size (a power of two of at
// least one sector, as qemu requires, and at most 2^31, which the sector
// bitmap arithmetic assumes).
func parseDynHeader(b []byte, off int64) (*dynHeader, error) {
	ferr := func(msg string, err error) error {
		return &diskerr.FormatError{FS: "vhd", Off: off, What: "dynamic disk header", Msg: msg, Err: err}
	}
	if len(b) < dynHeaderSize {
		return nil, ferr("truncated", nil)
	}
	if !bytes.Equal(b[:8], []byte("cxsparse")) {
		return nil, ferr(fmt.Sprintf("no \"cxsparse\" cookie (%q)", b[:8]), nil)
	}
	be := binary.BigEndian
	h := &dynHeader{
		tableOffset:     be.Uint64(b[16:]),
		version:         be.Uint32(b[24:]),
		maxTableEntries: be.Uint32(b[28:]),
		blockSize:       be.Uint32(b[32:]),
		checksum:        be.Uint32(b[36:]),
		parentTimestamp: be.Uint32(b[56:]),
	}
	copy(h.parentUUID[:], b[40:56])
	if sum := vhdChecksum(b[:dynHeaderSize], 36); sum != h.checksum {
		return nil, ferr(fmt.Sprintf("checksum %#08x, the bytes give %#08x", h.checksum, sum), errBadChecksum)
	}
	if h.version>>16 != 1 {
		return nil, ferr(fmt.Sprintf("unknown version %#x", h.version), nil)
	}
	if h.blockSize < 512 || bits.OnesCount32(h.blockSize) != 1 || h.blockSize > 1<<31 {
		return nil, ferr(fmt.Sprintf("block size %d is not a power of two of at least 512", h.blockSize), nil)
	}
	h.parentName = utf16String(b[64:576], binary.BigEndian)
	for i := range h.locators {
		e := b[576+24*i:]
		l := &h.locators[i]
		copy(l.code[:], e[:4])
		l.space = be.Uint32(e[4:])
		l.length = be.Uint32(e[8:])
		l.offset = be.Uint64(e[16:])
	}
	return h, nil
}

// bitmapSize is the size of the sector bitmap before each block's data:
// one bit per sector, padded to whole sectors.
func (h *dynHeader) bitmapSize() int64 {
	return (int64(h.blockSize)/(8*512) + 511) &^ 511
}

// utf16String decodes UTF-16 (in the given byte order) up to the first
// NUL.
func utf16String(b []byte, order binary.ByteOrder) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := order.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
