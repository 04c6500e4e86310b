package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// corruptBases makes the images the corruption table starts from, with
// qemu-img: 4 KiB clusters, plain, zlib- and zstd-compressed, and
// extended L2 entries with partly written clusters.
func corruptBases(t *testing.T) map[string][]byte {
	t.Helper()
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 1<<20, 29)
	bases := map[string][]byte{}
	for name, args := range map[string][]string{
		"plain": {"-o", "cluster_size=4k"},
		"zlib":  {"-c", "-o", "cluster_size=4k"},
		"zstd":  {"-c", "-o", "cluster_size=4k,compression_type=zstd"},
	} {
		p := filepath.Join(dir, name+".qcow2")
		imagetest.QemuImg(t, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), src, p)...)
		bases[name] = readFile(t, p)
	}
	p := filepath.Join(dir, "extl2.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k", p, "1M")
	imagetest.QemuIO(t, "qcow2", p, "write -P 0xab 0 3k", "write -z 4k 1k")
	bases["extl2"] = readFile(t, p)
	return bases
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var be = binary.BigEndian

// l2EntryAt returns the file offset of the first L2 entry for which
// match(entry) holds, walking the active L1 table of image b.
func l2EntryAt(t *testing.T, b []byte, match func(e uint64) bool) int {
	t.Helper()
	cb := be.Uint32(b[20:])
	l1Off := be.Uint64(b[40:])
	l1Size := be.Uint32(b[36:])
	ext := len(b) > 80 && be.Uint64(b[72:])&incExtendedL2 != 0
	step := 8
	if ext {
		step = 16
	}
	for i := range uint64(l1Size) {
		l2 := be.Uint64(b[l1Off+8*i:]) & offsetMask
		if l2 == 0 {
			continue
		}
		for j := 0; j < 1<<cb; j += step {
			if e := be.Uint64(b[int(l2)+j:]); match(e) {
				return int(l2) + j
			}
		}
	}
	t.Fatal("no matching L2 entry")
	return 0
}

func isData(e uint64) bool       { return e&flagCompress == 0 && e&offsetMask != 0 }
func isCompressed(e uint64) bool { return e&flagCompress != 0 }

// readAll opens b with New and reads the whole virtual disk (up to 64 MiB)
// and returns the first error. It fails the test if that takes more than
// 20 seconds: a hang.
func readAll(t *testing.T, b []byte) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		backing := bytes.Repeat([]byte{0x5a}, 1<<20)
		img, err := New(bytes.NewReader(b), int64(len(b)), &memOpener{data: backing}, "corrupt.qcow2")
		if err != nil {
			done <- err
			return
		}
		defer img.Close()
		buf := make([]byte, 256<<10)
		for off := int64(0); off < min(img.Size(), 64<<20); off += int64(len(buf)) {
			if _, err := img.ReadAt(buf, off); err != nil && err != io.EOF {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("hang: no answer in 20 s")
		return nil
	}
}

