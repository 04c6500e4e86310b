package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Magic is the first four bytes of every qcow2 image ("QFI\xfb").
var Magic = [4]byte{'Q', 'F', 'I', 0xfb}

// Header layout (docs/interop/qcow2.txt, "Header").
const (
	v2HeaderLen  = 72  // version 2: the header ends after snapshots_offset
	v3HeaderLen  = 104 // version 3: at least up to header_length
	offCompType  = 104 // compression_type, present when header_length > 104
	minClustBits = 9   // 512-byte clusters
	maxClustBits = 21  // 2 MiB: qemu's implementation limit, kept as ours
	maxL1Bytes   = 32 << 20
	maxBackName  = 1023 // backing_file_size limit in the spec
	maxFmtName   = 15   // qemu keeps the backing format in char[16]
	maxDataName  = 4096 // external data file name: PATH_MAX
	maxRefOrder  = 6
	featNameSize = 48 // one feature name table entry
	minExtL2Bits = 14 // extended L2 entries need 16 KiB clusters or more
)

// Incompatible feature bits.
const (
	incDirty      = 1 << 0
	incCorrupt    = 1 << 1
	incDataFile   = 1 << 2
	incCompType   = 1 << 3
	incExtendedL2 = 1 << 4
	incKnown      = incDirty | incCorrupt | incDataFile | incCompType | incExtendedL2
)

// Compatible and autoclear feature bits we report.
const (
	compatLazyRefcounts = 1 << 0
	autoclearRawData    = 1 << 1
)

// Header extension types.
const (
	extEnd           = 0x00000000
	extBackingFormat = 0xe2792aca
	extFeatureNames  = 0x6803f857
	extBitmaps       = 0x23852875
	extCrypto        = 0x0537be77
	extDataFile      = 0x44415441
)

// Compression types (header byte 104).
const (
	compZlib = 0
	compZstd = 1
)

// header is the decoded, checked image header with its extensions.
type header struct {
	version         uint32
	backingOffset   uint64
	backingSize     uint32
	clusterBits     uint32
	size            uint64
	cryptMethod     uint32
	l1Size          uint32
	l1Offset        uint64
	refcountOffset  uint64
	refcountClust   uint32
	nbSnapshots     uint32
	snapshotsOffset uint64
	incompatible    uint64
	compatible      uint64
	autoclear       uint64
	refcountOrder   uint32
	headerLength    uint32
	compression     uint8

	backingFile   string
	backingFormat string
	dataFile      string
	featureNames  map[featureKey]string
}

// featureKey names one bit of one feature bitmap: kind 0 incompatible,
// 1 compatible, 2 autoclear.
type featureKey struct{ kind, bit uint8 }

func formatErr(off int64, what, format string, args ...any) error {
	return &diskerr.FormatError{FS: "qcow2", Off: off, What: what, Msg: fmt.Sprintf(format, args...)}
}

