package vmdk

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The hosted sparse extent header (VMware's Virtual Disk Format 5.0,
// "SparseExtentHeader"), little-endian, in the first sector of a
// monolithicSparse, twoGbMaxExtentSparse or streamOptimized extent.
const (
	sectorSize = 512

	hdrMagic      = 0   // "KDMV"
	hdrVersion    = 4   // 1, 2 or 3
	hdrFlags      = 8   // flag* bits
	hdrCapacity   = 12  // sectors of the extent
	hdrGrainSize  = 20  // sectors per grain
	hdrDescOffset = 28  // sector of the embedded descriptor, 0 without one
	hdrDescSize   = 36  // its size in sectors
	hdrNumGTEs    = 44  // entries per grain table (512)
	hdrRGDOffset  = 48  // sector of the redundant grain directory
	hdrGDOffset   = 56  // sector of the grain directory, or gdAtEnd
	hdrOverhead   = 64  // sectors of metadata before the first grain
	hdrUnclean    = 72  // not shut down cleanly (ignored by a reader)
	hdrEOLChars   = 73  // '\n', ' ', '\r', '\n': detects FTP text-mode damage
	hdrCompress   = 77  // 0 none, 1 deflate
	headerLen     = 512 // one sector

	flagNLTest    = 1 << 0  // the end-of-line characters are valid
	flagRGD       = 1 << 1  // a redundant grain directory is kept
	flagZeroGrain = 1 << 2  // grain table entry 1 means a zeroed grain
	flagCompress  = 1 << 16 // grains are compressed
	flagMarkers   = 1 << 17 // the extent holds markers (streamOptimized)

	compressNone    = 0
	compressDeflate = 1

	gdAtEnd = ^uint64(0) // the grain directory is named by the footer

	// maxGrainSectors is qemu's bound on the grain size (1 GiB); compressed
	// grains, which are inflated into memory, are bounded by
	// maxCompressedGrain instead.
	maxGrainSectors    = 0x200000
	maxCompressedGrain = 4 << 20
	// maxGDEntries is qemu's bound on the grain directory (32 Mi entries).
	maxGDEntries = 32 << 20
	// maxCapacity bounds an extent's capacity, a descriptor's sector
	// counts and offsets, and the whole disk: 2^42 sectors (2 PiB), far
	// above any real disk (VMware's sparse extents stop at 2 TiB), so that
	// no offset computed from them can overflow an int64.
	maxCapacity = 1 << 42
)

var magicKDMV = [4]byte{'K', 'D', 'M', 'V'}

// Marker types of a streamOptimized extent (a marker whose size is 0).
const (
	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// header is a decoded sparse extent header.
type header struct {
	version      uint32
	flags        uint32
	capacity     uint64 // sectors
	grainSize    uint64 // sectors
	descOffset   uint64
	descSize     uint64
	numGTEs      uint32
	rgdOffset    uint64
	gdOffset     uint64
	overhead     uint64
	compressAlgo uint16
	footer       bool // the header was taken from the footer (GD_AT_END)
}

var le = binary.LittleEndian

func formatErr(off int64, what, format string, args ...any) error {
	return &diskerr.FormatError{FS: "vmdk", Off: off, What: what, Msg: fmt.Sprintf(format, args...)}
}

// parseHeader decodes one sector holding a sparse extent header. It checks
// only the magic; check validates the fields against the file.
func parseHeader(b []byte, off int64) (*header, error) {
	if len(b) < headerLen {
		return nil, formatErr(off, "sparse extent header", "truncated: %d bytes", len(b))
	}
	if [4]byte(b[hdrMagic:]) != magicKDMV {
		return nil, formatErr(off, "sparse extent header", "bad magic %q (want \"KDMV\")", b[:4])
	}
	return &header{
		version:      le.Uint32(b[hdrVersion:]),
		flags:        le.Uint32(b[hdrFlags:]),
		capacity:     le.Uint64(b[hdrCapacity:]),
		grainSize:    le.Uint64(b[hdrGrainSize:]),
		descOffset:   le.Uint64(b[hdrDescOffset:]),
		descSize:     le.Uint64(b[hdrDescSize:]),
		numGTEs:      le.Uint32(b[hdrNumGTEs:]),
		rgdOffset:    le.Uint64(b[hdrRGDOffset:]),
		gdOffset:     le.Uint64(b[hdrGDOffset:]),
		overhead:     le.Uint64(b[hdrOverhead:]),
		compressAlgo: le.Uint16(b[hdrCompress:]),
	}, nil
}

// readHeader reads the header in the first sector of r and, when its grain
// directory offset is GD_AT_END (a streamOptimized extent written as a
// stream, as VMware and VirtualBox export them), the footer that replaces
// it: the footer marker, a copy of the header with the real offsets, and
// the end-of-stream marker fill the last three sectors.
func readHeader(r io.ReaderAt, size int64) (*header, error) {
	var b [headerLen]byte
	if n, err := r.ReadAt(b[:], 0); n < len(b) {
		return nil, &diskerr.FormatError{FS: "vmdk", What: "sparse extent header", Msg: fmt.Sprintf("file of %d bytes is too short", size), Err: orEOF(err)}
	}
	h, err := parseHeader(b[:], 0)
	if err != nil {
		return nil, err
	}
	if h.gdOffset != gdAtEnd {
		return h, h.check(size)
	}
	if h.flags&flagMarkers == 0 {
		return nil, formatErr(0, "sparse extent header", "grain directory at the end (GD_AT_END) without markers")
	}
	at := size - 3*sectorSize
	if at < headerLen {
		return nil, formatErr(0, "sparse extent header", "grain directory at the end (GD_AT_END) but the file (%d bytes) has no room for a footer", size)
	}
	var f [3 * sectorSize]byte
	if n, err := r.ReadAt(f[:], at); n < len(f) {
		return nil, &diskerr.FormatError{FS: "vmdk", Off: at, What: "footer", Msg: "reading", Err: orEOF(err)}
	}
	fm, eos := f[:sectorSize], f[2*sectorSize:]
	if le.Uint32(fm[8:]) != 0 || le.Uint32(fm[12:]) != markerFooter {
		return nil, formatErr(at, "footer marker", "not a footer marker (size %d, type %d): the stream is truncated or was not closed",
			le.Uint32(fm[8:]), le.Uint32(fm[12:]))
	}
	if le.Uint64(eos[0:]) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != markerEOS {
		return nil, formatErr(at+2*sectorSize, "end-of-stream marker", "missing: the stream is truncated")
	}
	fh, err := parseHeader(f[sectorSize:2*sectorSize], at+sectorSize)
	if err != nil {
		return nil, err
	}
	if fh.gdOffset == gdAtEnd {
		return nil, formatErr(at+sectorSize, "footer", "the footer's grain directory offset is GD_AT_END too")
	}
	fh.footer = true
	return fh, fh.check(size)
}

// check validates the header fields against each other and against the
// size of the file, so that nothing later is sized by an unchecked field.
func (h *header) check(size int64) error {
	what := "sparse extent header"
	at := int64(0)
	if h.footer {
		what, at = "footer", size-2*sectorSize
	}
	switch {
	case h.version < 1 || h.version > 3:
		return formatErr(at, what, "unsupported version %d (1, 2 and 3 are read)", h.version)
	case h.capacity > maxCapacity:
		return formatErr(at, what, "capacity of %d sectors is too large", h.capacity)
	case h.grainSize == 0 || h.grainSize > maxGrainSectors:
		return formatErr(at, what, "grain size of %d sectors is out of range (1 to %d)", h.grainSize, maxGrainSectors)
	case h.numGTEs == 0 || h.numGTEs > 512:
		return formatErr(at, what, "%d entries per grain table is out of range (1 to 512)", h.numGTEs)
	case h.compressAlgo != compressNone && h.compressAlgo != compressDeflate:
		return formatErr(at, what, "unknown compression algorithm %d", h.compressAlgo)
	}
	if h.compressed() && h.grainSize*sectorSize > maxCompressedGrain {
		return formatErr(at, what, "compressed grains of %d bytes are larger than %d", h.grainSize*sectorSize, maxCompressedGrain)
	}
	if h.compressed() && h.flags&flagMarkers == 0 {
		// qemu reads such grains without a marker; no tool writes them.
		return formatErr(at, what, "compressed grains without markers are not supported")
	}
	n := h.gdEntries()
	if n > maxGDEntries {
		return formatErr(at, what, "grain directory of %d entries is too large (capacity %d sectors)", n, h.capacity)
	}
	if n > 0 {
		gd := int64(h.gdOffset) * sectorSize
		if h.gdOffset == 0 || h.gdOffset > uint64(size)/sectorSize || gd+int64(n)*4 > size {
			return formatErr(int64(min(h.gdOffset, maxCapacity))*sectorSize, "grain directory",
				"%d entries at sector %d run past the end of the file (%d bytes)", n, h.gdOffset, size)
		}
	}
	if h.descOffset != 0 && h.descSize > maxDescriptor/sectorSize {
		return formatErr(at, what, "embedded descriptor of %d sectors is larger than %d bytes", h.descSize, maxDescriptor)
	}
	return nil
}

func (h *header) compressed() bool { return h.compressAlgo == compressDeflate }

// gdEntries is the number of grain directory entries the capacity needs.
func (h *header) gdEntries() uint64 {
	per := uint64(h.numGTEs) * h.grainSize // sectors one grain table maps
	return (h.capacity + per - 1) / per
}

// hasRGD says whether the redundant grain directory is kept.
func (h *header) hasRGD() bool { return h.flags&flagRGD != 0 && h.rgdOffset != 0 }

func orEOF(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
