package lvm

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

const (
	mdaMagic      = " LVM2 x[5A%r0N*>"
	mdaHeaderSize = 512
	rawLocnSize   = 24
	rawLocnIgnore = 1 // RAW_LOCN_IGNORED: this metadata area is not used
	// maxMetadata caps the text read from a metadata area. lvm2 itself
	// refuses metadata over half the area; areas are 1 MiB by default and
	// real metadata is a few KiB.
	maxMetadata = 16 << 20
)

// MDAHeader is the header of a metadata area: where the area is, and the
// raw locations of the metadata text inside its circular buffer. The first
// location is the newest committed copy.
type MDAHeader struct {
	Start int64 // byte offset of the area on the PV (the header's own offset)
	Size  int64 // size of the area in bytes, header included
	Locs  []RawLoc
}

// RawLoc places one copy of the metadata text in the circular buffer.
type RawLoc struct {
	Off      int64 // from the start of the area; the text wraps to Off 512 at Size
	Size     int64
	Checksum uint32
	Flags    uint32
}

// crcUpdate continues LVM's CRC over b.
func crcUpdate(c uint32, b []byte) uint32 {
	return ^crc32.Update(^c, crc32.IEEETable, b)
}

// decodeMDAHeader decodes the 512-byte header found at byte off of the PV.
func decodeMDAHeader(b []byte, off int64) (*MDAHeader, error) {
	bad := func(msg string, a ...any) error {
		return &diskerr.FormatError{FS: "lvm", Off: off, What: "metadata area header", Msg: fmt.Sprintf(msg, a...)}
	}
	if len(b) < mdaHeaderSize {
		return nil, bad("truncated: %d bytes", len(b))
	}
	if string(b[4:20]) != mdaMagic {
		return nil, bad("no %q magic", mdaMagic)
	}
	if want, got := binary.LittleEndian.Uint32(b[0:]), crc(b[4:mdaHeaderSize]); want != got {
		return nil, bad("checksum %#08x, computed %#08x", want, got)
	}
	if v := binary.LittleEndian.Uint32(b[20:]); v != 1 {
		return nil, bad("version %d, want 1", v)
	}
	start, size := binary.LittleEndian.Uint64(b[24:]), binary.LittleEndian.Uint64(b[32:])
	if start != uint64(off) {
		return nil, bad("says it starts at %#x", start)
	}
	if size <= mdaHeaderSize || size > 1<<40 {
		return nil, bad("size %#x out of range", size)
	}
	h := &MDAHeader{Start: int64(start), Size: int64(size)}
	for p := 40; p+rawLocnSize <= mdaHeaderSize; p += rawLocnSize {
		l := RawLoc{
			Off:      int64(binary.LittleEndian.Uint64(b[p:]) & (1<<62 - 1)),
			Size:     int64(binary.LittleEndian.Uint64(b[p+8:]) & (1<<62 - 1)),
			Checksum: binary.LittleEndian.Uint32(b[p+16:]),
			Flags:    binary.LittleEndian.Uint32(b[p+20:]),
		}
		if binary.LittleEndian.Uint64(b[p:]) == 0 {
			break
		}
		h.Locs = append(h.Locs, l)
	}
	return h, nil
}

// ReadMDAHeader reads the header of the metadata area a of the PV r.
func ReadMDAHeader(r io.ReaderAt, size int64, a Area) (*MDAHeader, error) {
	if a.Off < 0 || a.Off > size-mdaHeaderSize {
		return nil, &diskerr.FormatError{FS: "lvm", Off: a.Off, What: "metadata area header", Msg: fmt.Sprintf("outside the device (%#x bytes)", size)}
	}
	b := make([]byte, mdaHeaderSize)
	if _, err := r.ReadAt(b, a.Off); err != nil {
		return nil, fmt.Errorf("lvm: metadata area header at %#x: %w", a.Off, err)
	}
	return decodeMDAHeader(b, a.Off)
}

// Text reads the newest committed metadata text of the area from the PV
// r of size bytes, following the circular buffer, and checks its CRC. It
// returns the text without its trailing NUL.
func (h *MDAHeader) Text(r io.ReaderAt, size int64) ([]byte, error) {
	bad := func(msg string, a ...any) error {
		return &diskerr.FormatError{FS: "lvm", Off: h.Start, What: "metadata area", Msg: fmt.Sprintf(msg, a...)}
	}
	if len(h.Locs) == 0 {
		return nil, bad("no metadata committed")
	}
	l := h.Locs[0]
	if l.Flags&rawLocnIgnore != 0 {
		return nil, bad("metadata area marked ignored")
	}
	if l.Size <= 0 || l.Size > maxMetadata || l.Size > h.Size-mdaHeaderSize {
		return nil, bad("metadata size %d out of range (area of %d bytes)", l.Size, h.Size)
	}
	if l.Off < mdaHeaderSize || l.Off >= h.Size {
		return nil, bad("metadata offset %#x outside the area's buffer [%#x,%#x)", l.Off, mdaHeaderSize, h.Size)
	}
	if h.Start > size-h.Size {
		return nil, bad("area [%#x,%#x) runs past the device's end %#x", h.Start, h.Start+h.Size, size)
	}
	first := min(l.Size, h.Size-l.Off)
	text := make([]byte, l.Size)
	if _, err := r.ReadAt(text[:first], h.Start+l.Off); err != nil {
		return nil, fmt.Errorf("lvm: metadata at %#x: %w", h.Start+l.Off, err)
	}
	if first < l.Size { // wrapped round the circular buffer
		if _, err := r.ReadAt(text[first:], h.Start+mdaHeaderSize); err != nil {
			return nil, fmt.Errorf("lvm: metadata at %#x: %w", h.Start+mdaHeaderSize, err)
		}
	}
	if got := crcUpdate(initialCRC, text); got != l.Checksum {
		return nil, bad("metadata checksum %#08x, computed %#08x", l.Checksum, got)
	}
	for len(text) > 0 && text[len(text)-1] == 0 {
		text = text[:len(text)-1]
	}
	return text, nil
}