// readHeader reads and checks the header and its extensions from the first
// cluster of r. fileSize is the size of r.
func readHeader(r io.ReaderAt, fileSize int64) (*header, error) {
	var fixed [v3HeaderLen]byte
	n, err := r.ReadAt(fixed[:], 0)
	if n < v2HeaderLen {
		if err == nil || err == io.EOF {
			return nil, formatErr(0, "header", "file of %d bytes is too short for a qcow2 header", fileSize)
		}
		return nil, fmt.Errorf("qcow2: reading header: %w", err)
	}
	if !bytes.Equal(fixed[:4], Magic[:]) {
		return nil, formatErr(0, "header", "bad magic %q, want \"QFI\\xfb\"", fixed[:4])
	}
	be := binary.BigEndian
	h := &header{
		version:         be.Uint32(fixed[4:]),
		backingOffset:   be.Uint64(fixed[8:]),
		backingSize:     be.Uint32(fixed[16:]),
		clusterBits:     be.Uint32(fixed[20:]),
		size:            be.Uint64(fixed[24:]),
		cryptMethod:     be.Uint32(fixed[32:]),
		l1Size:          be.Uint32(fixed[36:]),
		l1Offset:        be.Uint64(fixed[40:]),
		refcountOffset:  be.Uint64(fixed[48:]),
		refcountClust:   be.Uint32(fixed[56:]),
		nbSnapshots:     be.Uint32(fixed[60:]),
		snapshotsOffset: be.Uint64(fixed[64:]),
	}
	switch h.version {
	case 2:
		h.refcountOrder = 4
		h.headerLength = v2HeaderLen
	case 3:
		if n < v3HeaderLen {
			return nil, formatErr(0, "header", "file of %d bytes is too short for a version 3 header", fileSize)
		}
		h.incompatible = be.Uint64(fixed[72:])
		h.compatible = be.Uint64(fixed[80:])
		h.autoclear = be.Uint64(fixed[88:])
		h.refcountOrder = be.Uint32(fixed[96:])
		h.headerLength = be.Uint32(fixed[100:])
	default:
		return nil, formatErr(4, "header", "unsupported version %d (qcow2 has versions 2 and 3; version 1 is the old qcow format)", h.version)
	}
	if h.clusterBits < minClustBits || h.clusterBits > maxClustBits {
		return nil, formatErr(20, "header", "cluster_bits %d out of range %d..%d", h.clusterBits, minClustBits, maxClustBits)
	}
	clusterSize := uint64(1) << h.clusterBits
	if h.version == 3 {
		if h.headerLength < v3HeaderLen {
			return nil, formatErr(100, "header", "header_length %d is less than %d", h.headerLength, v3HeaderLen)
		}
		if uint64(h.headerLength) > clusterSize {
			return nil, formatErr(100, "header", "header_length %d exceeds the cluster size %d", h.headerLength, clusterSize)
		}
	}
	if h.refcountOrder > maxRefOrder {
		return nil, formatErr(96, "header", "refcount_order %d > %d", h.refcountOrder, maxRefOrder)
	}

	// The whole first cluster holds the header, its extensions and the
	// backing file name. It is at most 2 MiB (cluster_bits <= 21).
	first := make([]byte, min(clusterSize, uint64(fileSize)))
	if n, err := r.ReadAt(first, 0); n < len(first) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("qcow2: reading the first cluster: %w", err)
	}
	if uint64(h.headerLength) > uint64(len(first)) {
		return nil, formatErr(100, "header", "header_length %d runs past the end of the file (%d bytes)", h.headerLength, fileSize)
	}
	if h.headerLength > offCompType {
		h.compression = first[offCompType]
	}

	// Extensions run from the end of the header to the backing file name
	// or, without one, to the end of the first cluster.
	extEndOff := uint64(len(first))
	if h.backingOffset != 0 {
		if h.backingOffset >= clusterSize || h.backingSize > maxBackName ||
			uint64(h.backingSize) > clusterSize-h.backingOffset {
			return nil, formatErr(8, "header", "backing file name (%d bytes at %#x) too long or outside the first cluster", h.backingSize, h.backingOffset)
		}
		end := h.backingOffset + uint64(h.backingSize)
		if end > uint64(len(first)) {
			return nil, formatErr(int64(h.backingOffset), "backing file name", "runs past the end of the file (%d bytes)", fileSize)
		}
		if h.backingSize == 0 {
			return nil, formatErr(16, "header", "backing file offset %#x set but the name is empty", h.backingOffset)
		}
		h.backingFile = string(first[h.backingOffset:end])
		extEndOff = min(extEndOff, h.backingOffset)
	}
	if err := h.readExtensions(first, uint64(h.headerLength), extEndOff); err != nil {
		return nil, err
	}
	if err := h.check(uint64(fileSize)); err != nil {
		return nil, err
	}
	return h, nil
}

// readExtensions decodes the header extensions in first[start:end].
func (h *header) readExtensions(first []byte, start, end uint64) error {
	be := binary.BigEndian
	seen := map[uint32]bool{}
	for off := start; off < end; {
		if end-off < 8 {
			break // no room for another extension: the area ends here
		}
		typ := be.Uint32(first[off:])
		ln := uint64(be.Uint32(first[off+4:]))
		if typ == extEnd {
			break
		}
		what := fmt.Sprintf("header extension %#08x", typ)
		data := off + 8
		if ln > end-data {
			return formatErr(int64(off), what, "length %d runs past the end of the extension area at %#x", ln, end)
		}
		b := first[data : data+ln]
		if seen[typ] && (typ == extBackingFormat || typ == extDataFile || typ == extCrypto) {
			return formatErr(int64(off), what, "appears twice")
		}
		seen[typ] = true
		switch typ {
		case extBackingFormat:
			if ln > maxFmtName {
				return formatErr(int64(off), "backing format extension", "name of %d bytes is too long", ln)
			}
			h.backingFormat = string(b)
		case extDataFile:
			if ln > maxDataName {
				return formatErr(int64(off), "external data file extension", "name of %d bytes is too long", ln)
			}
			h.dataFile = string(b)
		case extFeatureNames:
			if h.featureNames == nil {
				h.featureNames = map[featureKey]string{}
			}
			for i := uint64(0); i+featNameSize <= ln; i += featNameSize {
				e := b[i : i+featNameSize]
				name, _, _ := bytes.Cut(e[2:], []byte{0})
				h.featureNames[featureKey{e[0], e[1]}] = string(name)
			}
		}
		// ln <= end-data <= 2 MiB: no overflow rounding up to 8.
		off = data + (ln+7)&^7
	}
	return nil
}

