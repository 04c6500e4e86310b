package wof

import "fmt"

// bitReader reads the bitstream of XPRESS and LZX: little-endian 16-bit
// words whose bits are read from the most significant, with bytes of
// their own (XPRESS's long match lengths, LZX's uncompressed blocks)
// read at the position after the last word loaded. Words are loaded
// only when the bits asked for are not held yet, as wimlib's decoders
// (and Windows' compressors) do: the position of those bytes depends on
// it.
//
// Past the end of the input, words read as zeros (a valid stream may
// end less than 16 bits after its last codeword), counted in phantom;
// err reports a stream that used them.
type bitReader struct {
	buf     uint32 // bits, the next at bit 31
	n       uint   // bits held in buf
	in      []byte
	pos     int  // next byte of in
	phantom uint // zero bits loaded past the end
}

func (b *bitReader) init(in []byte) {
	*b = bitReader{in: in}
}

// fill makes at least need bits (at most 17) available.
func (b *bitReader) fill(need uint) {
	for b.n < need {
		var w uint32
		if b.pos+2 <= len(b.in) {
			w = uint32(b.in[b.pos]) | uint32(b.in[b.pos+1])<<8
			b.pos += 2
		} else {
			b.phantom += 16
		}
		b.buf |= w << (16 - b.n)
		b.n += 16
	}
}

// peek returns the next k bits (1-16), which fill made available.
func (b *bitReader) peek(k uint) uint32 { return b.buf >> (32 - k) }

// skip drops k bits, which fill made available.
func (b *bitReader) skip(k uint) {
	b.buf <<= k
	b.n -= k
}

// bits reads k bits (0-17).
func (b *bitReader) bits(k uint) uint32 {
	if k == 0 {
		return 0
	}
	b.fill(k)
	v := uint32(uint64(b.buf) >> (32 - k))
	b.buf = uint32(uint64(b.buf) << k)
	b.n -= k
	return v
}

// decode reads one symbol with a decode table of tableBits (buildTable);
// codewords are at most 16 bits.
func (b *bitReader) decode(table []uint32, tableBits uint) uint32 {
	b.fill(16)
	e := table[b.peek(tableBits)]
	if e&subtableFlag != 0 {
		b.skip(tableBits)
		e = table[e>>16&0x7FFF+b.peek(uint(e&0xFF))]
	}
	b.skip(uint(e & 0xFF))
	return e >> 16
}

// overrun reports whether bits past the end of the input were used.
func (b *bitReader) overrun() bool { return b.n < b.phantom }

// byte reads a byte at the current byte position.
func (b *bitReader) byte() (byte, bool) {
	if b.pos >= len(b.in) {
		return 0, false
	}
	b.pos++
	return b.in[b.pos-1], true
}

// errTruncated is the error of a stream that runs past its input.
func (b *bitReader) errTruncated() error {
	return fmt.Errorf("input truncated at byte %d of %d", b.pos, len(b.in))
}
