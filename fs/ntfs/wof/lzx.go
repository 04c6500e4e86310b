package wof

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// LZX as WOF (and WIM) use it: each 32 KiB chunk compressed on its own
// with a 32 KiB window, no reset or delta extensions, and the x86 "E8"
// call translation undone on every chunk with a fixed file size of
// 12000000. A chunk is a sequence of blocks, each a 3-bit type (1
// verbatim, 2 aligned offset, 3 uncompressed), a size (one bit: 32768;
// else 16 bits) and then: for verbatim and aligned blocks, the codeword
// lengths of the main and length codes, coded as deltas from the
// previous block's with a 20-symbol precode (and, aligned blocks, eight
// 3-bit lengths of the aligned offset code first); for uncompressed
// blocks, the three recent offsets and the bytes as they are, 16-bit
// aligned. wimlib's decoder (lzx_decompress.c, lzx_common.c) was read to
// learn the format; this is our own.
const (
	lzxChunk         = 32768
	lzxMainSyms      = 256 + 30*8 // a 32 KiB window has 30 offset slots
	lzxMainSymsMax   = 656        // buildTable's scratch: the largest alphabet
	lzxLenSyms       = 249
	lzxPreSyms       = 20
	lzxAlignedSyms   = 8
	lzxMainTableBits = 11
	lzxLenTableBits  = 10
	lzxPreTableBits  = 6
	lzxAlignedBits   = 7
	// Decode table sizes: zlib's "enough" (for 656 main symbols, an
	// upper bound for 496).
	lzxMainTableSize    = 2726
	lzxLenTableSize     = 1326
	lzxPreTableSize     = 582
	lzxAlignedTableSize = 128
	// lzxOverrun is how far a run of lengths may write past the code it
	// belongs to (a run of 20+31 zeros with one length left), as in
	// wimlib, whose choice of what the overrun overwrites we keep.
	lzxOverrun = 50
	lzxE8Size  = 12000000
)

// lzxSlotBase is each offset slot's first offset (slots 0-2 are the
// recent offsets); lzxExtraBits the bits that follow it.
var (
	lzxSlotBase  [30]uint32
	lzxExtraBits [30]uint8
)

func init() {
	base := uint32(0)
	for s := range lzxSlotBase {
		e := uint8(0)
		if s >= 4 {
			e = uint8(s/2 - 1)
		}
		lzxExtraBits[s] = e
		lzxSlotBase[s] = base - 2 // offsets are stored plus 2
		base += 1 << e
	}
}

// LZXDecoder decompresses WOF's LZX chunks. The zero value is ready; it is not
// safe for concurrent use.
type LZXDecoder struct {
	mainTable    [lzxMainTableSize]uint32
	lenTable     [lzxLenTableSize]uint32
	preTable     [lzxPreTableSize]uint32
	alignedTable [lzxAlignedTableSize]uint32
	mainLens     [lzxMainSyms + lzxOverrun]uint8
	lenLens      [lzxLenSyms + lzxOverrun]uint8
	preLens      [lzxPreSyms]uint8
	alignedLens  [lzxAlignedSyms]uint8
	scratch      huffScratch
	br           bitReader
}

