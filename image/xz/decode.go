package xz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/xz/lzma2"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// compPool recycles the buffers that hold a block's compressed bytes
// while it is decoded: fewer garbage collections on the decode path.
var compPool = sync.Pool{New: func() any { return new([]byte) }}

// dictCap is the dictionary the decoder needs for a block: the one the
// LZMA2 properties give, but never more than the block, since a block
// starts with a dictionary reset and no match reaches before it.
func dictCap(b *block) int {
	d := b.filters[len(b.filters)-1].dict
	d = min(d, b.usize)
	return int(max(d, 4096))
}

// newChain returns the decoder of a block's filter chain over src, and the
// LZMA2 reader at its bottom (forward decoding).
func newChain(b *block, src io.Reader, dict int) (io.Reader, *lzma2.Reader, error) {
	lz := lzma2.NewReader(src, dict)
	var rd io.Reader = lz
	for i := len(b.filters) - 2; i >= 0; i-- {
		uf, err := newUnfilter(b.filters[i])
		if err != nil {
			return nil, nil, err
		}
		rd = newUnfilterReader(rd, uf)
	}
	return rd, lz, nil
}

// lzmaError turns an *lzma2.Error (offsets in the block's data) into a
// FormatError at its offset in the file, wrapping ErrCorrupt.
func lzmaError(b *block, err error) error {
	var le *lzma2.Error
	if errors.As(err, &le) {
		return &diskerr.FormatError{FS: "xz", Off: b.dataOff + le.Off, What: fmt.Sprintf("LZMA2 chunk at %#x", b.dataOff+le.Chunk), Msg: le.Msg, Err: ErrCorrupt}
	}
	return err
}

// errDecode wraps what went wrong in a block with where.
func (x *Reader) errDecode(bi int, err error) error {
	return fmt.Errorf("xz: %s: %w", x.blocks[bi].where(bi), err)
}

// ErrCorrupt is wrapped by the errors of blocks whose data does not
// decode or whose check does not match.
var ErrCorrupt = errors.New("corrupt data")

// decodeBlock decodes block bi whole into out (len(out) == usize) and
// verifies everything the file says about it: the LZMA2 end marker, the
// compressed size, the zero block padding and the check.
func (x *Reader) decodeBlock(bi int, out []byte) error {
	b := &x.blocks[bi]
	pad := (4 - b.csize%4) % 4
	tail := pad + int64(b.check.Size())
	cp := compPool.Get().(*[]byte)
	defer compPool.Put(cp)
	if int64(cap(*cp)) < b.csize+tail {
		*cp = make([]byte, bufCap(int(b.csize+tail)))
	}
	comp := (*cp)[:b.csize+tail]
	if n, err := x.r.ReadAt(comp, b.dataOff); n < len(comp) {
		return x.errDecode(bi, fmt.Errorf("reading %d compressed bytes at %#x: %w (truncated file?)", len(comp), b.dataOff, err))
	}
	used, err := lzma2.DecodeAll(out, comp[:b.csize], dictCap(b))
	if err != nil {
		return x.errDecode(bi, lzmaError(b, err))
	}
	x.bytesDecoded.Add(int64(len(out)))
	if int64(used) != b.csize {
		return x.errDecode(bi, &diskerr.FormatError{FS: "xz", Off: b.dataOff + int64(used), What: "LZMA2 data",
			Msg: fmt.Sprintf("ends after %d bytes, the index says %d", used, b.csize), Err: ErrCorrupt})
	}
	// The other filters of the chain, last applied first, in place.
	for i := len(b.filters) - 2; i >= 0; i-- {
		uf, err := newUnfilter(b.filters[i])
		if err != nil {
			return x.errDecode(bi, err)
		}
		uf.apply(out, true)
	}
	if err := x.checkTail(bi, comp[b.csize:], out); err != nil {
		return err
	}
	x.blocksDecoded.Add(1)
	return nil
}

// endOfBlock checks that the chain has nothing after the uncompressed
// size and that LZMA2 saw its end marker.
func endOfBlock(rd io.Reader, lz *lzma2.Reader) error {
	var one [1]byte
	k, err := rd.Read(one[:])
	if k > 0 || err == nil {
		return errors.New("more data than the uncompressed size")
	}
	if err != io.EOF {
		return err
	}
	if !lz.EOS() {
		return errors.New("no LZMA2 end marker")
	}
	return nil
}

// checkTail verifies the block padding and the check (tail holds both)
// over the uncompressed data out.
func (x *Reader) checkTail(bi int, tail, out []byte) error {
	b := &x.blocks[bi]
	pad := len(tail) - b.check.Size()
	for i := 0; i < pad; i++ {
		if tail[i] != 0 {
			return x.errDecode(bi, fmt.Errorf("%w: non-zero block padding at %#x", ErrCorrupt, b.dataOff+b.csize+int64(i)))
		}
	}
	h := newCheck(b.check)
	if h == nil {
		return nil
	}
	h.Write(out)
	if got, want := checkSum(b.check, h), tail[pad:]; !bytes.Equal(got, want) {
		return x.errDecode(bi, fmt.Errorf("%w: %v mismatch: computed %x, stored %x at %#x", ErrCorrupt, b.check, got, want, b.dataOff+b.csize+int64(pad)))
	}
	return nil
}
