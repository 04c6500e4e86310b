package xz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The index (xz file format, section 4) lists every block of a stream:
//
//	indicator 0x00 | number of records (varint) |
//	records: unpadded size (varint), uncompressed size (varint) |
//	zero padding to a multiple of 4 | CRC32 of all the above (4)
//
// Its size is the backward size of the stream footer, so it is read
// from the end of the file.

// record is one index record.
type record struct {
	unpadded     int64 // block header + compressed data + check, without the block padding
	uncompressed int64
}

const (
	vliMax         = 1<<63 - 1
	unpaddedMin    = 5
	unpaddedMax    = vliMax &^ 3
	indexChunkSize = 64 << 10
)

// indexReader reads the index bytes in order, hashing them and counting
// them, from an io.ReaderAt through a small buffer: the index is never
// held whole in memory, so a footer claiming a huge index costs nothing
// until its bytes are actually there.
type indexReader struct {
	r    io.ReaderAt
	off  int64 // next byte to fetch from r
	end  int64
	buf  []byte
	i    int
	n    int64 // bytes consumed
	crc  uint32
	base int64 // offset of the index in r, for errors
}

func (ir *indexReader) ReadByte() (byte, error) {
	if ir.i == len(ir.buf) {
		if ir.off >= ir.end {
			return 0, io.ErrUnexpectedEOF
		}
		k := min(int64(indexChunkSize), ir.end-ir.off)
		if cap(ir.buf) < int(k) {
			ir.buf = make([]byte, k)
		}
		ir.buf = ir.buf[:k]
		if _, err := ir.r.ReadAt(ir.buf, ir.off); err != nil && !(err == io.EOF) {
			return 0, err
		}
		ir.off += k
		ir.i = 0
	}
	b := ir.buf[ir.i]
	ir.i++
	ir.n++
	ir.crc = crc32.Update(ir.crc, crc32.IEEETable, ir.buf[ir.i-1:ir.i])
	return b, nil
}

// readVarint reads a multibyte integer (xz's VLI: 7 bits a byte, low
// first, at most 9 bytes, no superfluous zero byte at the end).
func readVarint(r io.ByteReader) (int64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, errors.New("integer with a superfluous zero byte")
			}
			return int64(v), nil
		}
	}
	return 0, errors.New("integer longer than 9 bytes")
}

// decodeIndex reads the index of size bytes at off in r. It checks the
// indicator, every record, the padding and the CRC32, and that the
// records fill exactly size bytes. Records are appended as they are read,
// so memory follows the bytes present, never the stored count.
func decodeIndex(r io.ReaderAt, off, size int64) ([]record, error) {
	ir := &indexReader{r: r, off: off, end: off + size, base: off}
	fail := func(msg string, args ...any) error {
		return formatError(off+ir.n, "index", fmt.Sprintf(msg, args...))
	}
	if size < 8 || size%4 != 0 {
		return nil, formatError(off, "index", fmt.Sprintf("size %d is not a multiple of 4 of at least 8", size))
	}
	ind, err := ir.ReadByte()
	if err != nil {
		return nil, fail("%v", err)
	}
	if ind != 0 {
		return nil, fail("indicator %#02x, want 0x00", ind)
	}
	count, err := readVarint(ir)
	if err != nil {
		return nil, fail("number of records: %v", err)
	}
	// Each record takes at least 2 bytes: a count that cannot fit is
	// refused before anything is read by it.
	if count > (size-2)/2 {
		return nil, fail("%d records cannot fit in an index of %d bytes", count, size)
	}
	recs := make([]record, 0, min(count, 4096))
	for i := int64(0); i < count; i++ {
		u, err := readVarint(ir)
		if err != nil {
			return nil, fail("record %d: unpadded size: %v", i, err)
		}
		c, err := readVarint(ir)
		if err != nil {
			return nil, fail("record %d: uncompressed size: %v", i, err)
		}
		if u < unpaddedMin || u > unpaddedMax {
			return nil, fail("record %d: unpadded size %d out of range", i, u)
		}
		recs = append(recs, record{unpadded: u, uncompressed: c})
	}
	for ir.n%4 != 0 {
		b, err := ir.ReadByte()
		if err != nil {
			return nil, fail("padding: %v", err)
		}
		if b != 0 {
			return nil, fail("non-zero padding byte %#02x", b)
		}
	}
	sum := ir.crc
	var stored [4]byte
	for i := range stored {
		if stored[i], err = ir.ReadByte(); err != nil {
			return nil, fail("CRC32: %v", err)
		}
	}
	if want := binary.LittleEndian.Uint32(stored[:]); sum != want {
		return nil, formatError(off+ir.n-4, "index", fmt.Sprintf("CRC32 %#08x, stored %#08x", sum, want))
	}
	if ir.n != size {
		return nil, fail("index holds %d bytes, the stream footer says %d", ir.n, size)
	}
	return recs, nil
}
