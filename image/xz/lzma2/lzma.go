package lzma2

import (
	"encoding/binary"
	"fmt"
)

// The LZMA layer: a range decoder and the literal, match and repeated
// match symbols, as in the LZMA SDK's LzmaDec.c and liblzma's
// lzma_decoder.c, which this follows for the model (what each bit means
// and which probability it uses), written for Go's compiler:
//
//   - every probability array is a fixed-size array inside one struct,
//     indexed with a mask the compiler can see, so most accesses need no
//     bounds check (go build -gcflags=-d=ssa/check_bce shows the rest);
//   - the symbol loop is one function with the range coder's range,
//     code and input position in local variables, each bit decode
//     written out in place (Go does not inline a function that size and
//     would keep the state in memory behind a pointer);
//   - the bits of literals and of the length and slot trees, hard to
//     predict, are decoded without a branch (a mask computed by hand: the
//     compiler makes no conditional moves for four results), in small
//     functions that take and return range, code and input position, so
//     that the compiler keeps them in registers; the bits that choose the
//     kind of symbol take a branch;
//   - output goes straight into the caller's buffer, which is also the
//     dictionary; matches of up to 16 bytes are two 8-byte moves, longer
//     ones copy() (repeated, doubling, when they overlap themselves).

const (
	probBits = 11
	probInit = 1 << (probBits - 1)
	moveBits = 5
	topValue = 1 << 24
	minMatch = 2
	endSlot  = 14 // first distance slot coded with direct bits
)

type prob = uint16

// lenProbs are the probabilities of a length coder (match or rep).
type lenProbs struct {
	choice  prob
	choice2 prob
	low     [16][8]prob // by pos state; 3-bit tree, lengths 2-9
	mid     [16][8]prob // lengths 10-17
	high    [256]prob   // 8-bit tree, lengths 18-273
}

// probs is every adaptive probability of an LZMA state. The arrays are
// sized to a power of two at least as large as the model needs, so that
// masked indexes need no bounds check.
type probs struct {
	isMatch    [256]prob // state<<4 | posState
	isRep0Long [256]prob // state<<4 | posState
	isRep      [16]prob  // by state
	isRepG0    [16]prob
	isRepG1    [16]prob
	isRepG2    [16]prob
	distSlot   [4][64]prob // by min(len-2, 3)
	distSpec   [128]prob   // reverse trees of slots 4-13 (114 used)
	align      [16]prob
	matchLen   lenProbs
	repLen     lenProbs
	literal    [16][0x400]prob // by literal state; 0x300 used
}

// Props are LZMA's literal context bits, literal position bits and
// position bits.
type Props struct {
	LC, LP, PB int
}

// decodeProps decodes an LZMA2 properties byte: (pb*5 + lp)*9 + lc, with
// lc + lp <= 4.
func decodeProps(b byte) (Props, error) {
	if b > (4*5+4)*9+8 {
		return Props{}, fmt.Errorf("properties byte %#02x out of range", b)
	}
	p := Props{LC: int(b % 9), LP: int(b / 9 % 5), PB: int(b / 45)}
	if p.LC+p.LP > 4 {
		return Props{}, fmt.Errorf("properties byte %#02x: lc=%d + lp=%d > 4", b, p.LC, p.LP)
	}
	return p, nil
}

// lzma is the state that LZMA chunks carry from one to the next.
type lzma struct {
	p     probs
	props Props
	state uint32
	rep   [4]uint32 // distances - 1
}

// reset sets the state, the repeated distances and the probabilities
// (those of literal states the properties use) to their initial values.
func (z *lzma) reset() {
	z.state = 0
	z.rep = [4]uint32{}
	p := &z.p
	fill(p.isMatch[:], p.isRep0Long[:], p.isRep[:], p.isRepG0[:], p.isRepG1[:], p.isRepG2[:], p.distSpec[:], p.align[:])
	for i := range p.distSlot {
		fill(p.distSlot[i][:])
	}
	for _, l := range []*lenProbs{&p.matchLen, &p.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			fill(l.low[i][:], l.mid[i][:])
		}
		fill(l.high[:])
	}
	for i := 0; i < 1<<(z.props.LC+z.props.LP); i++ {
		fill(p.literal[i][:0x300])
	}
}

