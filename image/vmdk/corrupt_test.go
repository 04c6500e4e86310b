package vmdk

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// corruptBases makes the images the corruption table starts from: a
// monolithicSparse and a streamOptimized file from qemu-img (grain
// directory in front) and a GD_AT_END stream as VMware writes it.
func corruptBases(t *testing.T) (sparseImg, streamImg, atEnd, raw []byte) {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 1<<20, 77)
	raw, _ = os.ReadFile(src)
	for _, c := range []struct {
		sub string
		out *[]byte
	}{{"monolithicSparse", &sparseImg}, {"streamOptimized", &streamImg}} {
		p := filepath.Join(dir, c.sub+".vmdk")
		imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+c.sub, src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		*c.out = b
	}
	return sparseImg, streamImg, writeStream(t, raw, 1), raw
}

// Helpers that find structures of a sparse image in its bytes.
func gdOf(b []byte) int64  { return int64(le.Uint64(b[hdrGDOffset:])) * 512 }
func rgdOf(b []byte) int64 { return int64(le.Uint64(b[hdrRGDOffset:])) * 512 }

// firstGT is the offset of the grain table of grain directory entry 0.
func firstGT(b []byte, gd int64) int64 { return int64(le.Uint32(b[gd:])) * 512 }

// firstAllocated is the offset of the first non-zero grain table entry.
func firstAllocated(t *testing.T, b []byte, gt int64) int64 {
	for i := int64(0); i < 512; i++ {
		if le.Uint32(b[gt+4*i:]) > 1 {
			return gt + 4*i
		}
	}
	t.Fatal("no allocated grain")
	return 0
}

// footerAt is the offset of the footer's header copy in a GD_AT_END stream.
func footerAt(b []byte) int64 { return int64(len(b)) - 2*512 }

