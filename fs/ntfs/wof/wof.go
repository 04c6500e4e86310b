// Package wof reads the files Windows' Overlay Filter (WOF) compresses
// ("compact /exe", Windows 10's system compression): decompression of
// the WofCompressedData stream of an NTFS file, given its reparse point.
//
// The reparse point (tag 0x80000017) holds WOF_EXTERNAL_INFO (version
// 1, provider 2: the file provider; provider 1 is WIMBoot, whose data
// is in an external WIM and not readable here) and
// FILE_PROVIDER_EXTERNAL_INFO_V1 (version 1, the compression format:
// XPRESS4K, LZX, XPRESS8K or XPRESS16K). The file's size is its unnamed
// $DATA's (all hole); its contents are cut into chunks of the format's
// size (4, 8, 16 KiB; 32 KiB for LZX), each compressed on its own,
// stored in the named $DATA "WofCompressedData": a table of the offsets
// of chunks 1..N-1 (4 bytes each, 8 when the file is over 4 GiB),
// relative to the table's end, then the chunks. A chunk whose stored
// size equals its size is stored as is.
//
// What is checked: the reparse data (versions, provider, format), the
// table (offsets in order, inside the stream, no chunk stored larger than
// its data), and every chunk while it is decompressed (Huffman codes
// complete, matches inside the data written so far and the chunk, the
// input not overrun; a chunk must decompress to exactly its size).
// Errors name the chunk, its offset in the stream and the offset in
// the compressed chunk. Memory: the decoder tables (about 30 KiB), one
// chunk's compressed and decompressed bytes, and a window of 1024 table
// entries, whatever the stream says.
//
// Why our own: no Go package decodes XPRESS Huffman or WIM-style LZX.
// The formats were learnt from MS-XCA and from wimlib and
// ntfs-3g-system-compression (Eric Biggers). The tests compare with
// wimlib (its compressors' output decompressed by us must be the
// original; its decompressors must agree with ours on thousands of
// damaged chunks) and, for XPRESS, with streams Windows compressed
// (Samba's MS-XCA test vectors, when WOF_MSXCA_DIR names them).
//
// Where we differ from wimlib: a stream that reads past its end (wimlib
// reads zeros) or decodes a symbol with an empty Huffman code (wimlib
// decodes symbol 0, so a chunk whose code lengths were zeroed reads as
// zeros) is an error here.
package wof

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Format is a WOF file provider compression format.
type Format uint32

const (
	Xpress4K  Format = 0
	LZX       Format = 1
	Xpress8K  Format = 2
	Xpress16K Format = 3
)

func (f Format) String() string {
	switch f {
	case Xpress4K:
		return "XPRESS4K"
	case LZX:
		return "LZX"
	case Xpress8K:
		return "XPRESS8K"
	case Xpress16K:
		return "XPRESS16K"
	}
	return fmt.Sprintf("format %d", uint32(f))
}

// ChunkSize is the format's uncompressed chunk size.
func (f Format) ChunkSize() int {
	switch f {
	case Xpress4K:
		return 4096
	case Xpress8K:
		return 8192
	case Xpress16K:
		return 16384
	case LZX:
		return 32768
	}
	return 0
}

// ReparseTag is the reparse tag of WOF (IO_REPARSE_TAG_WOF).
const ReparseTag = 0x80000017

// ErrWIMBacked is the error of a WIMBoot file (WOF provider 1): its
// contents are in a WIM file outside the volume.
var ErrWIMBacked = errors.New("WIM-backed (WIMBoot) file: its data is in an external WIM")

