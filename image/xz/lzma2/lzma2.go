// Package lzma2 decodes LZMA2 data, the compression of an xz block
// (xz file format, section 5.3.1; the LZMA SDK's Lzma2Dec.c and
// liblzma's lzma2_decoder.c).
//
// It was written because github.com/ulikunitz/xz, which image/xz used
// before, decodes 2-2.6 times slower per core than liblzma (`xz -T1
// -dc`): it reads its input through an io.ByteReader and calls through
// interfaces for every bit. This decoder keeps the range coder in local
// variables, decodes the bits of literals and trees without branches and
// writes into the caller's buffer, which is also the dictionary (see
// lzma.go); it decodes at 0.96-1.0 times liblzma 5.4's speed on one core
// (bench/xzdecode.sh, bench/README.md). ulikunitz/xz stays in the tests
// as the reference every result is compared with; where it is laxer than
// liblzma (lc + lp > 4, compressed bytes left over in a chunk), this
// decoder does as liblzma does.
//
// Two ways in:
//
//   - DecodeAll decodes a whole LZMA2 stream into a buffer of exactly its
//     uncompressed size (an xz block's size comes from the index): no
//     window, no copy, the buffer is the dictionary.
//   - Reader decodes a stream of unknown or huge size with a sliding
//     buffer of the dictionary size plus a margin, one chunk at a time.
//
// What is checked (as liblzma checks it): control bytes (0x00 end, 0x01
// and 0x02 uncompressed chunks, 0x80-0xff LZMA chunks), that the first
// chunk resets the dictionary and that an LZMA chunk after a dictionary
// reset sets properties, the properties byte (lc + lp <= 4, pb <= 4),
// that each LZMA chunk makes exactly its uncompressed size from exactly
// its compressed size with the range coder finished at its end, no end
// of payload marker, every match distance within the bytes decoded since
// the dictionary reset and within the dictionary size, no match past the
// chunk end, and (DecodeAll) exactly the size asked for before the end
// byte. An error is an *Error with the offset in the input.
package lzma2

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Error is bad LZMA2 data at offset Off of the input, in the chunk whose
// header is at Chunk.
type Error struct {
	Off, Chunk int64
	Msg        string
}

func (e *Error) Error() string {
	return fmt.Sprintf("LZMA2 data at %#x (chunk at %#x): %s", e.Off, e.Chunk, e.Msg)
}

// MaxChunk is the largest uncompressed size of one chunk.
const MaxChunk = 2 << 20

// Decoder decodes LZMA2 streams. Its zero value is ready; it holds about
// 40 KiB of probabilities, so reuse it (DecodeAll takes one from a pool).
type Decoder struct {
	z         lzma
	needDict  bool
	needProps bool
}

var pool = sync.Pool{New: func() any { return new(Decoder) }}

// DecodeAll decodes the LZMA2 stream at the start of src into dst, whose
// length is the uncompressed size, and returns the bytes of src the
// stream took (its end byte included). dictSize is the dictionary size of
// the filter properties: no match may reach further back.
func DecodeAll(dst, src []byte, dictSize int) (int, error) {
	d := pool.Get().(*Decoder)
	defer pool.Put(d)
	return d.DecodeAll(dst, src, dictSize)
}

// DecodeAll is the package's DecodeAll with d's probabilities.
func (d *Decoder) DecodeAll(dst, src []byte, dictSize int) (int, error) {
	d.needDict, d.needProps = true, true
	ip, pos, dictStart := 0, 0, 0
	for {
		h, err := d.header(src[min(ip, len(src)):], int64(ip))
		if err != nil {
			return ip, err
		}
		at := ip
		ip += h.len
		if h.end {
			if pos != len(dst) {
				return at, &Error{int64(at), int64(at), fmt.Sprintf("end of data after %d uncompressed bytes, want %d", pos, len(dst))}
			}
			return ip, nil
		}
		if h.dictReset {
			dictStart = pos
		}
		if h.usize > len(dst)-pos {
			return at, &Error{int64(at), int64(at), fmt.Sprintf("chunk of %d bytes past the uncompressed size %d (at %d)", h.usize, len(dst), pos)}
		}
		if h.csize > len(src)-ip {
			return at, &Error{int64(at), int64(at), fmt.Sprintf("chunk of %d compressed bytes, only %d left: truncated", h.csize, len(src)-ip)}
		}
		if !h.lzma {
			copy(dst[pos:pos+h.usize], src[ip:ip+h.csize])
		} else if e := d.z.decodeChunk(dst, pos, pos+h.usize, src[ip:ip+h.csize], dictStart, dictSize); e != nil {
			return ip + e.off, &Error{int64(ip + e.off), int64(at), e.msg}
		}
		ip += h.csize
		pos += h.usize
	}
}

// chunkHeader is a decoded chunk header.
type chunkHeader struct {
	len       int // bytes of the header
	end       bool
	lzma      bool
	dictReset bool
	usize     int
	csize     int // for uncompressed chunks, usize
}

