package wof

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// XPRESS with Huffman coding (MS-XCA 2.1-2.2, "LZ77+Huffman"), as WOF
// stores one chunk (4, 8 or 16 KiB): 256 bytes of 4-bit codeword
// lengths of 512 symbols, then the bitstream. Symbols 0-255 are
// literals; symbol 256+16·o+l is a match of offset 2^o plus o more
// bits and length l+3, l = 15 meaning a length byte follows in the
// byte stream (255 meaning a 16-bit length follows instead). wimlib's
// decoder (xpress_decompress.c) was read to learn the details that the
// specification leaves open (when words are loaded); this is our own.
const (
	xpressSyms      = 512
	xpressTableBits = 11
	xpressMaxLen    = 15
	// xpressTableSize is zlib's "enough" for 512 symbols, 11 root bits
	// and 15-bit codewords.
	xpressTableSize = 2566
)

// XpressDecoder decompresses XPRESS Huffman chunks. The zero value is ready;
// it is not safe for concurrent use.
type XpressDecoder struct {
	table   [xpressTableSize]uint32
	lens    [xpressSyms]uint8
	scratch huffScratch
	br      bitReader
}

// Decompress decompresses src, one chunk, into all of dst. Errors name
// the byte offset in src.
func (d *XpressDecoder) Decompress(dst, src []byte) error {
	if len(src) < xpressSyms/2 {
		return fmt.Errorf("xpress: %d bytes, shorter than the 256-byte code length table", len(src))
	}
	for i := 0; i < xpressSyms/2; i++ {
		d.lens[2*i] = src[i] & 0xF
		d.lens[2*i+1] = src[i] >> 4
	}
	if err := buildTable(d.table[:], d.lens[:], xpressTableBits, xpressMaxLen, &d.scratch); err != nil {
		return fmt.Errorf("xpress: code length table: %w", err)
	}
	b := &d.br
	b.init(src[xpressSyms/2:])
	// The bitReader's state in local variables, for speed; the rare
	// paths (length bytes) go through b.
	in, table := b.in, &d.table
	var buf uint64
	var n, phantom uint
	pos, out := 0, 0
	for out < len(dst) {
		if n < 32 {
			if pos+4 <= len(in) {
				w := bits.RotateLeft32(binary.LittleEndian.Uint32(in[pos:]), 16)
				buf |= uint64(w) << (32 - n)
				n += 32
				pos += 4
			} else {
				buf, n, pos, phantom = refillEnd(in, pos, buf, n, phantom)
			}
		}
		e := table[buf>>(64-xpressTableBits)]
		if e&subtableFlag != 0 {
			buf <<= xpressTableBits
			n -= xpressTableBits
			e = table[e>>16&0x7FFF+uint32(buf>>(64-e&0xFF))]
		}
		l := uint(e & 0xFF)
		buf <<= l
		n -= l
		sym := e >> 16
		if sym < 256 {
			dst[out] = byte(sym)
			out++
			continue
		}
		if sym >= xpressSyms {
			return fmt.Errorf("xpress: a symbol decoded with an empty Huffman code (input byte %d)", pos+xpressSyms/2)
		}
		// At least 17 bits are held: the offset's are there.
		length := int(sym & 0xF)
		lg := uint(sym>>4) & 0xF
		var offset int
		if length != 0xF {
			offset = 1<<lg | int(buf>>(64-lg)) // 1 when lg is 0
			buf <<= lg
			n -= lg
		} else {
			// The length bytes follow the words wimlib has loaded
			// after making 16 bits available for the offset.
			b.buf, b.n, b.pos, b.phantom = buf, n, pos, phantom
			b.unread(16)
			offset = 1<<lg | int(b.bits(lg))
			v, ok := b.byte()
			if !ok {
				return fmt.Errorf("xpress: match length byte at %d: %w", b.pos+xpressSyms/2, b.errTruncated())
			}
			length += int(v)
			if length == 0xF+0xFF {
				lo, ok1 := b.byte()
				hi, ok2 := b.byte()
				if !ok1 || !ok2 {
					return fmt.Errorf("xpress: 16-bit match length at %d: %w", b.pos+xpressSyms/2, b.errTruncated())
				}
				length = int(lo) | int(hi)<<8
			}
			buf, n, pos, phantom = b.buf, b.n, b.pos, b.phantom
		}
		length += 3
		if offset > out {
			return fmt.Errorf("xpress: match at output %d refers %d bytes back (input byte %d)", out, offset, pos+xpressSyms/2)
		}
		if length > len(dst)-out {
			return fmt.Errorf("xpress: match of %d bytes at output %d runs past the %d-byte chunk (input byte %d)", length, out, len(dst), pos+xpressSyms/2)
		}
		if length <= 32 {
			lzShort(dst, out, offset, length)
		} else {
			lzCopy(dst, out, offset, length)
		}
		out += length
	}
	b.buf, b.n, b.pos, b.phantom = buf, n, pos, phantom
	if b.overrun() {
		return fmt.Errorf("xpress: %w", b.errTruncated())
	}
	return nil
}

// lzCopy copies a match of length bytes from offset bytes back to
// dst[out:], both checked by the caller; overlapping copies repeat.
func lzCopy(dst []byte, out, offset, length int) {
	src := out - offset
	if offset >= length {
		copy(dst[out:out+length], dst[src:src+length])
		return
	}
	if offset == 1 {
		v := dst[src]
		s := dst[out : out+length]
		for i := range s {
			s[i] = v
		}
		return
	}
	// Overlapping: copy in doubling pieces of the period.
	for length > 0 {
		n := copy(dst[out:out+min(length, out-src)], dst[src:out])
		out += n
		length -= n
	}
}