// Decompress decompresses src, one chunk of at most 32 KiB, into all of
// dst. Errors name the byte offsets in src and dst.
func (d *LZXDecoder) Decompress(dst, src []byte) error {
	if len(dst) > lzxChunk {
		return fmt.Errorf("lzx: %d-byte chunk, larger than the 32 KiB window", len(dst))
	}
	b := &d.br
	b.init(src)
	clear(d.mainLens[:])
	clear(d.lenLens[:])
	recent := [3]uint32{1, 1, 1}
	e8 := false
	out := 0
	for out < len(dst) {
		at := b.pos
		typ := b.bits(3)
		size := lzxChunk
		if b.bits(1) == 0 {
			size = int(b.bits(16))
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("lzx: block at input byte %d, output %d: %s", at, out, fmt.Sprintf(format, args...))
		}
		if size < 1 || size > len(dst)-out {
			return bad("block of %d bytes, %d left in the chunk", size, len(dst)-out)
		}
		switch typ {
		case 1, 2:
			if typ == 2 {
				for i := range d.alignedLens {
					d.alignedLens[i] = uint8(b.bits(3))
				}
				if err := buildTable(d.alignedTable[:], d.alignedLens[:], lzxAlignedBits, 7, &d.scratch); err != nil {
					return bad("aligned offset code: %v", err)
				}
			}
			if err := d.readLens(d.mainLens[:256]); err != nil {
				return bad("main code literals: %v", err)
			}
			if err := d.readLens(d.mainLens[256:lzxMainSyms]); err != nil {
				return bad("main code matches: %v", err)
			}
			if err := d.readLens(d.lenLens[:lzxLenSyms]); err != nil {
				return bad("length code: %v", err)
			}
			if err := buildTable(d.mainTable[:], d.mainLens[:lzxMainSyms], lzxMainTableBits, 16, &d.scratch); err != nil {
				return bad("main code: %v", err)
			}
			if err := buildTable(d.lenTable[:], d.lenLens[:lzxLenSyms], lzxLenTableBits, 16, &d.scratch); err != nil {
				return bad("length code: %v", err)
			}
			if err := d.block(dst[:out+size], out, typ == 2, &recent); err != nil {
				return bad("%v", err)
			}
			e8 = e8 || d.mainLens[0xE8] != 0
		case 3:
			// The recent offsets start at the next 16-bit boundary;
			// an aligned stream skips a whole word.
			b.ensure(1)
			b.unread(1)
			if b.overrun() {
				return bad("%v", b.errTruncated())
			}
			b.buf, b.n, b.phantom = 0, 0, 0
			if b.pos+12 > len(b.in) {
				return bad("uncompressed block header: %v", b.errTruncated())
			}
			for i := range recent {
				recent[i] = binary.LittleEndian.Uint32(b.in[b.pos+4*i:])
				if recent[i] == 0 {
					return bad("uncompressed block with a recent offset of 0")
				}
			}
			b.pos += 12
			if size > len(b.in)-b.pos {
				return bad("uncompressed block of %d bytes: %v", size, b.errTruncated())
			}
			copy(dst[out:out+size], b.in[b.pos:])
			b.pos += size + size&1
			b.pos = min(b.pos, len(b.in))
			e8 = true
		default:
			return bad("block type %d", typ)
		}
		out += size
	}
	if b.overrun() {
		return fmt.Errorf("lzx: %w", b.errTruncated())
	}
	if e8 {
		lzxUndoE8(dst)
	}
	return nil
}

// readLens reads a precode, then with it the codeword lengths lens as
// deltas from their values in the previous block. Runs may write up to
// lzxOverrun lengths past lens (the arrays have room).
func (d *LZXDecoder) readLens(lens []uint8) error {
	b := &d.br
	for i := range d.preLens {
		d.preLens[i] = uint8(b.bits(4))
	}
	if err := buildTable(d.preTable[:], d.preLens[:], lzxPreTableBits, 15, &d.scratch); err != nil {
		return fmt.Errorf("precode: %w", err)
	}
	room := lens[:len(lens)+lzxOverrun]
	for i := 0; i < len(lens); {
		sym := b.decode(d.preTable[:], lzxPreTableBits)
		var run int
		var l uint8
		switch {
		case sym < 17:
			room[i] = delta(room[i], sym)
			i++
			continue
		case sym == 17:
			run, l = 4+int(b.bits(4)), 0
		case sym == 18:
			run, l = 20+int(b.bits(5)), 0
		case sym != 19:
			return fmt.Errorf("a length decoded with an empty precode (input byte %d)", b.pos)
		default:
			run = 4 + int(b.bits(1))
			s := b.decode(d.preTable[:], lzxPreTableBits)
			if s > 17 {
				return fmt.Errorf("precode symbol %d in a run of equal lengths", s)
			}
			l = delta(room[i], s)
		}
		for k := 0; k < run; k++ {
			room[i+k] = l
		}
		i += run
	}
	return nil
}

// delta is a codeword length coded as the previous one minus sym,
// modulo 17.
func delta(prev uint8, sym uint32) uint8 {
	v := int(prev) - int(sym)
	if v < 0 {
		v += 17
	}
	return uint8(v)
}

