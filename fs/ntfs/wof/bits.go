package wof

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// bitReader reads the bitstream of XPRESS and LZX: little-endian 16-bit
// words whose bits are read from the most significant, with bytes of
// their own (XPRESS's long match lengths, LZX's uncompressed blocks)
// read at the position after the last word loaded. Where those bytes
// are depends on how many words the decoder has loaded: wimlib's
// decoders (and Windows' compressors, which wimlib matches) load a word
// only when the bits asked for (at most 17) are not held yet. We load
// 32 bits at a time, for speed, and before reading bytes give back the
// words wimlib would not have loaded yet (unread).
//
// Past the end of the input, words read as zeros (a valid stream may
// end less than 16 bits after its last codeword), counted in phantom;
// overrun reports a stream that used them.
type bitReader struct {
	buf     uint64 // bits, the next at bit 63
	n       uint   // bits held in buf
	in      []byte
	pos     int  // next byte of in
	phantom uint // zero bits loaded past the end
}

func (b *bitReader) init(in []byte) {
	*b = bitReader{in: in}
}

// fill loads 32 bits; n must be less than 32.
func (b *bitReader) fill() {
	if b.pos+4 <= len(b.in) {
		w := uint64(binary.LittleEndian.Uint16(b.in[b.pos:]))<<16 | uint64(binary.LittleEndian.Uint16(b.in[b.pos+2:]))
		b.buf |= w << (32 - b.n)
		b.n += 32
		b.pos += 4
		return
	}
	for k := 0; k < 2; k++ {
		var w uint64
		if b.pos+2 <= len(b.in) {
			w = uint64(binary.LittleEndian.Uint16(b.in[b.pos:]))
			b.pos += 2
		} else {
			b.phantom += 16
		}
		b.buf |= w << (48 - b.n)
		b.n += 16
	}
}

// ensure makes at least k bits (at most 32) available.
func (b *bitReader) ensure(k uint) {
	if b.n < k {
		b.fill()
	}
}

// bits reads k bits (0-32).
func (b *bitReader) bits(k uint) uint32 {
	b.ensure(k)
	v := uint32(b.buf >> (64 - k)) // 0 when k is 0
	b.buf <<= k
	b.n -= k
	return v
}

// decode reads one symbol with a decode table of tableBits (buildTable);
// codewords are at most 16 bits.
func (b *bitReader) decode(table []uint32, tableBits uint) uint32 {
	b.ensure(16)
	e := table[b.buf>>(64-tableBits)]
	if e&subtableFlag != 0 {
		b.buf <<= tableBits
		b.n -= tableBits
		e = table[e>>16&0x7FFF+uint32(b.buf>>(64-e&0xFF))]
	}
	l := uint(e & 0xFF)
	b.buf <<= l
	b.n -= l
	return e >> 16
}

// unread gives back whole words so that at most keep+15 bits stay
// loaded, the state of a reader that loads a word only when fewer than
// keep bits are held (keep 1-16).
func (b *bitReader) unread(keep uint) {
	if b.n < keep {
		return
	}
	for k := (b.n - keep) / 16; k > 0; k-- {
		if b.phantom >= 16 {
			b.phantom -= 16
		} else {
			b.pos -= 2
		}
		b.n -= 16
	}
	b.buf &= ^uint64(0) << (64 - b.n) // 0 when n is 0
}

// overrun reports whether bits past the end of the input were used.
func (b *bitReader) overrun() bool { return b.n < b.phantom }

// byte reads a byte at the current byte position (after unread).
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

// refill loads 32 bits into buf, which holds n < 32 bits: the
// bitReader's fill for decoders that keep its state in local variables.
func refill(in []byte, pos int, buf uint64, n, phantom uint) (uint64, uint, int, uint) {
	if pos+4 <= len(in) {
		w := bits.RotateLeft32(binary.LittleEndian.Uint32(in[pos:]), 16)
		return buf | uint64(w)<<(32-n), n + 32, pos + 4, phantom
	}
	return refillEnd(in, pos, buf, n, phantom)
}

// refillEnd is refill near the end of the input.
func refillEnd(in []byte, pos int, buf uint64, n, phantom uint) (uint64, uint, int, uint) {
	b := bitReader{buf: buf, n: n, in: in, pos: pos, phantom: phantom}
	b.fill()
	return b.buf, b.n, b.pos, b.phantom
}

// lzShort copies a match of at most a few dozen bytes, both checked by
// the caller: 8 bytes at a time when the match is 8 or more bytes back
// and dst has room for the last word's overshoot (bytes past the match
// that later output overwrites), else byte by byte (overlapping or not).
func lzShort(dst []byte, out, offset, length int) {
	if offset >= 8 && out+length+8 <= len(dst) {
		for i := 0; i < length; i += 8 {
			binary.LittleEndian.PutUint64(dst[out+i:], binary.LittleEndian.Uint64(dst[out-offset+i:]))
		}
		return
	}
	d := dst[out-offset : out+length]
	for i := 0; i < length; i++ {
		d[offset+i] = d[i]
	}
}
