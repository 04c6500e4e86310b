package xz

import (
	"fmt"
	"io"
)

// The delta and x86 BCJ filters are not in github.com/ulikunitz/xz, so
// their decoders are here. Both are small and fully specified by
// xz-utils' liblzma (delta_decoder.c, simple/x86.c), which these follow
// byte for byte; the tests compare with `xz -dc` on files made with
// --filters=delta:dist=4 and --x86.

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
	}
	return nil, fmt.Errorf("the %s filter is not supported (only LZMA2, delta and BCJ x86 are): recompress with xz without it", filterName(f.id))
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