func fill(ss ...[]prob) {
	for _, s := range ss {
		for i := range s {
			s[i] = probInit
		}
	}
}

// litNext is the state after a literal (states 0-6 follow a literal,
// 7-11 a match: after a match the state is 7 or 10, after a rep 8 or 11,
// after a short rep 9 or 11, written out where they happen).
var litNext = [16]uint32{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 5}

// chunkError is an error in a chunk's LZMA data, at offset off of its
// compressed bytes.
type chunkError struct {
	off int
	msg string
}

// decodeChunk decodes one LZMA chunk: in is exactly its compressed bytes
// (range coder init included), out[pos:end] receives exactly its
// uncompressed bytes. out[dictStart:pos] is the dictionary so far (a
// negative dictStart means its start has been dropped; the buffer then
// holds at least dictSize bytes before pos), and no match may reach
// further back than dictSize. pos - dictStart is the position the
// model's pos states use.
func (z *lzma) decodeChunk(out []byte, pos, end int, in []byte, dictStart, dictSize int) *chunkError {
	if len(in) < 5 {
		return &chunkError{0, fmt.Sprintf("%d compressed bytes, shorter than the range coder's 5", len(in))}
	}
	if in[0] != 0 {
		return &chunkError{0, fmt.Sprintf("range coder's first byte %#02x, not 0", in[0])}
	}
	if end > len(out) || pos > end || pos < 0 {
		return &chunkError{0, "output range out of bounds"}
	}
	rng := uint32(0xffffffff)
	code := uint32(in[1])<<24 | uint32(in[2])<<16 | uint32(in[3])<<8 | uint32(in[4])
	ip := 5
	out = out[:end]

	pr := &z.p
	state := z.state
	rep0, rep1, rep2, rep3 := z.rep[0], z.rep[1], z.rep[2], z.rep[3]
	pbMask := uint32(1)<<z.props.PB - 1
	lpMask := uint32(1)<<z.props.LP - 1
	lc := uint(z.props.LC)
	posAdj := uint32(-dictStart) // pos + posAdj: position since the dictionary reset (mod 2^32)
	maxDist := uint32(min(int64(dictSize), 1<<32-1))
	var fail string

	for pos < len(out) {
		posState := (uint32(pos) + posAdj) & pbMask

		// isMatch
		i := (state<<4 | posState) & 0xff
		p := uint32(pr.isMatch[i])
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		bound := (rng >> probBits) * p
		if code < bound {
			rng = bound
			pr.isMatch[i] = prob(p + (1<<probBits-p)>>moveBits)

			// Literal.
			var prev uint32
			if pos > dictStart && pos > 0 {
				prev = uint32(out[pos-1])
			}
			ls := ((uint32(pos)+posAdj)&lpMask)<<lc + prev>>(8-lc)
			lit := &pr.literal[ls&15]
			var sym uint32
			if state < 7 {
				sym, rng, code, ip = decodeLiteral((*[256]prob)(lit[:256]), rng, code, in, ip)
			} else {
				src := pos - int(rep0) - 1
				if src < 0 {
					fail = "matched literal before the buffer"
					break
				}
				sym, rng, code, ip = decodeMatched(lit, uint32(out[src]), rng, code, in, ip)
			}
			out[pos] = byte(sym)
			pos++
			state = litNext[state&15]
			continue
		}
		rng -= bound
		code -= bound
		pr.isMatch[i] = prob(p - p>>moveBits)

		// isRep
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		p = uint32(pr.isRep[state&15])
		bound = (rng >> probBits) * p
		var lp *lenProbs
		if code < bound {
			// A match with a new distance.
			rng = bound
			pr.isRep[state&15] = prob(p + (1<<probBits-p)>>moveBits)
			rep3, rep2, rep1 = rep2, rep1, rep0
			lp = &pr.matchLen
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
		} else {
			rng -= bound
			code -= bound
			pr.isRep[state&15] = prob(p - p>>moveBits)
			if pos <= dictStart || pos == 0 {
				fail = "repeated match with an empty dictionary"
				break
			}
			// isRepG0
			if rng < topValue {
				rng <<= 8
				code <<= 8
				if uint(ip) < uint(len(in)) {
					code |= uint32(in[ip])
				}
				ip++
			}
			p = uint32(pr.isRepG0[state&15])
			bound = (rng >> probBits) * p
			if code < bound {
				rng = bound
				pr.isRepG0[state&15] = prob(p + (1<<probBits-p)>>moveBits)
				// isRep0Long
				if rng < topValue {
					rng <<= 8
					code <<= 8
					if uint(ip) < uint(len(in)) {
						code |= uint32(in[ip])
					}
					ip++
				}
				i := (state<<4 | posState) & 0xff
				p = uint32(pr.isRep0Long[i])
				bound = (rng >> probBits) * p
				if code < bound {
					// Short rep: one byte at rep0.
					rng = bound
					pr.isRep0Long[i] = prob(p + (1<<probBits-p)>>moveBits)
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					src := pos - int(rep0) - 1
					if src < 0 {
						fail = "short rep before the buffer"
						break
					}
					out[pos] = out[src]
					pos++
					continue
				}
				rng -= bound
				code -= bound
				pr.isRep0Long[i] = prob(p - p>>moveBits)
			} else {
				rng -= bound
				code -= bound
				pr.isRepG0[state&15] = prob(p - p>>moveBits)
				// isRepG1
				if rng < topValue {
					rng <<= 8
					code <<= 8
					if uint(ip) < uint(len(in)) {
						code |= uint32(in[ip])
					}
					ip++
				}
				p = uint32(pr.isRepG1[state&15])
				bound = (rng >> probBits) * p
				var dist uint32
				if code < bound {
					rng = bound
					pr.isRepG1[state&15] = prob(p + (1<<probBits-p)>>moveBits)
					dist = rep1
				} else {
					rng -= bound
					code -= bound
					pr.isRepG1[state&15] = prob(p - p>>moveBits)
					// isRepG2
					if rng < topValue {
						rng <<= 8
						code <<= 8
						if uint(ip) < uint(len(in)) {
							code |= uint32(in[ip])
						}
						ip++
					}
					p = uint32(pr.isRepG2[state&15])
					bound = (rng >> probBits) * p
					if code < bound {
						rng = bound
						pr.isRepG2[state&15] = prob(p + (1<<probBits-p)>>moveBits)
						dist = rep2
					} else {
						rng -= bound
						code -= bound
						pr.isRepG2[state&15] = prob(p - p>>moveBits)
						dist = rep3
						rep3 = rep2
					}
					rep2 = rep1
				}
				rep1 = rep0
				rep0 = dist
			}
			lp = &pr.repLen
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}

		// Length.
		var length uint32
		{
			if rng < topValue {
				rng <<= 8
				code <<= 8
				if uint(ip) < uint(len(in)) {
					code |= uint32(in[ip])
				}
				ip++
			}
			p := uint32(lp.choice)
			bound := (rng >> probBits) * p
			var sym uint32
			if code < bound {
				rng = bound
				lp.choice = prob(p + (1<<probBits-p)>>moveBits)
				sym, rng, code, ip = tree3(&lp.low[posState&15], rng, code, in, ip)
			} else {
				rng -= bound
				code -= bound
				lp.choice = prob(p - p>>moveBits)
				if rng < topValue {
					rng <<= 8
					code <<= 8
					if uint(ip) < uint(len(in)) {
						code |= uint32(in[ip])
					}
					ip++
				}
				p := uint32(lp.choice2)
				bound := (rng >> probBits) * p
				if code < bound {
					rng = bound
					lp.choice2 = prob(p + (1<<probBits-p)>>moveBits)
					sym, rng, code, ip = tree3(&lp.mid[posState&15], rng, code, in, ip)
					sym += 8
				} else {
					rng -= bound
					code -= bound
					lp.choice2 = prob(p - p>>moveBits)
					sym, rng, code, ip = decodeLiteral(&lp.high, rng, code, in, ip)
					sym += 16
				}
			}
			length = sym
		}

		if lp == &pr.matchLen {
			// Distance.
			var slot uint32
			slot, rng, code, ip = tree6(&pr.distSlot[min(length, 3)], rng, code, in, ip)
			dist := slot
			if slot >= 4 {
				nd := slot>>1 - 1
				dist = (2 | slot&1) << nd
				if slot < endSlot {
					// Reverse tree over distSpec from dist - slot.
					base := dist - slot - 1
					m := uint32(1)
					for k := uint32(0); k < nd; k++ {
						if rng < topValue {
							rng <<= 8
							code <<= 8
							if uint(ip) < uint(len(in)) {
								code |= uint32(in[ip])
							}
							ip++
						}
						j := (base + m) & 127
						p := uint32(pr.distSpec[j])
						bound := (rng >> probBits) * p
						if code < bound {
							rng = bound
							pr.distSpec[j] = prob(p + (1<<probBits-p)>>moveBits)
							m <<= 1
						} else {
							rng -= bound
							code -= bound
							pr.distSpec[j] = prob(p - p>>moveBits)
							m = m<<1 | 1
							dist += 1 << k
						}
					}
				} else {
					// Direct bits, then 4 bits of the align tree.
					var direct uint32
					for k := nd - 4; k > 0; k-- {
						if rng < topValue {
							rng <<= 8
							code <<= 8
							if uint(ip) < uint(len(in)) {
								code |= uint32(in[ip])
							}
							ip++
						}
						rng >>= 1
						code -= rng
						t := 0 - code>>31 // all ones if code was < rng: bit 0
						code += rng & t
						direct = direct<<1 + t + 1
					}
					dist += direct << 4
					m := uint32(1)
					for k := uint32(0); k < 4; k++ {
						if rng < topValue {
							rng <<= 8
							code <<= 8
							if uint(ip) < uint(len(in)) {
								code |= uint32(in[ip])
							}
							ip++
						}
						p := uint32(pr.align[m&15])
						bound := (rng >> probBits) * p
						if code < bound {
							rng = bound
							pr.align[m&15] = prob(p + (1<<probBits-p)>>moveBits)
							m <<= 1
						} else {
							rng -= bound
							code -= bound
							pr.align[m&15] = prob(p - p>>moveBits)
							m = m<<1 | 1
							dist += 1 << k
						}
					}
					if dist == 0xffffffff {
						fail = "end of payload marker, which LZMA2 does not allow"
						break
					}
				}
			}
			rep0 = dist
			if dist >= maxDist || int64(dist) >= int64(pos)-int64(dictStart) {
				fail = fmt.Sprintf("match distance %d beyond the %d bytes of dictionary", int64(dist)+1, min(int64(pos)-int64(dictStart), int64(maxDist)))
				break
			}
		}

		// Copy the match.
		n := int(length) + minMatch
		src := pos - int(rep0) - 1
		if n > len(out)-pos {
			fail = fmt.Sprintf("match of %d bytes past the chunk end (%d bytes left)", n, len(out)-pos)
			break
		}
		if src < 0 {
			fail = "match before the buffer"
			break
		}
		switch d := int(rep0) + 1; {
		case d >= 8 && n <= 16 && pos+16 <= len(out):
			// Short: two 8-byte moves, the second reading what the
			// first wrote if d < 16, as a byte loop would; the bytes
			// past pos+n are overwritten by what comes next.
			binary.LittleEndian.PutUint64(out[pos:], binary.LittleEndian.Uint64(out[src:]))
			binary.LittleEndian.PutUint64(out[pos+8:], binary.LittleEndian.Uint64(out[src+8:]))
		case d >= n:
			copy(out[pos:pos+n], out[src:src+n])
		default:
			// Overlapping: repeat the d bytes, doubling the piece.
			for k := 0; k < n; {
				k += copy(out[pos+k:pos+n], out[src:pos+k])
			}
		}
		pos += n
	}
	if fail != "" {
		return &chunkError{min(ip, len(in)), fail}
	}
	if rng < topValue {
		rng <<= 8
		code <<= 8
		if uint(ip) < uint(len(in)) {
			code |= uint32(in[ip])
		}
		ip++
	}
	if ip > len(in) {
		return &chunkError{len(in), "compressed data ends before the chunk's uncompressed size"}
	}
	if uint(ip) < uint(len(in)) {
		return &chunkError{ip, fmt.Sprintf("chunk's uncompressed size reached with %d of its compressed bytes left", len(in)-ip)}
	}
	if code != 0 {
		return &chunkError{ip, "range coder not finished at the chunk end"}
	}
	z.state = state
	z.rep = [4]uint32{rep0, rep1, rep2, rep3}
	return nil
}