// header decodes the chunk header at the start of b (found at off), sets
// the properties and resets the state as it says.
func (d *Decoder) header(b []byte, off int64) (chunkHeader, error) {
	var h chunkHeader
	if len(b) == 0 {
		return h, &Error{off, off, "truncated: no end byte"}
	}
	c := b[0]
	if c == 0 {
		h.end, h.len = true, 1
		return h, nil
	}
	if c >= 0xe0 || c == 1 {
		d.needProps = true
		d.needDict = false
		h.dictReset = true
	} else if d.needDict {
		return h, &Error{off, off, fmt.Sprintf("first chunk (control %#02x) does not reset the dictionary", c)}
	}
	if c < 0x80 {
		if c > 2 {
			return h, &Error{off, off, fmt.Sprintf("invalid control byte %#02x", c)}
		}
		if len(b) < 3 {
			return h, &Error{off, off, "truncated chunk header"}
		}
		h.len = 3
		h.usize = (int(b[1])<<8 | int(b[2])) + 1
		h.csize = h.usize
		return h, nil
	}
	h.lzma = true
	h.len = 5
	if c >= 0xc0 {
		h.len = 6
	}
	if len(b) < h.len {
		return h, &Error{off, off, "truncated chunk header"}
	}
	h.usize = (int(c&0x1f)<<16 | int(b[1])<<8 | int(b[2])) + 1
	h.csize = (int(b[3])<<8 | int(b[4])) + 1
	switch c >> 5 & 3 {
	case 0: // no reset
		if d.needProps {
			return h, &Error{off, off, fmt.Sprintf("LZMA chunk (control %#02x) without properties after a dictionary reset", c)}
		}
	case 1: // state reset
		if d.needProps {
			return h, &Error{off, off, fmt.Sprintf("LZMA chunk (control %#02x) without properties after a dictionary reset", c)}
		}
		d.z.reset()
	default: // state reset with new properties (and dictionary reset)
		p, err := decodeProps(b[5])
		if err != nil {
			return h, &Error{off + 5, off, err.Error()}
		}
		d.z.props = p
		d.needProps = false
		d.z.reset()
	}
	return h, nil
}

// Reader decodes an LZMA2 stream from an io.Reader, for streams too big
// to decode into one buffer. It keeps a buffer of the dictionary size
// plus a margin (at least MaxChunk) and decodes one chunk at a time.
type Reader struct {
	src       io.Reader
	d         Decoder
	buf       []byte // grows up to bufMax, then slides
	bufMax    int
	pos, rpos int // decoded up to pos; read up to rpos
	dictStart int
	dictSize  int
	in        []byte
	off       int64 // compressed bytes consumed
	eos       bool
	err       error
}

// NewReader returns a Reader of the LZMA2 stream in src with the given
// dictionary size (make it no bigger than the uncompressed size when that
// is known: the buffer grows with the output up to about 1.5 times it,
// plus 4 MiB, then slides).
func NewReader(src io.Reader, dictSize int) *Reader {
	dictSize = max(dictSize, 4096)
	r := &Reader{src: src, dictSize: dictSize, bufMax: dictSize + max(dictSize/2, 2*MaxChunk)}
	r.d.needDict, r.d.needProps = true, true
	return r
}

// Consumed is the number of compressed bytes read so far.
func (r *Reader) Consumed() int64 { return r.off }

// EOS says whether the end byte has been read.
func (r *Reader) EOS() bool { return r.eos }

// Read reads decoded bytes; io.EOF after the end byte.
func (r *Reader) Read(p []byte) (int, error) {
	for r.rpos == r.pos {
		if r.err != nil {
			return 0, r.err
		}
		if r.eos {
			return 0, io.EOF
		}
		r.err = r.chunk()
	}
	n := copy(p, r.buf[r.rpos:r.pos])
	r.rpos += n
	return n, nil
}

func (r *Reader) fill(b []byte) error {
	n, err := io.ReadFull(r.src, b)
	r.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &Error{r.off, r.off, "truncated"}
	}
	return err
}

// chunk decodes the next chunk into the buffer.
func (r *Reader) chunk() error {
	at := r.off
	if r.in == nil {
		r.in = make([]byte, 6+1<<16)
	}
	if err := r.fill(r.in[:1]); err != nil {
		return err
	}
	c := r.in[0]
	hl := 1
	switch {
	case c >= 0xc0:
		hl = 6
	case c >= 0x80:
		hl = 5
	case c == 1 || c == 2:
		hl = 3
	}
	if hl > 1 {
		if err := r.fill(r.in[1:hl]); err != nil {
			return err
		}
	}
	h, err := r.d.header(r.in[:hl], at)
	if err != nil {
		return err
	}
	if h.end {
		r.eos = true
		return nil
	}
	if err := r.fill(r.in[:h.csize]); err != nil {
		return err
	}
	if r.pos+h.usize > len(r.buf) && len(r.buf) < r.bufMax {
		nb := make([]byte, min(r.bufMax, max(2*len(r.buf), r.pos+h.usize, 64<<10)))
		copy(nb, r.buf[:r.pos])
		r.buf = nb
	}
	if r.pos+h.usize > len(r.buf) {
		// Slide: keep the last dictSize bytes.
		shift := r.pos - r.dictSize
		if shift <= 0 {
			return errors.New("lzma2: buffer smaller than the dictionary and a chunk")
		}
		copy(r.buf, r.buf[shift:r.pos])
		r.pos -= shift
		r.rpos -= shift
		r.dictStart -= shift
	}
	if h.dictReset {
		r.dictStart = r.pos
	}
	if !h.lzma {
		copy(r.buf[r.pos:], r.in[:h.csize])
	} else if e := r.d.z.decodeChunk(r.buf, r.pos, r.pos+h.usize, r.in[:h.csize], r.dictStart, r.dictSize); e != nil {
		return &Error{at + int64(hl+e.off), at, e.msg}
	}
	r.pos += h.usize
	return nil
}
