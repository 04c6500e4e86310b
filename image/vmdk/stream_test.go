package vmdk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// writeStream writes raw as a streamOptimized extent the way VMware and
// VirtualBox stream one into an OVA (qemu-img writes its grain directory
// in front instead): header with GD_AT_END, embedded descriptor, each
// non-zero grain compressed behind a grain marker, then each grain table
// behind a GT marker, the grain directory behind a GD marker, the footer
// (a copy of the header with the real offsets) and the end-of-stream
// marker. qemu-img reads such files, and the tests compare with it.
func writeStream(t testing.TB, raw []byte, cid uint32) []byte {
	t.Helper()
	const grain = 64 << 10
	capacity := (int64(len(raw)) + 511) / 512
	nGrains := (int64(len(raw)) + grain - 1) / grain
	nGTs := (nGrains + 511) / 512
	var out bytes.Buffer
	pad := func() {
		if r := out.Len() % 512; r != 0 {
			out.Write(make([]byte, 512-r))
		}
	}
	hdr := func(gdOffset uint64) []byte {
		h := make([]byte, 512)
		copy(h, "KDMV")
		le.PutUint32(h[hdrVersion:], 3)
		le.PutUint32(h[hdrFlags:], flagNLTest|flagCompress|flagMarkers)
		le.PutUint64(h[hdrCapacity:], uint64(capacity))
		le.PutUint64(h[hdrGrainSize:], grain/512)
		le.PutUint64(h[hdrDescOffset:], 1)
		le.PutUint64(h[hdrDescSize:], 20)
		le.PutUint32(h[hdrNumGTEs:], 512)
		le.PutUint64(h[hdrGDOffset:], gdOffset)
		le.PutUint64(h[hdrOverhead:], 128)
		copy(h[hdrEOLChars:], "\n \r\n")
		le.PutUint16(h[hdrCompress:], compressDeflate)
		return h
	}
	marker := func(val uint64, typ uint32) {
		m := make([]byte, 512)
		le.PutUint64(m, val)
		le.PutUint32(m[12:], typ)
		out.Write(m)
	}
	out.Write(hdr(gdAtEnd))
	desc := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n"+
		"# Extent description\nRDONLY %d SPARSE \"generated-stream.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n"+
		"ddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n", cid, capacity)
	out.WriteString(desc)
	out.Write(make([]byte, 128*512-out.Len()))
	gts := make([]uint32, nGTs*512)
	for g := range nGrains {
		chunk := raw[g*grain : min(int64(len(raw)), (g+1)*grain)]
		if bytes.Count(chunk, []byte{0}) == len(chunk) {
			continue
		}
		gts[g] = uint32(out.Len() / 512)
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
		marker(4, markerGT) // 512 entries * 4 bytes = 4 sectors
		gd[i] = uint32(out.Len() / 512)
		binary.Write(&out, binary.LittleEndian, gts[i*512:(i+1)*512])
	}
	marker(uint64((nGTs*4+511)/512), markerGD)
	gdAt := out.Len() / 512
	binary.Write(&out, binary.LittleEndian, gd)
	pad()
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
	for _, size := range []int64{3 << 20, 5<<20 + 1536, 40 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			src := filepath.Join(dir, "src.raw")
			makeSource(t, src, size, uint64(size))
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
				t.Fatalf("qemu-img reads the generated stream differently from its source at %#x", firstDiff(want, raw))
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