// block decodes a verbatim or aligned offset block from dst[out:] to
// the end of dst. The bitReader's state is kept in local variables, for
// speed; nothing in a block reads bytes.
func (d *LZXDecoder) block(dst []byte, out int, aligned bool, recent *[3]uint32) error {
	b := &d.br
	in := b.in
	buf, n, pos, phantom := b.buf, b.n, b.pos, b.phantom
	mainT, lenT, alignT := &d.mainTable, &d.lenTable, &d.alignedTable
	fail := func(format string, args ...any) error {
		b.buf, b.n, b.pos, b.phantom = buf, n, pos, phantom
		return fmt.Errorf(format, args...)
	}
	for out < len(dst) {
		if n < 32 {
			buf, n, pos, phantom = refill(in, pos, buf, n, phantom)
		}
		e := mainT[buf>>(64-lzxMainTableBits)]
		if e&subtableFlag != 0 {
			buf <<= lzxMainTableBits
			n -= lzxMainTableBits
			e = mainT[e>>16&0x7FFF+uint32(buf>>(64-e&0xFF))]
		}
		buf <<= e & 0xFF
		n -= uint(e & 0xFF)
		sym := e >> 16
		if sym < 256 {
			dst[out] = byte(sym)
			out++
			continue
		}
		if sym >= lzxMainSyms {
			return fail("a symbol decoded with an empty main code (input byte %d)", pos)
		}
		sym -= 256
		length := int(sym & 7)
		slot := sym >> 3
		if length == 7 {
			if n < 16 {
				buf, n, pos, phantom = refill(in, pos, buf, n, phantom)
			}
			e := lenT[buf>>(64-lzxLenTableBits)]
			if e&subtableFlag != 0 {
				buf <<= lzxLenTableBits
				n -= lzxLenTableBits
				e = lenT[e>>16&0x7FFF+uint32(buf>>(64-e&0xFF))]
			}
			buf <<= e & 0xFF
			n -= uint(e & 0xFF)
			if e>>16 >= lzxLenSyms {
				return fail("a length decoded with an empty length code (input byte %d)", pos)
			}
			length += int(e >> 16)
		}
		length += 2
		var offset uint32
		if slot < 3 {
			offset = recent[slot]
			recent[slot] = recent[0]
		} else {
			// At most 13 extra bits (a 32 KiB window), or 10 and
			// a 7-bit aligned codeword.
			if n < 32 {
				buf, n, pos, phantom = refill(in, pos, buf, n, phantom)
			}
			extra := uint(lzxExtraBits[slot])
			if aligned && slot >= 8 {
				hi := uint32(buf >> (64 - (extra - 3))) // 0 when no bits
				buf <<= extra - 3
				n -= extra - 3
				e := alignT[buf>>(64-lzxAlignedBits)]
				buf <<= e & 0xFF
				n -= uint(e & 0xFF)
				if e>>16 >= lzxAlignedSyms {
					return fail("an offset decoded with an empty aligned offset code (input byte %d)", pos)
				}
				offset = hi<<3 | e>>16
			} else {
				offset = uint32(buf >> (64 - extra))
				buf <<= extra
				n -= extra
			}
			offset += lzxSlotBase[slot]
			recent[2], recent[1] = recent[1], recent[0]
		}
		recent[0] = offset
		if offset == 0 || int64(offset) > int64(out) {
			return fail("match at output %d refers %d bytes back (input byte %d)", out, offset, pos)
		}
		if length > len(dst)-out {
			return fail("match of %d bytes at output %d runs past the block's end %d (input byte %d)", length, out, len(dst), pos)
		}
		if length <= 32 {
			lzShort(dst, out, int(offset), length)
		} else {
			lzCopy(dst, out, int(offset), length)
		}
		out += length
	}
	b.buf, b.n, b.pos, b.phantom = buf, n, pos, phantom
	return nil
}

// lzxUndoE8 turns the absolute targets of x86 CALL instructions (E8 and
// a 32-bit operand) back into relative ones; a call cannot start in the
// last 10 bytes.
func lzxUndoE8(b []byte) {
	if len(b) <= 10 {
		return
	}
	end := len(b) - 10
	for i := 0; i < end; {
		j := bytes.IndexByte(b[i:end], 0xE8)
		if j < 0 {
			return
		}
		i += j
		abs := int32(binary.LittleEndian.Uint32(b[i+1:]))
		pos := int32(i)
		if abs >= 0 {
			if abs < lzxE8Size {
				binary.LittleEndian.PutUint32(b[i+1:], uint32(abs-pos))
			}
		} else if abs >= -pos {
			binary.LittleEndian.PutUint32(b[i+1:], uint32(abs+lzxE8Size))
		}
		i += 5
	}
}
