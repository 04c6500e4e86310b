package xz

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The block header (xz file format, section 3.1):
//
//	size byte: header size = (b+1)*4, 8 to 1024 bytes (0 would be the index indicator)
//	flags: bits 0-1 number of filters - 1, bits 2-5 reserved, 0x40 compressed size present,
//	       0x80 uncompressed size present
//	[compressed size varint] [uncompressed size varint]
//	filter flags, per filter: ID varint, size of properties varint, properties
//	zero padding | CRC32 of all the above (4)

// Filter IDs (xz file format, section 5.3, and liblzma's filter list).
const (
	filterDelta    = 0x03
	filterX86      = 0x04
	filterPowerPC  = 0x05
	filterIA64     = 0x06
	filterARM      = 0x07
	filterARMThumb = 0x08
	filterSPARC    = 0x09
	filterARM64    = 0x0a
	filterRISCV    = 0x0b
	filterLZMA2    = 0x21
)

// filterName names a filter ID for messages.
func filterName(id int64) string {
	switch id {
	case filterDelta:
		return "delta"
	case filterX86:
		return "BCJ x86"
	case filterPowerPC:
		return "BCJ PowerPC"
	case filterIA64:
		return "BCJ IA-64"
	case filterARM:
		return "BCJ ARM"
	case filterARMThumb:
		return "BCJ ARM-Thumb"
	case filterSPARC:
		return "BCJ SPARC"
	case filterARM64:
		return "BCJ ARM64"
	case filterRISCV:
		return "BCJ RISC-V"
	case filterLZMA2:
		return "LZMA2"
	}
	return fmt.Sprintf("unknown filter %#x", id)
}

// filter is one filter of a block's chain with its decoded properties.
type filter struct {
	id    int64
	dist  int    // delta: distance 1-256
	start uint32 // BCJ: start offset
	dict  int64  // LZMA2: dictionary size
}

// blockHeader is a decoded block header.
type blockHeader struct {
	size         int   // bytes, CRC32 included
	compressed   int64 // -1: not stored
	uncompressed int64 // -1: not stored
	filters      []filter
}

// lzma2Dict returns the dictionary size of an LZMA2 properties byte:
// (2 | b&1) << (b/2 + 11), with 40 meaning 4 GiB - 1.
func lzma2Dict(b byte) (int64, error) {
	if b > 40 {
		return 0, fmt.Errorf("LZMA2 dictionary size byte %d > 40", b)
	}
	if b == 40 {
		return 1<<32 - 1, nil
	}
	return int64(2|b&1) << (b/2 + 11), nil
}

// blockHeaderLen returns the size of a block header from its first byte;
// 0 means the byte is the index indicator, not a block.
func blockHeaderLen(b byte) int { return (int(b) + 1) * 4 }

// decodeBlockHeader decodes the whole header in b (len(b) is the header
// size from its first byte), found at off.
func decodeBlockHeader(b []byte, off int64) (blockHeader, error) {
	h := blockHeader{compressed: -1, uncompressed: -1}
	fail := func(at int, msg string, args ...any) (blockHeader, error) {
		return blockHeader{}, formatError(off+int64(at), "block header", fmt.Sprintf(msg, args...))
	}
	if len(b) < 8 || b[0] == 0 || blockHeaderLen(b[0]) != len(b) {
		return fail(0, "bad size byte")
	}
	h.size = len(b)
	body := b[:len(b)-4]
	if got, want := crc32.ChecksumIEEE(body), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return fail(len(b)-4, "CRC32 %#08x, stored %#08x", got, want)
	}
	flags := body[1]
	if flags&0x3c != 0 {
		return fail(1, "reserved flag bits set (%#02x)", flags)
	}
	r := bytes.NewReader(body[2:])
	pos := func() int { return len(body) - r.Len() }
	if flags&0x40 != 0 {
		v, err := readVarint(r)
		if err != nil || v == 0 {
			return fail(pos(), "bad compressed size (%d, %v)", v, err)
		}
		h.compressed = v
	}
	if flags&0x80 != 0 {
		v, err := readVarint(r)
		if err != nil {
			return fail(pos(), "bad uncompressed size: %v", err)
		}
		h.uncompressed = v
	}
	n := int(flags&3) + 1
	h.filters = make([]filter, 0, n)
	for i := 0; i < n; i++ {
		at := pos()
		id, err := readVarint(r)
		if err != nil {
			return fail(at, "filter %d: ID: %v", i, err)
		}
		psize, err := readVarint(r)
		if err != nil || psize > int64(r.Len()) {
			return fail(at, "filter %d (%s): bad size of properties", i, filterName(id))
		}
		props := make([]byte, psize)
		r.Read(props)
		last := i == n-1
		f := filter{id: id}
		switch {
		case id == filterLZMA2:
			if !last {
				return fail(at, "filter %d: LZMA2 is not the last filter", i)
			}
			if len(props) != 1 {
				return fail(at, "LZMA2 properties of %d bytes, want 1", len(props))
			}
			if f.dict, err = lzma2Dict(props[0]); err != nil {
				return fail(at, "%v", err)
			}
		case last:
			return fail(at, "the last filter is %s, not LZMA2", filterName(id))
		case id == filterDelta:
			if len(props) != 1 {
				return fail(at, "delta properties of %d bytes, want 1", len(props))
			}
			f.dist = int(props[0]) + 1
		case id >= filterX86 && id <= filterRISCV:
			switch len(props) {
			case 0:
			case 4:
				f.start = binary.LittleEndian.Uint32(props)
			default:
				return fail(at, "%s properties of %d bytes, want 0 or 4", filterName(id), len(props))
			}
		default:
			return fail(at, "%s (ID %#x) is not a filter this reader knows", filterName(id), id)
		}
		h.filters = append(h.filters, f)
	}
	for i := pos(); i < len(body); i++ {
		if body[i] != 0 {
			return fail(i, "non-zero padding byte %#02x", body[i])
		}
	}
	return h, nil
}