func TestCorruptions(t *testing.T) {
	bases := corruptBases(t)
	put32 := func(off int, v uint32) func(*testing.T, []byte) []byte {
		return func(_ *testing.T, b []byte) []byte { be.PutUint32(b[off:], v); return b }
	}
	put64 := func(off int, v uint64) func(*testing.T, []byte) []byte {
		return func(_ *testing.T, b []byte) []byte { be.PutUint64(b[off:], v); return b }
	}
	l1Entry := func(f func(uint64) uint64) func(*testing.T, []byte) []byte {
		return func(_ *testing.T, b []byte) []byte {
			o := be.Uint64(b[40:])
			be.PutUint64(b[o:], f(be.Uint64(b[o:])))
			return b
		}
	}
	l2Entry := func(match func(uint64) bool, f func(uint64) uint64) func(*testing.T, []byte) []byte {
		return func(t *testing.T, b []byte) []byte {
			o := l2EntryAt(t, b, match)
			be.PutUint64(b[o:], f(be.Uint64(b[o:])))
			return b
		}
	}
	cases := []struct {
		name, base string
		mutate     func(*testing.T, []byte) []byte
		want       string // in the error
		formatErr  bool   // the error is a *diskerr.FormatError
	}{
		{"bad magic", "plain", put32(0, 0x51464900), "bad magic", true},
		{"all zeros", "plain", func(_ *testing.T, b []byte) []byte { return make([]byte, len(b)) }, "bad magic", true},
		{"empty file", "plain", func(_ *testing.T, b []byte) []byte { return nil }, "too short", true},
		{"version 1", "plain", put32(4, 1), "unsupported version 1", true},
		{"version 4", "plain", put32(4, 4), "unsupported version 4", true},
		{"cluster_bits 8", "plain", put32(20, 8), "cluster_bits 8 out of range", true},
		{"cluster_bits 22", "plain", put32(20, 22), "cluster_bits 22 out of range", true},
		{"cluster_bits 63", "plain", put32(20, 63), "out of range", true},
		{"header_length 72", "plain", put32(100, 72), "header_length 72 is less than 104", true},
		{"header_length huge", "plain", put32(100, 1<<20), "exceeds the cluster size", true},
		{"refcount_order 7", "plain", put32(96, 7), "refcount_order 7", true},
		{"unknown incompatible bit", "plain", put64(72, 1<<5|1<<40), "unknown incompatible feature bits: 5, 40", true},
		{"unknown incompatible bit named", "plain", func(_ *testing.T, b []byte) []byte {
			name := make([]byte, featNameSize)
			name[0], name[1] = 0, 9 // incompatible bit 9
			copy(name[2:], "future feature")
			putExt(b, extFeatureNames, name)
			be.PutUint64(b[72:], 1<<9)
			return b
		}, `unknown incompatible feature bits: 9 ("future feature")`, true},
		{"AES", "plain", put32(32, 1), "encrypted qcow2 (AES): not supported", true},
		{"LUKS", "plain", put32(32, 2), "encrypted qcow2 (LUKS): not supported", true},
		{"crypt_method 9", "plain", put32(32, 9), "unknown crypt_method 9", true},
		{"compression type without bit", "plain", func(_ *testing.T, b []byte) []byte { b[104] = 1; return b }, "without the compression type bit", true},
		{"compression bit without type", "plain", put64(72, incCompType), "compression_type is 0", true},
		{"compression type 2", "zstd", func(_ *testing.T, b []byte) []byte { b[104] = 2; return b }, "unknown compression type 2", true},
		{"extended L2 with 4k clusters", "plain", put64(72, incExtendedL2), "at least 16384 bytes", true},
		{"data file bit without name", "plain", put64(72, incDataFile), "does not name it", false},
		{"virtual size huge", "plain", put64(24, 1<<62+1), "too large", true},
		{"virtual size beyond L1", "plain", put64(24, 1<<40), "too small for a virtual size", true},
		{"L1 size huge", "plain", put32(36, 0xffffffff), "larger than 32 MiB", true},
		{"L1 offset unaligned", "plain", put64(40, 0x3200), "not aligned", true},
		{"L1 beyond the file", "plain", put64(40, 1<<40), "past the end of the file", true},
		{"L1 offset zero", "plain", put64(40, 0), "L1 table offset is 0", true},
		{"backing name too long", "plain", func(_ *testing.T, b []byte) []byte {
			be.PutUint64(b[8:], 0x200)
			be.PutUint32(b[16:], 2000)
			return b
		}, "too long", true},
		{"backing name outside the first cluster", "plain", func(_ *testing.T, b []byte) []byte {
			be.PutUint64(b[8:], 1<<20)
			be.PutUint32(b[16:], 10)
			return b
		}, "outside the first cluster", true},
		{"header extension too long", "plain", func(_ *testing.T, b []byte) []byte {
			putExt(b, extBackingFormat, []byte("raw"))
			be.PutUint32(b[be.Uint32(b[100:])+4:], 1<<30)
			return b
		}, "runs past the end of the extension area", true},
		{"backing format name too long", "plain", func(_ *testing.T, b []byte) []byte {
			putExt(b, extBackingFormat, []byte("a-very-long-format-name"))
			return b
		}, "too long", true},
		{"data file named twice", "plain", func(_ *testing.T, b []byte) []byte {
			be.PutUint64(b[72:], incDataFile)
			putExt(b, extDataFile, []byte("d1"), extDataFile, []byte("d2"))
			return b
		}, "appears twice", true},
		{"data file name without the bit", "plain", func(_ *testing.T, b []byte) []byte {
			putExt(b, extDataFile, []byte("d1"))
			return b
		}, "data file feature bit is clear", true},
		{"L2 offset unaligned", "plain", l1Entry(func(e uint64) uint64 { return e + 0x200 }), "not aligned", true},
		{"L2 beyond EOF", "plain", l1Entry(func(e uint64) uint64 { return e&^offsetMask | 1<<40 }), "L2 table for L1 entry 0", true},
		{"data cluster unaligned", "plain", l2Entry(isData, func(e uint64) uint64 { return e + 0x200 }), "not aligned", true},
		{"data cluster beyond EOF", "plain", l2Entry(isData, func(e uint64) uint64 { return e&^offsetMask | 1<<40 }), "past the end of the file", true},
		{"compressed descriptor beyond EOF", "zlib", l2Entry(isCompressed, func(e uint64) uint64 { return flagCompress | 1<<40 }), "starts past the end of the file", true},
		{"corrupt deflate stream", "zlib", func(t *testing.T, b []byte) []byte {
			o := l2EntryAt(t, b, isCompressed)
			off, _ := compressedDesc(be.Uint64(b[o:]), 12)
			for i := range 16 {
				b[int(off)+i] = 0xff // deflate block type 3: invalid
			}
			return b
		}, "compressed cluster for guest offset 0x", true},
		{"corrupt zstd stream", "zstd", func(t *testing.T, b []byte) []byte {
			o := l2EntryAt(t, b, isCompressed)
			off, _ := compressedDesc(be.Uint64(b[o:]), 12)
			copy(b[off:], "not a zstd frame")
			return b
		}, "zstd", true},
		{"compressed with data file", "zlib", func(_ *testing.T, b []byte) []byte {
			be.PutUint64(b[72:], incDataFile)
			putExt(b, extDataFile, []byte("data"))
			return b
		}, "compressed cluster in an image with an external data file", true},
		{"subcluster allocated and zero", "extl2", func(t *testing.T, b []byte) []byte {
			o := l2EntryAt(t, b, isData)
			be.PutUint64(b[o+8:], be.Uint64(b[o+8:])|1<<32) // subcluster 0 also zero
			return b
		}, "both allocated and zero", true},
		{"subcluster allocated without offset", "extl2", func(t *testing.T, b []byte) []byte {
			o := l2EntryAt(t, b, isData)
			be.PutUint64(b[o:], 0)
			return b
		}, "without a host offset", true},
		{"truncated to the header", "plain", func(_ *testing.T, b []byte) []byte { return b[:200] }, "past the end of the file", true},
		{"truncated in the middle", "plain", func(_ *testing.T, b []byte) []byte { return b[:len(b)/2] }, "past the end of the file", true},
		{"truncated to 80 bytes", "plain", func(_ *testing.T, b []byte) []byte { return b[:80] }, "too short", true},
		{"truncated compressed", "zlib", func(_ *testing.T, b []byte) []byte { return b[:len(b)*3/4] }, "past the end of the file", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(t, bytes.Clone(bases[c.base]))
			err := readAll(t, b)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			var fe *diskerr.FormatError
			if c.formatErr && !errors.As(err, &fe) {
				t.Errorf("error %q is not a *diskerr.FormatError", err)
			}
			if !strings.Contains(err.Error(), "qcow2") {
				t.Errorf("error %q does not say qcow2", err)
			}
		})
	}
}

