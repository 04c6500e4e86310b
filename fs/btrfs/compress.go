package btrfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression types (btrfs_file_extent_item.compression).
const (
	compNone = 0
	compZlib = 1
	compLZO  = 2
	compZstd = 3
)

// maxCompressed is BTRFS_MAX_COMPRESSED: a compressed extent holds at most
// 128 KiB of file data, and its compressed bytes are no more.
const maxCompressed = 128 << 10

// decompress fills out (ram_bytes long) from the compressed bytes src of
// an extent. Each algorithm is btrfs' framing of it: a zlib stream, a
// zstd frame (the data may be followed by the sector's zero padding), or
// btrfs' segmented LZO (see lzoSegments).
func decompress(comp uint8, src, out []byte, sectorSize int) error {
	switch comp {
	case compZlib:
		zr, err := zlib.NewReader(bytes.NewReader(src))
		if err != nil {
			return fmt.Errorf("zlib: %w", err)
		}
		if err := fill(zr, out); err != nil {
			return fmt.Errorf("zlib: %w", err)
		}
		return nil
	case compZstd:
		d := zstdPool.Get().(*zstd.Decoder)
		defer zstdPool.Put(d)
		n, err := zstdFrameLen(src)
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		if err := d.Reset(bytes.NewReader(src[:n])); err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		if err := fill(d, out); err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		return nil
	case compLZO:
		return lzoSegments(src, out, sectorSize)
	}
	return fmt.Errorf("unknown compression type %d", comp)
}

