package qcow2

import (
	"encoding/binary"
	"fmt"
	"io"
)

// L1 and L2 entry bits (docs/interop/qcow2.txt, "Cluster mapping").
const (
	offsetMask   = 0x00fffffffffffe00 // bits 9-55: host offset of an L2 table or a cluster
	flagCopied   = 1 << 63            // refcount is exactly one (with a data file: allocated at 0)
	flagCompress = 1 << 62            // compressed cluster
	flagZero     = 1 << 0             // standard cluster reads as zeros (not with extended L2)
	subclusters  = 32                 // per cluster with extended L2 entries
)

// kind says where the bytes of a guest range come from.
type kind uint8

const (
	kindZero       kind = iota // zeros, never the backing file
	kindBacking                // unallocated: the backing file, or zeros beyond it
	kindData                   // the data file (the image itself or an external one)
	kindCompressed             // one compressed cluster
)

func (k kind) String() string {
	return [...]string{"zero", "unallocated", "data", "compressed"}[k]
}

// extent is a guest range of one kind: n bytes from the guest offset it
// was asked for. For kindData, host is the host offset of its first byte
// and the range is contiguous in the data file; for kindCompressed, entry
// is the L2 entry of the one cluster it lies in.
type extent struct {
	kind  kind
	n     int64
	host  int64
	entry uint64
}

// readL1 reads the L1 entries the virtual size needs; entries past those
// (snapshot VM state) are never read. header.check has bounded the count
// by the file size and by qemu's 32 MiB limit.
func readL1(r io.ReaderAt, h *header) ([]uint64, error) {
	n := h.l1Needed()
	buf := make([]byte, n*8)
	if m, err := r.ReadAt(buf, int64(h.l1Offset)); m < len(buf) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("qcow2: reading the L1 table at %#x: %w", h.l1Offset, err)
	}
	l1 := make([]uint64, n)
	for i := range l1 {
		l1[i] = binary.BigEndian.Uint64(buf[i*8:])
	}
	return l1, nil
}

// l2Table returns the L2 table that L1 entry i points to, decoded to host
// byte order, or nil when the entry is unallocated. Tables are cached.
func (img *Image) l2Table(i uint64) ([]uint64, error) {
	e := img.l1[i]
	off := int64(e & offsetMask)
	if off == 0 {
		return nil, nil
	}
	if t, ok := img.l2Cache.Get(off); ok {
		return t, nil
	}
	cs := img.clusterSize
	what := fmt.Sprintf("L2 table for L1 entry %d (guest offset %#x)", i, int64(i)<<img.l1Shift)
	if off&(cs-1) != 0 {
		return nil, formatErr(off, what, "offset is not aligned to the cluster size %d", cs)
	}
	if off > img.fileSize-cs {
		return nil, formatErr(off, what, "runs past the end of the file (%d bytes)", img.fileSize)
	}
	buf := make([]byte, cs)
	if n, err := img.r.ReadAt(buf, off); n < len(buf) {
		return nil, fmt.Errorf("qcow2: reading the %s at %#x: %w", what, off, err)
	}
	t := make([]uint64, cs/8)
	for j := range t {
		t[j] = binary.BigEndian.Uint64(buf[j*8:])
	}
	img.l2Cache.Add(off, t, 1)
	return t, nil
}