// decodeLiteral decodes the 8 bits of a literal with the probabilities
// lit (or of a long length, with the same tree), without branches on the
// bits. It is a function of its own so that
// the compiler keeps its few variables in registers.
func decodeLiteral(lit *[256]prob, rng, code uint32, in []byte, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	for sym < 0x100 {
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		p := uint32(lit[sym&0xff])
		bound := (rng >> probBits) * p
		m := uint32(int64(uint64(code)-uint64(bound)) >> 63) // all ones: bit 0
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		lit[sym&0xff] = prob(p + ((1<<probBits-p)>>moveBits)&m - (p>>moveBits)&^m)
		sym = sym<<1 + m + 1
	}
	return sym & 0xff, rng, code, ip
}

// decodeMatched decodes a literal after a match: while its bits agree
// with those of the byte mb at rep0, they use the probabilities of the
// match bit (LzmaDec.c's offs trick).
func decodeMatched(lit *[0x400]prob, mb uint32, rng, code uint32, in []byte, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	offs := uint32(0x100)
	for sym < 0x100 {
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		mb <<= 1
		b := offs
		offs &= mb
		j := (offs + b + sym) & 0x3ff
		p := uint32(lit[j])
		bound := (rng >> probBits) * p
		m := uint32(int64(uint64(code)-uint64(bound)) >> 63) // all ones: bit 0
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		lit[j] = prob(p + ((1<<probBits-p)>>moveBits)&m - (p>>moveBits)&^m)
		sym = sym<<1 + m + 1
		offs ^= b & m
	}
	return sym & 0xff, rng, code, ip
}

