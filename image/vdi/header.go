package vdi

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The pre-header: 64 bytes of text ("<<< Oracle VM VirtualBox Disk Image
// >>>\n", "<<< QEMU VM Virtual Disk Image >>>\n"...), then the signature
// and the version.
const (
	textLen     = 0x40
	sigOffset   = 0x40
	Signature   = 0xbeda107f
	versionOff  = 0x44
	version11   = 0x00010001 // major 1, minor 1: the only version VirtualBox writes since 2008
	headerStart = 0x48       // the header proper (its size field) follows the pre-header
	// minHeaderSize is the size of a version 1.1 header (VBoxHDD's
	// VDIHEADER1), counted from its size field: it ends with the four
	// UUIDs, at 0x1c8. VDIHEADER1PLUS adds the LCHS geometry (0x190).
	minHeaderSize = 0x180
	// maxHeaderSize bounds the header size field; we never read past
	// minHeaderSize, but the block map must start after the header.
	maxHeaderSize = 1 << 20
	headerEnd     = headerStart + minHeaderSize // 0x1c8
	sectorSize    = 512
	// maxBlockSize bounds the block size (VirtualBox writes 1 MiB; the
	// format allows other powers of two). Nothing is allocated by it.
	maxBlockSize = 1 << 28
)

// Image types (VDI_IMAGE_TYPE_*).
const (
	TypeDynamic = 1 // "normal": blocks allocated as written
	TypeStatic  = 2 // "fixed": every block allocated when created
	TypeUndo    = 3
	TypeDiff    = 4 // differencing: unallocated blocks come from the parent
)

// Block map entries that are not block numbers.
const (
	blockFree = 0xffffffff // not allocated: zeros, or the parent's bytes in a differencing image
	blockZero = 0xfffffffe // discarded: reads as zeros (never the parent)
)

// Header field offsets (from the start of the file).
const (
	offSize      = 0x48
	offType      = 0x4c
	offFlags     = 0x50
	offComment   = 0x54 // 256 bytes
	offBlocksMap = 0x154
	offData      = 0x158
	offSector    = 0x168
	offDiskSize  = 0x170
	offBlockSize = 0x178
	offExtra     = 0x17c
	offBlocks    = 0x180
	offAllocated = 0x184
	offUUID      = 0x188 // this image (uuidCreate)
	offModify    = 0x198 // changed on every modification (qemu: uuid_last_snap)
	offLink      = 0x1a8 // the parent's image UUID (differencing images)
	offParentMod = 0x1b8 // the parent's modification UUID when linked
)

// UUID is a VDI UUID as stored: VirtualBox's RTUUID, whose first three
// fields are little-endian (the Microsoft GUID layout).
type UUID [16]byte

// IsZero reports whether u is the nil UUID.
func (u UUID) IsZero() bool { return u == UUID{} }

// String spells u as VBoxManage does.
func (u UUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(u[0:]),
		binary.LittleEndian.Uint16(u[4:]), binary.LittleEndian.Uint16(u[6:]), u[8:10], u[10:])
}

// header is the decoded, checked header.
type header struct {
	text      string // the pre-header text, up to its first newline or NUL
	size      uint32 // header size, from its size field
	imageType uint32
	flags     uint32
	comment   string
	bmapOff   int64
	dataOff   int64
	sector    uint32
	diskSize  int64
	blockSize int64
	extra     int64 // block extra data, before each block's data
	blocks    uint32
	allocated uint32
	uuid      UUID
	modify    UUID
	link      UUID
	parentMod UUID
}

func formatErr(off int64, what, format string, args ...any) error {
	return &diskerr.FormatError{FS: "vdi", Off: off, What: what, Msg: fmt.Sprintf(format, args...)}
}

// probeHeader reads the signature and the UUIDs of the header of r without
// checking the rest: enough to tell whether a file is the parent a
// differencing image names.
func probeHeader(r io.ReaderAt) (uuid, modify UUID, ok bool) {
	var b [headerEnd]byte
	if n, _ := r.ReadAt(b[:], 0); n < len(b) || binary.LittleEndian.Uint32(b[sigOffset:]) != Signature {
		return UUID{}, UUID{}, false
	}
	copy(uuid[:], b[offUUID:])
	copy(modify[:], b[offModify:])
	return uuid, modify, true
}

