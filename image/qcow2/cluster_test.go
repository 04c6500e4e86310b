package qcow2

import (
	"bytes"
	stdflate "compress/flate"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

func TestCompressedDesc(t *testing.T) {
	for _, c := range []struct {
		cb        uint32
		e         uint64
		off, size int64
		comment   string
	}{
		// 64 KiB: x = 54; 8 bits of sector count.
		{16, 0x12345, 0x12345, 512 - 0x145, "one sector, offset inside it"},
		{16, 3<<54 | 0x10000, 0x10000, 4 * 512, "three more sectors"},
		{16, 0xff<<54 | 0x200, 0x200, 256 * 512, "the most: 2 clusters"},
		// 512 bytes: x = 61; 1 bit of sector count.
		{9, 1<<61 | 0x1000, 0x1000, 1024, "512-byte clusters"},
		// 2 MiB: x = 49; 13 bits.
		{21, 0x1fff<<49 | 0x400, 0x400, 8192 * 512, "2 MiB clusters"},
	} {
		off, size := compressedDesc(c.e, c.cb)
		if off != c.off || size != c.size {
			t.Errorf("%s: compressedDesc(%#x, %d) = %#x, %d; want %#x, %d", c.comment, c.e, c.cb, off, size, c.off, c.size)
		}
	}
}

// TestDecompress: data compressed by Go's standard deflate (windowBits
// -12 is raw deflate) and by zstd, followed by unrelated bytes as in the
// last sector of a compressed cluster, decompresses to the cluster.
func TestDecompress(t *testing.T) {
	cluster := bytes.Repeat([]byte("qcow2 cluster data "), 3500)[:65536]
	tail := bytes.Repeat([]byte{0xa5}, 300)

	var zb bytes.Buffer
	w, _ := stdflate.NewWriter(&zb, stdflate.BestCompression)
	w.Write(cluster)
	w.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(cluster, nil)

	for _, c := range []struct {
		name string
		typ  uint8
		in   []byte
		err  string
	}{
		{"zlib", compZlib, zb.Bytes(), ""},
		{"zlib with trailing bytes", compZlib, append(bytes.Clone(zb.Bytes()), tail...), ""},
		{"zlib cut short", compZlib, zb.Bytes()[:zb.Len()/2], "deflate"},
		{"zstd", compZstd, zs, ""},
		{"zstd with trailing bytes", compZstd, append(bytes.Clone(zs), tail...), ""},
		{"zstd cut short", compZstd, zs[:len(zs)/2], "zstd"},
		{"zstd garbage", compZstd, tail, "zstd"},
		{"unknown", 7, zs, "unknown compression type 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Twice: the second time with pooled decompressors.
			for range 2 {
				out := make([]byte, len(cluster))
				err := decompress(out, c.in, c.typ)
				if c.err != "" {
					if err == nil || !strings.Contains(err.Error(), c.err) {
						t.Fatalf("error %v, want %q", err, c.err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, cluster) {
					t.Fatalf("differs at %#x", imagetest.FirstDiff(out, cluster))
				}
			}
		})
	}
}