// ParseReparse returns the compression format of a WOF reparse point
// (the $REPARSE_POINT value: tag, length, reserved, then the data).
func ParseReparse(rp []byte) (Format, error) {
	if len(rp) < 8 {
		return 0, fmt.Errorf("wof: reparse point of %d bytes", len(rp))
	}
	if tag := binary.LittleEndian.Uint32(rp); tag != ReparseTag {
		return 0, fmt.Errorf("wof: reparse tag %#x, not WOF's", tag)
	}
	d := rp[8:]
	if n := int(binary.LittleEndian.Uint16(rp[4:])); n < len(d) {
		d = d[:n]
	}
	if len(d) < 8 {
		return 0, fmt.Errorf("wof: reparse data of %d bytes, no WOF_EXTERNAL_INFO", len(d))
	}
	if v := binary.LittleEndian.Uint32(d); v != 1 {
		return 0, fmt.Errorf("wof: WOF_EXTERNAL_INFO version %d, want 1", v)
	}
	switch p := binary.LittleEndian.Uint32(d[4:]); p {
	case 2:
	case 1:
		return 0, fmt.Errorf("wof: %w", ErrWIMBacked)
	default:
		return 0, fmt.Errorf("wof: provider %d, want 2 (file)", p)
	}
	if len(d) < 16 {
		return 0, fmt.Errorf("wof: reparse data of %d bytes, no FILE_PROVIDER_EXTERNAL_INFO_V1", len(d))
	}
	if v := binary.LittleEndian.Uint32(d[8:]); v != 1 {
		return 0, fmt.Errorf("wof: file provider version %d, want 1", v)
	}
	f := Format(binary.LittleEndian.Uint32(d[12:]))
	if f.ChunkSize() == 0 {
		return 0, fmt.Errorf("wof: unknown compression %s", f)
	}
	return f, nil
}

// decompressor is XPRESS or LZX.
type decompressor interface {
	Decompress(dst, src []byte) error
}

// tableWindow is how many chunk table entries are read at a time.
const tableWindow = 1024

// Reader reads a WOF-compressed file's contents from its
// WofCompressedData stream. It is safe for concurrent use (reads are
// serialized).
type Reader struct {
	r       io.ReaderAt
	csize   int64 // the stream's size
	size    int64 // the file's size
	format  Format
	chunk   int64 // chunk size
	nchunks int64
	entry   int64 // table entry size, 4 or 8
	table   int64 // table size in bytes

	mu     sync.Mutex
	dec    decompressor
	win    []int64 // offsets of chunks winFirst.. (relative to the table's end)
	winAt  int64   // the chunk win[0] is the offset of, -1 if none
	raw    []byte  // an entry window's bytes, then a compressed chunk
	cached int64   // the chunk in buf, -1 if none
	buf    []byte
}

// NewReader returns a reader of a file of size bytes stored in the
// WofCompressedData stream r of csize bytes in format f.
func NewReader(r io.ReaderAt, csize, size int64, f Format) (*Reader, error) {
	cs := int64(f.ChunkSize())
	if cs == 0 {
		return nil, fmt.Errorf("wof: unknown compression %s", f)
	}
	if size < 0 || csize < 0 {
		return nil, fmt.Errorf("wof: size %d, compressed size %d", size, csize)
	}
	x := &Reader{r: r, csize: csize, size: size, format: f, chunk: cs, entry: 4, winAt: -1, cached: -1}
	x.nchunks = (size + cs - 1) / cs
	if size > 0xFFFFFFFF {
		x.entry = 8
	}
	if x.nchunks > 0 {
		x.table = (x.nchunks - 1) * x.entry
	}
	if x.table > csize || (x.nchunks > 0 && x.table == csize) {
		return nil, fmt.Errorf("wof: %s file of %d bytes (%d chunks) needs a %d-byte chunk table, the stream has %d bytes", f, size, x.nchunks, x.table, csize)
	}
	// Every chunk takes at least a byte: a stream much shorter than the
	// chunk count is caught here, not chunk by chunk.
	if csize-x.table < x.nchunks {
		return nil, fmt.Errorf("wof: %d chunks in %d bytes after the chunk table", x.nchunks, csize-x.table)
	}
	return x, nil
}

// Format returns the compression format.
func (x *Reader) Format() Format { return x.format }

// Size returns the file's size.
func (x *Reader) Size() int64 { return x.size }