// readHeader reads and checks the header of the VDI file r of fileSize
// bytes.
func readHeader(r io.ReaderAt, fileSize int64) (*header, error) {
	if fileSize < headerEnd {
		return nil, formatErr(0, "header", "file of %d bytes is shorter than a VDI header (%d bytes)", fileSize, headerEnd)
	}
	var b [headerEnd]byte
	if n, err := r.ReadAt(b[:], 0); n < len(b) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, &diskerr.FormatError{FS: "vdi", What: "header", Msg: "reading", Err: err}
	}
	le := binary.LittleEndian
	if s := le.Uint32(b[sigOffset:]); s != Signature {
		return nil, formatErr(sigOffset, "signature", "%#08x, want %#08x", s, Signature)
	}
	if v := le.Uint32(b[versionOff:]); v != version11 {
		return nil, formatErr(versionOff, "version", "%d.%d not supported (only 1.1, which VirtualBox and qemu write)", v>>16, v&0xffff)
	}
	h := &header{
		text:      cString(b[:textLen]),
		size:      le.Uint32(b[offSize:]),
		imageType: le.Uint32(b[offType:]),
		flags:     le.Uint32(b[offFlags:]),
		comment:   cString(b[offComment : offComment+256]),
		bmapOff:   int64(le.Uint32(b[offBlocksMap:])),
		dataOff:   int64(le.Uint32(b[offData:])),
		sector:    le.Uint32(b[offSector:]),
		diskSize:  int64(le.Uint64(b[offDiskSize:])),
		blockSize: int64(le.Uint32(b[offBlockSize:])),
		extra:     int64(le.Uint32(b[offExtra:])),
		blocks:    le.Uint32(b[offBlocks:]),
		allocated: le.Uint32(b[offAllocated:]),
	}
	copy(h.uuid[:], b[offUUID:])
	copy(h.modify[:], b[offModify:])
	copy(h.link[:], b[offLink:])
	copy(h.parentMod[:], b[offParentMod:])
	return h, h.check(fileSize)
}

// check validates the header against itself and the file size, so that
// every offset computed from it later stays in range.
func (h *header) check(fileSize int64) error {
	switch {
	case h.size < minHeaderSize || h.size > maxHeaderSize:
		return formatErr(offSize, "header size", "%d, want %d to %d", h.size, minHeaderSize, maxHeaderSize)
	case h.imageType == TypeUndo:
		return formatErr(offType, "image type", "undo images are not supported")
	case h.imageType != TypeDynamic && h.imageType != TypeStatic && h.imageType != TypeDiff:
		return formatErr(offType, "image type", "%d unknown (1 dynamic, 2 static, 4 differencing)", h.imageType)
	}
	if h.sector != sectorSize {
		return formatErr(offSector, "sector size", "%d, want %d", h.sector, sectorSize)
	}
	bs := h.blockSize
	if bs < sectorSize || bs > maxBlockSize || bs&(bs-1) != 0 {
		return formatErr(offBlockSize, "block size", "%d is not a power of two from %d to %d", bs, sectorSize, maxBlockSize)
	}
	if h.extra < 0 || h.extra > bs || h.extra%sectorSize != 0 {
		return formatErr(offExtra, "block extra data size", "%d, want a multiple of %d up to the block size %d", h.extra, sectorSize, bs)
	}
	if h.diskSize < 0 || h.diskSize > int64(h.blocks)*bs {
		return formatErr(offDiskSize, "disk size", "%d does not fit in %d blocks of %d bytes", h.diskSize, h.blocks, bs)
	}
	if h.allocated > h.blocks {
		return formatErr(offAllocated, "allocated blocks", "%d of %d blocks", h.allocated, h.blocks)
	}
	if h.bmapOff < headerStart+int64(h.size) || h.bmapOff%sectorSize != 0 {
		return formatErr(offBlocksMap, "block map offset", "%#x is inside the header (which ends at %#x) or not sector aligned", h.bmapOff, headerStart+int64(h.size))
	}
	bmapEnd := h.bmapOff + 4*int64(h.blocks)
	if bmapEnd > fileSize {
		return formatErr(h.bmapOff, "block map", "%d entries run past the end of the file (%d bytes)", h.blocks, fileSize)
	}
	if h.dataOff < bmapEnd || h.dataOff%sectorSize != 0 {
		return formatErr(offData, "data offset", "%#x overlaps the block map (which ends at %#x) or is not sector aligned", h.dataOff, bmapEnd)
	}
	if h.imageType == TypeDiff && h.link.IsZero() {
		return formatErr(offLink, "parent UUID", "differencing image with no parent UUID")
	}
	if h.imageType == TypeDiff && h.link == h.uuid {
		return formatErr(offLink, "parent UUID", "differencing image %s is its own parent", h.uuid)
	}
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 || c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