func TestCorrupt(t *testing.T) {
	sp, st, ae, raw := corruptBases(t)
	type mut func(t *testing.T, b []byte) []byte
	put32 := func(off func(b []byte) int64, v uint32) mut {
		return func(t *testing.T, b []byte) []byte { le.PutUint32(b[off(b):], v); return b }
	}
	put64 := func(off func(b []byte) int64, v uint64) mut {
		return func(t *testing.T, b []byte) []byte { le.PutUint64(b[off(b):], v); return b }
	}
	at := func(o int64) func([]byte) int64 { return func([]byte) int64 { return o } }
	cases := []struct {
		name string
		base []byte
		mut  mut
		want string // in the error; "" for an image that must read right
	}{
		// "neither a sparse extent …", or past 1 MiB "not a sparse extent, and … too large to be a descriptor"
		{"bad magic", sp, func(t *testing.T, b []byte) []byte { b[0] = 'X'; return b }, "a sparse extent"},
		{"all zeros", sp, func(t *testing.T, b []byte) []byte { return make([]byte, len(b)) }, "a sparse extent"},
		{"header only", sp, func(t *testing.T, b []byte) []byte { return b[:512] }, "run past the end of the file"},
		{"short header", sp, func(t *testing.T, b []byte) []byte { return b[:100] }, "too short"},
		{"version 4", sp, put32(at(hdrVersion), 4), "unsupported version 4"},
		{"grain size 0", sp, put64(at(hdrGrainSize), 0), "grain size of 0 sectors"},
		{"grain size huge", sp, put64(at(hdrGrainSize), 1<<40), "grain size"},
		{"no grain table entries", sp, put32(at(hdrNumGTEs), 0), "entries per grain table"},
		{"too many grain table entries", sp, put32(at(hdrNumGTEs), 1<<20), "entries per grain table"},
		{"huge capacity in a tiny file", sp, put64(at(hdrCapacity), 1<<40), "grain directory"},
		{"capacity overflows", sp, put64(at(hdrCapacity), 1<<62), "too large"},
		{"GD past EOF", sp, put64(at(hdrGDOffset), 1<<40), "run past the end of the file"},
		{"GD at sector 0 with entries", sp, put64(at(hdrGDOffset), 0), "run past the end"},
		{"unknown compression", sp, func(t *testing.T, b []byte) []byte { le.PutUint16(b[hdrCompress:], 7); return b }, "unknown compression algorithm 7"},
		{"GT past EOF, redundant GD good", sp, func(t *testing.T, b []byte) []byte {
			le.PutUint32(b[gdOf(b):], 0x7fffffff)
			return b
		}, ""},
		{"GT past EOF in both GDs", sp, func(t *testing.T, b []byte) []byte {
			le.PutUint32(b[gdOf(b):], 0x7fffffff)
			le.PutUint32(b[rgdOf(b):], 0x7fffffff)
			return b
		}, "runs past the end of the file"},
		{"grain past EOF", sp, func(t *testing.T, b []byte) []byte {
			for _, gd := range []int64{gdOf(b), rgdOf(b)} {
				le.PutUint32(b[firstAllocated(t, b, firstGT(b, gd)):], 0x7ffffff0)
			}
			return b
		}, "starts past the end of the file"},
		{"grain in the metadata (its own grain table)", sp, func(t *testing.T, b []byte) []byte {
			for _, gd := range []int64{gdOf(b), rgdOf(b)} {
				gt := firstGT(b, gd)
				le.PutUint32(b[firstAllocated(t, b, gt):], uint32(gt/512))
			}
			return b
		}, "inside the metadata"},
		{"bad CID in the embedded descriptor", sp, func(t *testing.T, b []byte) []byte {
			i := bytes.Index(b, []byte("\nCID="))
			copy(b[i+5:], "nothex!!")
			return b
		}, "bad CID"},
		{"bad extent line in the embedded descriptor", sp, func(t *testing.T, b []byte) []byte {
			i := bytes.Index(b, []byte("RW "))
			copy(b[i+3:], "x")
			return b
		}, "bad sector count"},
		{"stream: marker names another grain", st, func(t *testing.T, b []byte) []byte {
			m := firstMarker(t, b)
			le.PutUint64(b[m:], le.Uint64(b[m:])+128)
			return b
		}, "names sector"},
		{"stream: huge compressed size", st, func(t *testing.T, b []byte) []byte {
			le.PutUint32(b[firstMarker(t, b)+8:], 0xffffffff)
			return b
		}, "bad compressed size"},
		{"stream: compressed grain does not inflate", st, func(t *testing.T, b []byte) []byte {
			m := firstMarker(t, b)
			for i := m + 12; i < m+12+40; i++ {
				b[i] ^= 0x5a
			}
			return b
		}, "zlib"},
		{"stream: grain inflates short", st, func(t *testing.T, b []byte) []byte {
			m := firstMarker(t, b)
			var z bytes.Buffer
			zw := newZlib(&z)
			zw.Write([]byte("short"))
			zw.Close()
			le.PutUint32(b[m+8:], uint32(z.Len()))
			copy(b[m+12:], z.Bytes())
			return b
		}, "wrong size"},
		{"stream: truncated in a grain", st, func(t *testing.T, b []byte) []byte {
			return b[:lastMarker(t, b)+20]
		}, "runs past the end of the file"},
		{"GD_AT_END: truncated stream", ae, func(t *testing.T, b []byte) []byte { return b[:len(b)-700] }, "footer marker"},
		{"GD_AT_END: no end-of-stream marker", ae, func(t *testing.T, b []byte) []byte {
			le.PutUint32(b[len(b)-512+12:], 9)
			return b
		}, "end-of-stream"},
		{"GD_AT_END: footer GD at end too", ae, func(t *testing.T, b []byte) []byte {
			le.PutUint64(b[footerAt(b)+hdrGDOffset:], gdAtEnd)
			return b
		}, "GD_AT_END too"},
		{"GD_AT_END: footer bad magic", ae, func(t *testing.T, b []byte) []byte {
			b[footerAt(b)] = 'Q'
			return b
		}, "bad magic"},
		{"GD_AT_END without markers", ae, func(t *testing.T, b []byte) []byte {
			le.PutUint32(b[hdrFlags:], flagCompress)
			return b
		}, "without markers"},
		{"GD_AT_END: footer GD past EOF", ae, func(t *testing.T, b []byte) []byte {
			le.PutUint64(b[footerAt(b)+hdrGDOffset:], 1<<30)
			return b
		}, "run past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mut(t, bytes.Clone(c.base))
			var warned []string
			d, err := New(bytes.NewReader(b), int64(len(b)), Config{CacheBytes: 64 << 10, Warn: func(s string) { warned = append(warned, s) }})
			if err == nil {
				defer d.Close()
				got := make([]byte, d.Size())
				_, err = d.ReadAt(got, 0)
				if err == io.EOF {
					err = nil
				}
				if err == nil {
					_, err = d.Extents(0, d.Size())
				}
				if err == nil && c.want == "" && !bytes.Equal(got, raw) {
					t.Fatalf("read differs from the source at %#x", imagetest.FirstDiff(got, raw))
				}
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want a good read", err)
				}
				if len(warned) == 0 {
					t.Error("no warning")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one with %q", err, c.want)
			}
			t.Log(err)
			var fe *diskerr.FormatError
			if !errors.As(err, &fe) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("not a FormatError: %v", err)
			}
		})
	}
}

// firstMarker is the offset of the first grain marker of a qemu stream:
// the first allocated grain of its first grain table.
func firstMarker(t *testing.T, b []byte) int64 {
	gt := firstGT(b, gdOf(b))
	return int64(le.Uint32(b[firstAllocated(t, b, gt):])) * 512
}

// lastMarker is the offset of the last grain marker of a qemu stream.
func lastMarker(t *testing.T, b []byte) int64 {
	gt := firstGT(b, gdOf(b))
	last := int64(0)
	for i := int64(0); i < 512; i++ {
		last = max(last, int64(le.Uint32(b[gt+4*i:]))*512)
	}
	if last == 0 {
		t.Fatal("no grain")
	}
	return last
}

// TestHugeCapacityMemory: a header claiming a 2 PiB disk in a 1 MiB file
// is refused before anything is sized by the capacity.
func TestHugeCapacityMemory(t *testing.T) {
	h := make([]byte, 1<<20)
	copy(h, "KDMV")
	le.PutUint32(h[hdrVersion:], 1)
	le.PutUint64(h[hdrCapacity:], 1<<42)
	le.PutUint64(h[hdrGrainSize:], 1)
	le.PutUint32(h[hdrNumGTEs:], 512)
	le.PutUint64(h[hdrGDOffset:], 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := New(bytes.NewReader(h), int64(len(h)), Config{}); err == nil {
		t.Fatal("accepted a grain directory larger than the file")
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("opening allocated %d bytes", n)
	}
}
