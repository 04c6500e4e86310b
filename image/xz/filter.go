package xz

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The delta and BCJ filters. They are small and fully specified by
// xz-utils' liblzma (delta_decoder.c, simple/x86.c, arm.c, armthumb.c,
// arm64.c, powerpc.c, sparc.c, ia64.c), which these follow byte for
// byte; the tests compare with `xz -dc` on files made with
// --filters=delta:dist=4, --x86, --arm, --armthumb, --arm64, --powerpc,
// --sparc and --ia64. RISC-V (xz 5.6) is not here: this machine's xz
// cannot make a file to test it with.

// unfilter undoes one filter in place. It returns how many bytes of buf
// are final; the rest (x86 keeps up to 4 bytes back until it sees what
// follows) is offered again, with more bytes after it, on the next call.
// With eof set every byte is final.
type unfilter interface {
	apply(buf []byte, eof bool) int
}

func newUnfilter(f filter) (unfilter, error) {
	switch f.id {
	case filterDelta:
		return &deltaDec{dist: f.dist}, nil
	case filterX86:
		return &x86Dec{pos: f.start, prevPos: f.start - 5}, nil
	case filterARM:
		return &simpleDec{pos: f.start, code: armCode}, nil
	case filterARMThumb:
		return &simpleDec{pos: f.start, code: armThumbCode}, nil
	case filterARM64:
		return &simpleDec{pos: f.start, code: arm64Code}, nil
	case filterPowerPC:
		return &simpleDec{pos: f.start, code: powerPCCode}, nil
	case filterSPARC:
		return &simpleDec{pos: f.start, code: sparcCode}, nil
	case filterIA64:
		return &simpleDec{pos: f.start, code: ia64Code}, nil
	}
	return nil, fmt.Errorf("the %s filter is not supported (only LZMA2, delta and the BCJ filters of xz 5.4 are): recompress with xz without it", filterName(f.id))
}

// deltaDec undoes the delta filter: each byte is stored as its difference
// with the byte dist before it.
type deltaDec struct {
	dist    int
	history [256]byte
	pos     uint8
}

func (d *deltaDec) apply(buf []byte, eof bool) int {
	for i := range buf {
		buf[i] += d.history[uint8(d.dist+int(d.pos))]
		d.history[d.pos] = buf[i]
		d.pos--
	}
	return len(buf)
}

// x86Dec undoes the x86 BCJ filter: the 32-bit relative addresses of
// E8 (call) and E9 (jmp) instructions were made absolute by the encoder.
type x86Dec struct {
	pos      uint32 // stream position of buf[0]
	prevMask uint32
	prevPos  uint32
}

func test86MSByte(b byte) bool { return b == 0 || b == 0xff }

