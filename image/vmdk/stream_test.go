package vmdk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// writeStream writes raw as a streamOptimized extent the way VMware and
// VirtualBox stream one into an OVA (qemu-img writes its grain directory
// in front instead): header with GD_AT_END, embedded descriptor, each
// non-zero grain compressed behind a grain marker, then each grain table
// behind a GT marker, the grain directory behind a GD marker, the footer
// (a copy of the header with the real offsets) and the end-of-stream
// marker. qemu-img reads such files, and the tests compare with it.
func writeStream(t testing.TB, raw []byte, cid uint32) []byte {
	return writeSparse(t, raw, cid, sparseLayout{grain: 64 << 10, gtes: 512, compressed: true, atEnd: true})
}

// sparseLayout shapes what writeSparse writes: grain size in bytes,
// entries per grain table, compressed grains with markers (a stream), the
// grain directory named by the footer (GD_AT_END) or by the header.
type sparseLayout struct {
	grain      int64
	gtes       int64
	compressed bool
	atEnd      bool
}

// writeSparse writes raw as a sparse extent of the given layout: header,
// embedded descriptor, grains, grain tables, grain directory (and footer
// and end-of-stream marker for a stream). Small layouts make small fuzz
// seeds.
func writeSparse(t testing.TB, raw []byte, cid uint32, l sparseLayout) []byte {
	t.Helper()
	grain := l.grain
	capacity := (int64(len(raw)) + 511) / 512
	nGrains := (int64(len(raw)) + grain - 1) / grain
	nGTs := (nGrains + l.gtes - 1) / l.gtes
	var out bytes.Buffer
	pad := func() {
		if r := out.Len() % 512; r != 0 {
			out.Write(make([]byte, 512-r))
		}
	}
	flags := uint32(flagNLTest)
	if l.compressed {
		flags |= flagCompress | flagMarkers
	}
	descSectors := uint64(2)
	overhead := 1 + descSectors
	if l.compressed && l.gtes == 512 {
		overhead, descSectors = 128, 20 // as VMware lays it out
	}
	hdr := func(gdOffset uint64) []byte {
		h := make([]byte, 512)
		copy(h, "KDMV")
		le.PutUint32(h[hdrVersion:], 3)
		le.PutUint32(h[hdrFlags:], flags)
		le.PutUint64(h[hdrCapacity:], uint64(capacity))
		le.PutUint64(h[hdrGrainSize:], uint64(grain/512))
		le.PutUint64(h[hdrDescOffset:], 1)
		le.PutUint64(h[hdrDescSize:], descSectors)
		le.PutUint32(h[hdrNumGTEs:], uint32(l.gtes))
		le.PutUint64(h[hdrGDOffset:], gdOffset)
		le.PutUint64(h[hdrOverhead:], overhead)
		copy(h[hdrEOLChars:], "\n \r\n")
		if l.compressed {
			le.PutUint16(h[hdrCompress:], compressDeflate)
		}
		return h
	}
	marker := func(val uint64, typ uint32) {
		if !l.compressed {
			return
		}
		m := make([]byte, 512)
		le.PutUint64(m, val)
		le.PutUint32(m[12:], typ)
		out.Write(m)
	}
	out.Write(hdr(gdAtEnd))
	desc := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n"+
		"RDONLY %d SPARSE \"generated-stream.vmdk\"\nddb.adapterType = \"lsilogic\"\n", cid, capacity)
	out.WriteString(desc)
	out.Write(make([]byte, int(overhead)*512-out.Len()))
	gts := make([]uint32, nGTs*l.gtes)
	for g := range nGrains {
		chunk := raw[g*grain : min(int64(len(raw)), (g+1)*grain)]
		if bytes.Count(chunk, []byte{0}) == len(chunk) {
			continue
		}
		gts[g] = uint32(out.Len() / 512)
		if !l.compressed {
			out.Write(chunk)
			pad()
			continue
		}
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(chunk)
		zw.Close()
		var m [12]byte
		le.PutUint64(m[:], uint64(g*grain/512))
		le.PutUint32(m[8:], uint32(z.Len()))
		out.Write(m[:])
		out.Write(z.Bytes())
		pad()
	}
	gd := make([]uint32, nGTs)
	for i := range nGTs {
		marker(uint64((l.gtes*4+511)/512), markerGT)
		gd[i] = uint32(out.Len() / 512)
		binary.Write(&out, binary.LittleEndian, gts[i*l.gtes:(i+1)*l.gtes])
		pad()
	}
	marker(uint64((nGTs*4+511)/512), markerGD)
	gdAt := out.Len() / 512
	binary.Write(&out, binary.LittleEndian, gd)
	pad()
	if !l.atEnd {
		b := out.Bytes()
		copy(b, hdr(uint64(gdAt)))
		return b
	}
	marker(1, markerFooter)
	out.Write(hdr(uint64(gdAt)))
	marker(0, markerEOS)
	return out.Bytes()
}

// TestStreamGDAtEnd reads streams written as VMware does, and compares
// with qemu-img's reading of the same files.
func TestStreamGDAtEnd(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	// The last disk has more than 512 grains (several grain tables),
	// mostly holes so that the test stays fast.
	for _, size := range []int64{3 << 20, 2<<20 + 1536, 33<<20 + 512} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			src := filepath.Join(dir, "src.raw")
			makeSource(t, src, min(size, 3<<20), uint64(size))
			if size > 3<<20 {
				f, _ := os.OpenFile(src, os.O_WRONLY, 0)
				f.Truncate(size)
				f.WriteAt([]byte("data in the second grain table"), 32<<20+5000)
				f.WriteAt([]byte("last sector"), size-100)
				f.Close()
			}
			raw, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, fmt.Sprintf("stream-%d.vmdk", size))
			if err := os.WriteFile(p, writeStream(t, raw, 0x1234abcd), 0o644); err != nil {
				t.Fatal(err)
			}
			want := qemuRaw(t, p)
			if !bytes.Equal(want, raw) {
				t.Fatalf("qemu-img reads the generated stream differently from its source at %#x", imagetest.FirstDiff(want, raw))
			}
			d, err := openTest(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if info := d.Info(); info.CID != 0x1234abcd || info.CreateType != "streamOptimized" || !info.Compressed {
				t.Errorf("Info() = %+v", info)
			}
			checkDisk(t, d.Disk, want)
			checkMap(t, d.Disk, p)
		})
	}
}

func newZlib(w io.Writer) *zlib.Writer { return zlib.NewWriter(w) }