// fill reads r into out. A stream that ends cleanly before out is full
// leaves zeros: the file ends inside the extent's last sector, and
// ram_bytes counts the whole sector. A damaged stream is an error.
func fill(r io.Reader, out []byte) error {
	for n := 0; n < len(out); {
		m, err := r.Read(out[n:])
		n += m
		if err == io.EOF {
			clear(out[n:])
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// zstdFrameLen returns the length of the zstd frame at the start of b,
// by walking its block headers (RFC 8878 section 3.1.1). btrfs pads the
// frame with zeros to the sector; a decoder given the padding takes it
// for a bad next frame.
func zstdFrameLen(b []byte) (int, error) {
	le := binary.LittleEndian
	if len(b) < 6 || le.Uint32(b) != 0xFD2FB528 {
		return 0, errors.New("no zstd frame magic")
	}
	fhd := b[4]
	p := 5
	single := fhd&0x20 != 0
	if !single {
		p++ // window descriptor
	}
	p += []int{0, 1, 2, 4}[fhd&3]
	switch fhd >> 6 {
	case 0:
		if single {
			p++
		}
	case 1:
		p += 2
	case 2:
		p += 4
	case 3:
		p += 8
	}
	for {
		if p+3 > len(b) {
			return 0, errors.New("frame runs past the extent")
		}
		h := int(b[p]) | int(b[p+1])<<8 | int(b[p+2])<<16
		p += 3
		size := h >> 3
		switch (h >> 1) & 3 {
		case 1: // RLE: one byte repeated
			size = 1
		case 3:
			return 0, fmt.Errorf("reserved block type at %d", p-3)
		}
		p += size
		if p > len(b) {
			return 0, errors.New("block runs past the extent")
		}
		if h&1 != 0 {
			break
		}
	}
	if fhd&4 != 0 {
		p += 4
	}
	if p > len(b) {
		return 0, errors.New("checksum runs past the extent")
	}
	return p, nil
}

var zstdPool = sync.Pool{New: func() any {
	// btrfs compresses with a window of at most 128 KiB (ZSTD_BTRFS_MAX_WINDOWLOG 17);
	// the memory cap keeps a forged frame from asking for more.
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(8<<20), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		panic(err)
	}
	return d
}}

// lzoSegments decodes btrfs' LZO framing (fs/btrfs/lzo.c): a 4-byte
// little-endian total length, then segments, each a 4-byte length and
// that many bytes of LZO1X holding at most one sector of data. A segment
// header never straddles a sector: when fewer than 4 bytes are left in
// the sector, the rest is padding.
func lzoSegments(src, out []byte, sectorSize int) error {
	le := binary.LittleEndian
	if len(src) < 4 {
		return errors.New("lzo: no header")
	}
	total := int(le.Uint32(src))
	if total > len(src) || total < 4 {
		return fmt.Errorf("lzo: total length %d, extent has %d bytes", total, len(src))
	}
	src = src[:total]
	p, o := 4, 0
	for o < len(out) {
		if rem := sectorSize - p%sectorSize; rem < 4 {
			p += rem
		}
		if p+4 > len(src) {
			return fmt.Errorf("lzo: data ends at %d of %d bytes", o, len(out))
		}
		n := int(le.Uint32(src[p:]))
		p += 4
		if n > len(src)-p {
			return fmt.Errorf("lzo: segment of %d bytes at %d beyond the %d bytes", n, p-4, len(src))
		}
		want := min(sectorSize, len(out)-o)
		got, err := lzo1xDecompress(src[p:p+n], out[o:o+want])
		if err != nil {
			return fmt.Errorf("lzo: segment at %d: %w", p-4, err)
		}
		if got < want {
			// The file ends inside the extent's last sector: the
			// rest reads as zeros, as in the kernel.
			clear(out[o+got:])
			return nil
		}
		o += got
		p += n
	}
	return nil
}

var errLZO = errors.New("corrupt LZO1X stream")

// lzo1xDecompress decodes one LZO1X-1 block into out, which must be large
// enough, and returns the bytes written. It follows the state machine of
// Linux's lib/lzo/lzo1x_decompress_safe.c (without the lzo-rle extension,
// which btrfs does not use), checking every read and write.
func lzo1xDecompress(in, out []byte) (int, error) {
	ip, op := 0, 0
	need := func(n int) bool { return len(in)-ip >= n }
	lits := func(t int) error {
		if !need(t) || len(out)-op < t {
			return errLZO
		}
		copy(out[op:], in[ip:ip+t])
		ip += t
		op += t
		return nil
	}
	// ext reads the length extension of a zero length field.
	ext := func(base int) (int, error) {
		n := 0
		for {
			if !need(1) {
				return 0, errLZO
			}
			if in[ip] != 0 {
				break
			}
			ip++
			if n++; n > len(in) {
				return 0, errLZO
			}
		}
		t := n*255 + base + int(in[ip])
		ip++
		return t, nil
	}
	match := func(dist, t int) error {
		m := op - dist
		if m < 0 || len(out)-op < t {
			return errLZO
		}
		for i := 0; i < t; i++ { // may overlap: byte by byte
			out[op+i] = out[m+i]
		}
		op += t
		return nil
	}
	state := 0
	if !need(1) {
		return 0, errLZO
	}
	if in[0] > 17 {
		t := int(in[0]) - 17
		ip++
		if err := lits(t); err != nil {
			return op, err
		}
		if t < 4 {
			state = t
		} else {
			state = 4
		}
	}
	for {
		if !need(1) {
			return op, errLZO
		}
		t := int(in[ip])
		ip++
		var dist, next int
		switch {
		case t < 16 && state == 0:
			if t == 0 {
				var err error
				if t, err = ext(15); err != nil {
					return op, err
				}
			}
			if err := lits(t + 3); err != nil {
				return op, err
			}
			state = 4
			continue
		case t < 16 && state != 4:
			if !need(1) {
				return op, errLZO
			}
			next = t & 3
			dist = 1 + t>>2 + int(in[ip])<<2
			ip++
			t = 2
		case t < 16:
			if !need(1) {
				return op, errLZO
			}
			next = t & 3
			dist = 1 + 0x800 + t>>2 + int(in[ip])<<2
			ip++
			t = 3
		case t >= 64:
			if !need(1) {
				return op, errLZO
			}
			next = t & 3
			dist = 1 + (t>>2)&7 + int(in[ip])<<3
			ip++
			t = t>>5 + 1
		case t >= 32:
			t = t&31 + 2
			if t == 2 {
				var err error
				if t, err = ext(31 + 2); err != nil {
					return op, err
				}
			}
			if !need(2) {
				return op, errLZO
			}
			v := int(binary.LittleEndian.Uint16(in[ip:]))
			ip += 2
			dist = 1 + v>>2
			next = v & 3
		default: // 16..31
			far := (t & 8) << 11
			t = t&7 + 2
			if t == 2 {
				var err error
				if t, err = ext(7 + 2); err != nil {
					return op, err
				}
			}
			if !need(2) {
				return op, errLZO
			}
			v := int(binary.LittleEndian.Uint16(in[ip:]))
			ip += 2
			dist = far + v>>2
			next = v & 3
			if dist == 0 {
				// End of stream: must be the 3-byte marker at the end.
				if t != 3 || ip != len(in) {
					return op, errLZO
				}
				return op, nil
			}
			dist += 0x4000
		}
		if err := match(dist, t); err != nil {
			return op, err
		}
		state = next
		if err := lits(next); err != nil {
			return op, err
		}
	}
}