var (
	x86MaskAllowed = [8]bool{true, true, true, false, true, false, false, false}
	x86MaskBit     = [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
)

func (x *x86Dec) apply(buf []byte, eof bool) int {
	n := x.code(buf)
	if eof {
		n = len(buf)
	}
	x.pos += uint32(n)
	return n
}

// code is liblzma's x86_code for decoding.
func (x *x86Dec) code(buf []byte) int {
	if len(buf) < 5 {
		return 0
	}
	nowPos := x.pos
	prevMask, prevPos := x.prevMask, x.prevPos
	if nowPos-prevPos > 5 {
		prevPos = nowPos - 5
	}
	limit := len(buf) - 5
	i := 0
	for i <= limit {
		b := buf[i]
		if b != 0xe8 && b != 0xe9 {
			i++
			continue
		}
		offset := nowPos + uint32(i) - prevPos
		prevPos = nowPos + uint32(i)
		if offset > 5 {
			prevMask = 0
		} else {
			for k := uint32(0); k < offset; k++ {
				prevMask &= 0x77
				prevMask <<= 1
			}
		}
		b = buf[i+4]
		if test86MSByte(b) && x86MaskAllowed[(prevMask>>1)&7] && prevMask>>1 < 0x10 {
			src := uint32(b)<<24 | uint32(buf[i+3])<<16 | uint32(buf[i+2])<<8 | uint32(buf[i+1])
			var dest uint32
			for {
				dest = src - (nowPos + uint32(i) + 5)
				if prevMask == 0 {
					break
				}
				k := x86MaskBit[prevMask>>1]
				b = byte(dest >> (24 - k*8))
				if !test86MSByte(b) {
					break
				}
				src = dest ^ (1<<(32-k*8) - 1)
			}
			buf[i+4] = ^byte((dest>>24)&1 - 1)
			buf[i+3] = byte(dest >> 16)
			buf[i+2] = byte(dest >> 8)
			buf[i+1] = byte(dest)
			i += 5
			prevMask = 0
		} else {
			i++
			prevMask |= 1
			if test86MSByte(b) {
				prevMask |= 0x10
			}
		}
	}
	x.prevMask, x.prevPos = prevMask, prevPos
	return i
}

// simpleDec undoes one of the BCJ filters other than x86: code converts
// the instructions of buf, which starts at stream position pos, and
// returns how many bytes it is done with (whole instructions); the rest
// waits for more bytes or, at the end, stays as is.
type simpleDec struct {
	pos  uint32
	code func(pos uint32, buf []byte) int
}

func (s *simpleDec) apply(buf []byte, eof bool) int {
	n := s.code(s.pos, buf)
	if eof {
		n = len(buf)
	}
	s.pos += uint32(n)
	return n
}

// armCode: BL instructions (4-byte aligned, top byte 0xEB) with a 24-bit
// word offset.
func armCode(pos uint32, buf []byte) int {
	i := 0
	for ; i+4 <= len(buf); i += 4 {
		if buf[i+3] != 0xeb {
			continue
		}
		src := (uint32(buf[i+2])<<16 | uint32(buf[i+1])<<8 | uint32(buf[i])) << 2
		dest := (src - (pos + uint32(i) + 8)) >> 2
		buf[i+2], buf[i+1], buf[i] = byte(dest>>16), byte(dest>>8), byte(dest)
	}
	return i
}

// armThumbCode: Thumb BL instruction pairs (2-byte aligned).
func armThumbCode(pos uint32, buf []byte) int {
	i := 0
	for ; i+4 <= len(buf); i += 2 {
		if buf[i+1]&0xf8 != 0xf0 || buf[i+3]&0xf8 != 0xf8 {
			continue
		}
		src := (uint32(buf[i+1]&7)<<19 | uint32(buf[i])<<11 | uint32(buf[i+3]&7)<<8 | uint32(buf[i+2])) << 1
		dest := (src - (pos + uint32(i) + 4)) >> 1
		buf[i+1] = 0xf0 | byte(dest>>19)&7
		buf[i] = byte(dest >> 11)
		buf[i+3] = 0xf8 | byte(dest>>8)&7
		buf[i+2] = byte(dest)
		i += 2
	}
	return i
}

// arm64Code: BL (26-bit immediate) and ADRP (within +-512 MiB).
func arm64Code(pos uint32, buf []byte) int {
	i := 0
	for ; i+4 <= len(buf); i += 4 {
		pc := pos + uint32(i)
		ins := binary.LittleEndian.Uint32(buf[i:])
		switch {
		case ins>>26 == 0x25:
			ins = 0x94000000 | (ins-pc>>2)&0x03ffffff
			binary.LittleEndian.PutUint32(buf[i:], ins)
		case ins&0x9f000000 == 0x90000000:
			src := ins>>29&3 | ins>>3&0x001ffffc
			if (src+0x00020000)&0x001c0000 != 0 {
				continue
			}
			dest := src - pc>>12
			ins &= 0x9000001f
			ins |= (dest & 3) << 29
			ins |= (dest & 0x0003fffc) << 3
			ins |= (0 - dest&0x00020000) & 0x00e00000
			binary.LittleEndian.PutUint32(buf[i:], ins)
		}
	}
	return i
}

// powerPCCode: big-endian "bl" (opcode 18, AA=0, LK=1).
func powerPCCode(pos uint32, buf []byte) int {
	i := 0
	for ; i+4 <= len(buf); i += 4 {
		if buf[i]>>2 != 0x12 || buf[i+3]&3 != 1 {
			continue
		}
		src := uint32(buf[i]&3)<<24 | uint32(buf[i+1])<<16 | uint32(buf[i+2])<<8 | uint32(buf[i+3]&^3)
		dest := src - (pos + uint32(i))
		buf[i] = 0x48 | byte(dest>>24)&3
		buf[i+1] = byte(dest >> 16)
		buf[i+2] = byte(dest >> 8)
		buf[i+3] = buf[i+3]&3 | byte(dest)
	}
	return i
}

// sparcCode: "call" with a displacement that fits 22 bits.
func sparcCode(pos uint32, buf []byte) int {
	i := 0
	for ; i+4 <= len(buf); i += 4 {
		if !(buf[i] == 0x40 && buf[i+1]&0xc0 == 0) && !(buf[i] == 0x7f && buf[i+1]&0xc0 == 0xc0) {
			continue
		}
		src := binary.BigEndian.Uint32(buf[i:]) << 2
		dest := (src - (pos + uint32(i))) >> 2
		dest = ((0-(dest>>22&1))<<22)&0x3fffffff | dest&0x3fffff | 0x40000000
		binary.BigEndian.PutUint32(buf[i:], dest)
	}
	return i
}

// ia64BranchTable says, by bundle template, which of the 3 slots of a
// 16-byte bundle may hold a branch.
var ia64BranchTable = [32]uint32{
	0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0,
	4, 4, 6, 6, 0, 0, 7, 7,
	4, 4, 0, 0, 4, 4, 0, 0,
}

// ia64Code: IP-relative branches in 16-byte bundles.
func ia64Code(pos uint32, buf []byte) int {
	i := 0
	for ; i+16 <= len(buf); i += 16 {
		mask := ia64BranchTable[buf[i]&0x1f]
		for slot, bitPos := uint32(0), uint32(5); slot < 3; slot, bitPos = slot+1, bitPos+41 {
			if mask>>slot&1 == 0 {
				continue
			}
			bytePos := i + int(bitPos>>3)
			bitRes := bitPos & 7
			var ins uint64
			for j := 0; j < 6; j++ {
				ins |= uint64(buf[bytePos+j]) << (8 * j)
			}
			norm := ins >> bitRes
			if norm>>37&0xf != 5 || norm>>9&7 != 0 {
				continue
			}
			src := uint32(norm>>13&0xfffff) | uint32(norm>>36&1)<<20
			src <<= 4
			dest := (src - (pos + uint32(i))) >> 4
			norm &^= uint64(0x8fffff) << 13
			norm |= uint64(dest&0xfffff) << 13
			norm |= uint64(dest&0x100000) << (36 - 20)
			ins &= 1<<bitRes - 1
			ins |= norm << bitRes
			for j := 0; j < 6; j++ {
				buf[bytePos+j] = byte(ins >> (8 * j))
			}
		}
	}
	return i
}

// unfilterReader reads from src and undoes one filter.
type unfilterReader struct {
	src        io.Reader
	f          unfilter
	buf        []byte
	start, fin int // buf[start:fin] is final and not yet read
	end        int // buf[fin:end] waits for more input
	eof        bool
	err        error
}

func newUnfilterReader(src io.Reader, f unfilter) *unfilterReader {
	return &unfilterReader{src: src, f: f, buf: make([]byte, 64<<10)}
}

func (u *unfilterReader) Read(p []byte) (int, error) {
	for u.start == u.fin {
		if u.err != nil {
			return 0, u.err
		}
		if u.eof {
			return 0, io.EOF
		}
		// Keep the bytes still waiting, then read more after them.
		m := copy(u.buf, u.buf[u.fin:u.end])
		u.start, u.fin, u.end = 0, 0, m
		k, err := io.ReadFull(u.src, u.buf[m:])
		u.end += k
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			u.eof = true
		default:
			u.err = err
		}
		u.fin = u.f.apply(u.buf[:u.end], u.eof && u.err == nil)
	}
	n := copy(p, u.buf[u.start:u.fin])
	u.start += n
	return n, nil
}
