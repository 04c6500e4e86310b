package qcow2

import (
	"bytes"
	"strings"
	"testing"
)

// makeHeader builds a version 2 or 3 header in a first cluster of 1<<cb
// bytes, with the L1 table right after it (one cluster, zero entries).
func makeHeader(version uint32, cb uint32, size uint64) []byte {
	b := make([]byte, 2<<cb)
	copy(b, Magic[:])
	be.PutUint32(b[4:], version)
	be.PutUint32(b[20:], cb)
	be.PutUint64(b[24:], size)
	be.PutUint32(b[36:], 1)
	be.PutUint64(b[40:], 1<<cb)
	if version == 3 {
		be.PutUint32(b[96:], 4)
		be.PutUint32(b[100:], 112)
	}
	return b
}

func TestReadHeader(t *testing.T) {
	t.Run("v2 with backing name and format", func(t *testing.T) {
		b := makeHeader(2, 16, 1<<20)
		// v2 images also carry extensions after the 72-byte header.
		be.PutUint32(b[72:], extBackingFormat)
		be.PutUint32(b[76:], 5)
		copy(b[80:], "qcow2")
		be.PutUint64(b[8:], 0x100)
		be.PutUint32(b[16:], 8)
		copy(b[0x100:], "base.img")
		h, err := readHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if h.version != 2 || h.headerLength != 72 || h.refcountOrder != 4 || h.backingFile != "base.img" ||
			h.backingFormat != "qcow2" || h.size != 1<<20 || h.l2Bits() != 13 || h.l1Needed() != 1 {
			t.Errorf("header = %+v", h)
		}
	})
	t.Run("v3 zstd extended L2 with extensions", func(t *testing.T) {
		b := makeHeader(3, 16, 5<<30)
		be.PutUint32(b[36:], 20)
		be.PutUint64(b[72:], incCompType|incExtendedL2|incDirty)
		be.PutUint64(b[80:], compatLazyRefcounts)
		b[104] = compZstd
		putExt(b, extFeatureNames, append([]byte{1, 0}, make([]byte, 46)...), 0x12345678, []byte("unknown, skipped"))
		h, err := readHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		// extended L2: 4096 entries of 16 bytes map 256 MiB per table.
		if h.compression != compZstd || h.l2Bits() != 12 || h.l1Needed() != 20 || len(h.featureNames) != 1 {
			t.Errorf("header = %+v, l2Bits %d, l1Needed %d", h, h.l2Bits(), h.l1Needed())
		}
		// 20 L1 entries are needed: 5 are too few.
		h.l1Size = 5
		if err := h.check(1 << 30); err == nil || !strings.Contains(err.Error(), "too small") {
			t.Errorf("check: %v", err)
		}
	})
	t.Run("bit names", func(t *testing.T) {
		h := &header{featureNames: map[featureKey]string{{0, 7}: "seven", {1, 8}: "compat eight"}}
		if got := h.bitNames(0, 1<<7|1<<8|1<<63); got != `7 ("seven"), 8, 63` {
			t.Errorf("bitNames = %s", got)
		}
	})
}