// TestCorruptDeflateNamesOffsets: a broken compressed cluster's error
// gives the guest offset and the host offset of the compressed data.
func TestCorruptDeflateNamesOffsets(t *testing.T) {
	b := corruptBases(t)["zlib"]
	o := l2EntryAt(t, b, isCompressed)
	e := be.Uint64(b[o:])
	host, _ := compressedDesc(e, 12)
	// Which guest cluster is it? Walk L1/L2 the way qemu's map would.
	img, err := New(bytes.NewReader(b), int64(len(b)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var guest int64 = -1
	for g := int64(0); g < img.Size(); g += img.clusterSize {
		x, err := img.extentAt(g, 1)
		if err != nil {
			t.Fatal(err)
		}
		if x.kind == kindCompressed && x.entry == e {
			guest = g
			break
		}
	}
	if guest < 0 {
		t.Fatal("compressed cluster not found by guest offset")
	}
	bad := bytes.Clone(b)
	for i := range 16 {
		bad[int(host)+i] = 0xff
	}
	img, err = New(bytes.NewReader(bad), int64(len(bad)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = img.ReadAt(make([]byte, 10), guest+100)
	want := fmt.Sprintf("qcow2: compressed cluster for guest offset %#x at %#x: deflate:", guest, host)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want it to start with %q", err, want)
	}
}

// putExt writes header extensions (type, data, type, data...) and the end
// marker after the header of the version 3 image b.
func putExt(b []byte, exts ...any) {
	off := be.Uint32(b[100:])
	for i := 0; i < len(exts); i += 2 {
		data := exts[i+1].([]byte)
		be.PutUint32(b[off:], uint32(exts[i].(int)))
		be.PutUint32(b[off+4:], uint32(len(data)))
		copy(b[off+8:], data)
		off += 8 + (uint32(len(data))+7)&^7
	}
	be.PutUint64(b[off:], 0)
}