// tree3 decodes a 3-bit tree (the low and mid lengths), branchless.
func tree3(t *[8]prob, rng, code uint32, in []byte, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	for k := 0; k < 3; k++ {
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		p := uint32(t[sym&7])
		bound := (rng >> probBits) * p
		m := uint32(int64(uint64(code)-uint64(bound)) >> 63)
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		t[sym&7] = prob(p + ((1<<probBits-p)>>moveBits)&m - (p>>moveBits)&^m)
		sym = sym<<1 + m + 1
	}
	return sym - 8, rng, code, ip
}

// tree6 decodes a 6-bit tree (the distance slots), branchless.
func tree6(t *[64]prob, rng, code uint32, in []byte, ip int) (uint32, uint32, uint32, int) {
	sym := uint32(1)
	for k := 0; k < 6; k++ {
		if rng < topValue {
			rng <<= 8
			code <<= 8
			if uint(ip) < uint(len(in)) {
				code |= uint32(in[ip])
			}
			ip++
		}
		p := uint32(t[sym&63])
		bound := (rng >> probBits) * p
		m := uint32(int64(uint64(code)-uint64(bound)) >> 63)
		rng = bound&m | (rng-bound)&^m
		code -= bound &^ m
		t[sym&63] = prob(p + ((1<<probBits-p)>>moveBits)&m - (p>>moveBits)&^m)
		sym = sym<<1 + m + 1
	}
	return sym - 64, rng, code, ip
}