// extentAt maps the guest range [off, off+n) (inside the virtual size) and
// returns its first extent. It walks one L2 table at most.
func (img *Image) extentAt(off, n int64) (extent, error) {
	cs := img.clusterSize
	ci := uint64(off) >> img.clusterBits
	l1i := ci >> img.l2Bits
	t, err := img.l2Table(l1i)
	if err != nil {
		return extent{}, err
	}
	if t == nil {
		// The whole range this L2 table would map is unallocated.
		end := int64(l1i+1) << img.l1Shift
		return extent{kind: kindBacking, n: min(n, end-off)}, nil
	}
	tOff := int64(img.l1[l1i] & offsetMask)
	idx := ci & (1<<img.l2Bits - 1)
	inner := off & (cs - 1)
	x, err := img.classify(t, tOff, idx, inner, off)
	if err != nil {
		return extent{}, err
	}
	if x.kind == kindCompressed || x.n >= n {
		x.n = min(x.n, n)
		return x, nil
	}
	// Extend over the following clusters of this table while they give
	// the same kind (and, for data, the next host bytes).
	atEnd := inner+x.n == cs
	for idx++; atEnd && x.n < n && idx < 1<<img.l2Bits; idx++ {
		y, err := img.classify(t, tOff, idx, 0, off+x.n)
		if err != nil {
			return extent{}, err
		}
		if y.kind != x.kind || y.kind == kindCompressed || (y.kind == kindData && y.host != x.host+x.n) {
			break
		}
		x.n += y.n
		atEnd = y.n == cs
	}
	x.n = min(x.n, n)
	return x, nil
}

// classify returns the extent that starts inner bytes into the cluster of
// L2 entry idx of table t (at host offset tOff) and stays in that
// cluster. guest is the guest offset of the start, for error messages.
func (img *Image) classify(t []uint64, tOff int64, idx uint64, inner, guest int64) (extent, error) {
	cs := img.clusterSize
	var e, bitmap uint64
	if img.extendedL2 {
		e, bitmap = t[2*idx], t[2*idx+1]
	} else {
		e = t[idx]
	}
	rest := cs - inner
	if e&flagCompress != 0 {
		if img.externalData {
			return extent{}, img.entryErr(tOff, idx, guest, "compressed cluster in an image with an external data file")
		}
		return extent{kind: kindCompressed, n: rest, entry: e}, nil
	}
	host := int64(e & offsetMask)
	allocated := host != 0 || (img.externalData && e&flagCopied != 0)
	if !img.extendedL2 {
		switch {
		case e&flagZero != 0:
			return extent{kind: kindZero, n: rest}, nil
		case !allocated:
			return extent{kind: kindBacking, n: rest}, nil
		case host&(cs-1) != 0:
			return extent{}, img.entryErr(tOff, idx, guest, "host offset %#x is not aligned to the cluster size", host)
		}
		return extent{kind: kindData, n: rest, host: host + inner}, nil
	}

	alloc, zero := uint32(bitmap), uint32(bitmap>>32)
	if alloc&zero != 0 {
		return extent{}, img.entryErr(tOff, idx, guest, "subcluster bitmap %#016x marks subclusters both allocated and zero", bitmap)
	}
	if alloc != 0 {
		if !allocated {
			return extent{}, img.entryErr(tOff, idx, guest, "subclusters allocated (bitmap %#016x) without a host offset", bitmap)
		}
		if host&(cs-1) != 0 {
			return extent{}, img.entryErr(tOff, idx, guest, "host offset %#x is not aligned to the cluster size", host)
		}
	}
	scBits := img.clusterBits - 5 // 32 subclusters
	sc := inner >> scBits
	subKind := func(s int64) kind {
		switch {
		case alloc&(1<<s) != 0:
			return kindData
		case zero&(1<<s) != 0:
			return kindZero
		}
		return kindBacking
	}
	k := subKind(sc)
	end := sc + 1
	for end < subclusters && subKind(end) == k {
		end++
	}
	x := extent{kind: k, n: end<<scBits - inner}
	if k == kindData {
		x.host = host + inner
	}
	return x, nil
}

// entryErr reports a bad L2 entry: entry idx of the table at tOff, which
// maps the guest offset guest.
func (img *Image) entryErr(tOff int64, idx uint64, guest int64, format string, args ...any) error {
	size := int64(8)
	if img.extendedL2 {
		size = 16
	}
	what := fmt.Sprintf("L2 entry for guest offset %#x", guest)
	return formatErr(tOff+int64(idx)*size, what, format, args...)
}