// ReadAt reads the file's bytes at off.
func (x *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("wof: negative offset %d", off)
	}
	if off >= x.size {
		return 0, io.EOF
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for n < len(p) && off < x.size {
		c := off / x.chunk
		if err := x.load(c); err != nil {
			return n, err
		}
		k := copy(p[n:], x.buf[off-c*x.chunk:min(x.chunk, x.size-c*x.chunk)])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// offsets returns where chunk c starts and ends in the stream.
func (x *Reader) offsets(c int64) (int64, int64, error) {
	if x.winAt < 0 || c < x.winAt || c+1 >= x.winAt+int64(len(x.win)) {
		if err := x.readTable(c); err != nil {
			return 0, 0, err
		}
	}
	i := c - x.winAt
	return x.table + x.win[i], x.table + x.win[i+1], nil
}

// readTable reads the offsets of chunks c.. into the window, with the
// implicit 0 of chunk 0 and the stream's end after the last chunk.
func (x *Reader) readTable(c int64) error {
	n := min(tableWindow, x.nchunks-c+1) // offsets c..c+n-1
	first := c                           // entry of chunk c is at (c-1)*entry
	x.win = x.win[:0]
	if c == 0 {
		x.win = append(x.win, 0)
		first = 1
	}
	last := min(c+n-1, x.nchunks-1) // the last chunk whose entry is read
	if last >= first {
		sz := (last - first + 1) * x.entry
		if int64(cap(x.raw)) < sz {
			x.raw = make([]byte, sz, max(sz, x.chunk))
		}
		raw := x.raw[:sz]
		at := (first - 1) * x.entry
		if k, err := x.r.ReadAt(raw, at); k < len(raw) {
			x.winAt = -1
			return fmt.Errorf("wof: reading the chunk table at %d: %d of %d bytes: %w", at, k, len(raw), err)
		}
		for i := int64(0); i < last-first+1; i++ {
			var v int64
			if x.entry == 8 {
				u := binary.LittleEndian.Uint64(raw[8*i:])
				if u > uint64(x.csize) {
					v = -1
				} else {
					v = int64(u)
				}
			} else {
				v = int64(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			if v < 0 || v > x.csize-x.table {
				x.winAt = -1
				return fmt.Errorf("wof: chunk table entry %d at stream offset %d: chunk %d at %d, past the %d bytes of chunks", first+i-1, at+i*x.entry, first+i, v, x.csize-x.table)
			}
			x.win = append(x.win, v)
		}
	}
	if c+n-1 == x.nchunks {
		x.win = append(x.win, x.csize-x.table)
	}
	x.winAt = c
	return nil
}

// load decompresses chunk c into x.buf.
func (x *Reader) load(c int64) error {
	if x.cached == c {
		return nil
	}
	x.cached = -1
	start, end, err := x.offsets(c)
	if err != nil {
		return err
	}
	usize := min(x.chunk, x.size-c*x.chunk)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("wof: %s chunk %d (stream offset %d, %d bytes stored, %d bytes): %s", x.format, c, start, end-start, usize, fmt.Sprintf(format, args...))
	}
	if end <= start || end-start > usize {
		return bad("stored size %d not in 1..%d (chunk table offsets out of order or too far apart)", end-start, usize)
	}
	if x.buf == nil {
		x.buf = make([]byte, x.chunk)
	}
	dst := x.buf[:usize]
	stored := end - start
	src := dst
	if stored < usize {
		if int64(cap(x.raw)) < x.chunk {
			x.raw = make([]byte, x.chunk)
		}
		src = x.raw[:stored]
	}
	if k, err := x.r.ReadAt(src, start); k < len(src) {
		return fmt.Errorf("wof: %s chunk %d (stream offset %d): read %d of %d bytes: %w", x.format, c, start, k, len(src), err)
	}
	if stored < usize {
		if x.dec == nil {
			if x.format == LZX {
				x.dec = new(LZXDecoder)
			} else {
				x.dec = new(XpressDecoder)
			}
		}
		if err := x.dec.Decompress(dst, src); err != nil {
			return bad("%v", err)
		}
	}
	x.cached = c
	return nil
}
