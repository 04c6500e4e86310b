package vhdx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

const (
	mib = 1 << 20

	identOffset   = 0
	header1Offset = 64 << 10
	header2Offset = 128 << 10
	headerSize    = 4 << 10
	region1Offset = 192 << 10
	region2Offset = 256 << 10
	regionSize    = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the CRC-32C of b with the 4-byte checksum field at sumAt
// taken as zeros, as every VHDX checksum is computed.
func crc32c(b []byte, sumAt int) uint32 {
	c := crc32.Update(0, castagnoli, b[:sumAt])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(c, castagnoli, b[sumAt+4:])
}

// header is one of the two VHDX headers (MS-VHDX 2.2.2).
type header struct {
	at            int64
	seq           uint64
	fileWriteGUID guid
	dataWriteGUID guid
	logGUID       guid
	logVersion    uint16
	version       uint16
	logLength     uint32
	logOffset     uint64
}

// parseHeader decodes the header read at off, checking its signature,
// CRC-32C and version.
func parseHeader(b []byte, off int64) (*header, error) {
	ferr := func(msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: off, What: "header", Msg: msg}
	}
	if len(b) < headerSize {
		return nil, ferr("truncated")
	}
	if !bytes.Equal(b[:4], []byte("head")) {
		return nil, ferr(fmt.Sprintf("no \"head\" signature (%q)", b[:4]))
	}
	le := binary.LittleEndian
	if sum, want := crc32c(b[:headerSize], 4), le.Uint32(b[4:]); sum != want {
		return nil, ferr(fmt.Sprintf("CRC-32C %#08x, the bytes give %#08x", want, sum))
	}
	h := &header{
		at:         off,
		seq:        le.Uint64(b[8:]),
		logVersion: le.Uint16(b[64:]),
		version:    le.Uint16(b[66:]),
		logLength:  le.Uint32(b[68:]),
		logOffset:  le.Uint64(b[72:]),
	}
	copy(h.fileWriteGUID[:], b[16:])
	copy(h.dataWriteGUID[:], b[32:])
	copy(h.logGUID[:], b[48:])
	if h.version != 1 {
		return nil, ferr(fmt.Sprintf("version %d (only 1 is defined)", h.version))
	}
	return h, nil
}

// readHeaders checks the file identifier and returns the current header:
// of the two, the valid one with the higher sequence number. One bad
// header is a warning (the other was being written when the disk
// stopped), two are an error.
func readHeaders(r io.ReaderAt, size int64, warn func(string)) (*header, error) {
	if size < region2Offset+regionSize {
		return nil, &diskerr.FormatError{FS: "vhdx", What: "file", Msg: fmt.Sprintf("%d bytes is too small for a VHDX", size), Err: io.ErrUnexpectedEOF}
	}
	id := make([]byte, 8)
	if _, err := r.ReadAt(id, identOffset); err != nil {
		return nil, &diskerr.FormatError{FS: "vhdx", What: "file identifier", Msg: "reading", Err: err}
	}
	if !bytes.Equal(id, []byte("vhdxfile")) {
		return nil, &diskerr.FormatError{FS: "vhdx", What: "file identifier", Msg: fmt.Sprintf("no \"vhdxfile\" signature (%q)", id)}
	}
	var hs [2]*header
	var errs [2]error
	for i, off := range []int64{header1Offset, header2Offset} {
		b := make([]byte, headerSize)
		if _, err := r.ReadAt(b, off); err != nil {
			errs[i] = &diskerr.FormatError{FS: "vhdx", Off: off, What: "header", Msg: "reading", Err: err}
			continue
		}
		hs[i], errs[i] = parseHeader(b, off)
	}
	switch {
	case hs[0] == nil && hs[1] == nil:
		return nil, fmt.Errorf("vhdx: no valid header: %w; %w", errs[0], errs[1])
	case hs[0] == nil:
		warnf(warn, "vhdx: %v; using the other header", errs[0])
		return hs[1], nil
	case hs[1] == nil:
		warnf(warn, "vhdx: %v; using the other header", errs[1])
		return hs[0], nil
	case hs[1].seq > hs[0].seq:
		return hs[1], nil
	}
	return hs[0], nil
}

func warnf(warn func(string), format string, args ...any) {
	if warn != nil {
		warn(fmt.Sprintf(format, args...))
	}
}

func crc32Update(c uint32, b []byte) uint32 { return crc32.Update(c, castagnoli, b) }