// check refuses what the reader cannot do and what is inconsistent.
func (h *header) check(fileSize uint64) error {
	switch h.cryptMethod {
	case 0:
	case 1:
		return formatErr(32, "header", "encrypted qcow2 (AES): not supported")
	case 2:
		return formatErr(32, "header", "encrypted qcow2 (LUKS): not supported")
	default:
		return formatErr(32, "header", "encrypted qcow2 (unknown crypt_method %d): not supported", h.cryptMethod)
	}
	if unknown := h.incompatible &^ incKnown; unknown != 0 {
		return formatErr(72, "header", "unknown incompatible feature bits: %s", h.bitNames(0, unknown))
	}
	compBit := h.incompatible&incCompType != 0
	switch {
	case h.compression > compZstd:
		return formatErr(offCompType, "header", "unknown compression type %d", h.compression)
	case compBit && h.compression == compZlib:
		return formatErr(offCompType, "header", "compression type bit set but compression_type is 0 (zlib)")
	case !compBit && h.compression != compZlib:
		return formatErr(offCompType, "header", "compression_type %d without the compression type bit", h.compression)
	}
	if h.incompatible&incExtendedL2 != 0 && h.clusterBits < minExtL2Bits {
		return formatErr(20, "header", "extended L2 entries need clusters of at least %d bytes, not %d", 1<<minExtL2Bits, 1<<h.clusterBits)
	}
	if h.incompatible&incDataFile != 0 {
		if h.backingFile != "" && h.autoclear&autoclearRawData != 0 {
			return formatErr(8, "header", "a raw external data file cannot have a backing file")
		}
	} else if h.dataFile != "" {
		return formatErr(72, "header", "external data file %q named but the data file feature bit is clear", h.dataFile)
	}
	if h.size > 1<<62 {
		return formatErr(24, "header", "virtual size %d too large", h.size)
	}
	clusterSize := uint64(1) << h.clusterBits
	if h.l1Offset&(clusterSize-1) != 0 {
		return formatErr(40, "header", "L1 table offset %#x is not aligned to the cluster size %d", h.l1Offset, clusterSize)
	}
	if uint64(h.l1Size) > maxL1Bytes/8 {
		return formatErr(36, "header", "L1 table of %d entries is larger than %d MiB", h.l1Size, maxL1Bytes>>20)
	}
	if need := h.l1Needed(); uint64(h.l1Size) < need {
		return formatErr(36, "header", "L1 table of %d entries is too small for a virtual size of %d bytes (needs %d)", h.l1Size, h.size, need)
	}
	if n := h.l1Needed(); n > 0 && h.l1Offset == 0 {
		return formatErr(40, "header", "L1 table offset is 0 (the header's cluster)")
	}
	if n := h.l1Needed(); n > 0 && (h.l1Offset > fileSize || n*8 > fileSize-h.l1Offset) {
		return formatErr(40, "L1 table", "%d entries at %#x run past the end of the file (%d bytes)", n, h.l1Offset, fileSize)
	}
	return nil
}

// l2Bits is log2 of the number of entries in an L2 table.
func (h *header) l2Bits() uint32 {
	if h.incompatible&incExtendedL2 != 0 {
		return h.clusterBits - 4 // 16-byte entries
	}
	return h.clusterBits - 3
}

// l1Needed is the number of L1 entries the virtual size needs.
func (h *header) l1Needed() uint64 {
	shift := h.clusterBits + h.l2Bits() // <= 21+18: bytes one L2 table maps
	return (h.size + (1 << shift) - 1) >> shift
}

// bitNames lists the set bits of mask, with the names from the feature
// name table when it has them: `5 ("foo"), 9`.
func (h *header) bitNames(kind uint8, mask uint64) string {
	var parts []string
	for bit := range 64 {
		if mask&(1<<bit) == 0 {
			continue
		}
		s := fmt.Sprint(bit)
		if name, ok := h.featureNames[featureKey{kind, uint8(bit)}]; ok {
			s += fmt.Sprintf(" (%q)", name)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
