package vmdk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

func TestParseDescriptor(t *testing.T) {
	good := "# Disk DescriptorFile\r\nversion=1\r\nencoding=\"UTF-8\"\nCID=fffffffe\nparentCID=0a0b0c0d\n" +
		"createType=\"twoGbMaxExtentSparse\"\nparentFileNameHint=\"my base.vmdk\"\n\n# Extent description\n" +
		"RW 4192256 SPARSE \"disk name-s001.vmdk\"\nRDONLY 8 FLAT \"disk-f002.vmdk\" 16\n  NOACCESS 1 ZERO\n" +
		"RW 2048 VMFS \"esx-flat.vmdk\"\n\n#DDB\nddb.adapterType = \"lsilogic\"\nddb.uuid = \"60 00 C2 9a\"\n"
	d, err := ParseDescriptor([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || d.CID != 0xfffffffe || d.ParentCID != 0x0a0b0c0d || !d.HasCID ||
		d.CreateType != "twoGbMaxExtentSparse" || d.ParentFileNameHint != "my base.vmdk" ||
		d.DDB["ddb.adapterType"] != "lsilogic" || d.DDB["ddb.uuid"] != "60 00 C2 9a" {
		t.Errorf("ParseDescriptor = %+v", d)
	}
	want := []ExtentLine{
		{"RW", 4192256, "SPARSE", "disk name-s001.vmdk", 0, 10},
		{"RDONLY", 8, "FLAT", "disk-f002.vmdk", 16, 11},
		{"NOACCESS", 1, "ZERO", "", 0, 12},
		{"RW", 2048, "VMFS", "esx-flat.vmdk", 0, 13},
	}
	if len(d.Extents) != len(want) {
		t.Fatalf("extents = %+v", d.Extents)
	}
	for i := range want {
		if d.Extents[i] != want[i] {
			t.Errorf("extent %d = %+v, want %+v", i, d.Extents[i], want[i])
		}
	}

	for _, bad := range []struct{ name, text, msg string }{
		{"bad CID", "version=1\nCID=xyz\n", "bad CID"},
		{"CID too long", "version=1\nCID=123456789\n", "bad CID"},
		{"bad version", "version=one\n", "bad version"},
		{"no type", "RW 100\n", "want ACCESS"},
		{"bad sectors", "RW -5 FLAT \"a\" 0\n", "bad sector count"},
		{"zero sectors", "RW 0 FLAT \"a\" 0\n", "bad sector count"},
		{"unquoted", "RW 5 FLAT a 0\n", "not quoted"},
		{"unterminated", "RW 5 FLAT \"a 0\n", "unterminated"},
		{"bad offset", "RW 5 FLAT \"a\" x\n", "bad offset"},
		{"unknown type", "RW 5 FOO \"a\"\n", "unknown extent type"},
		{"zero with file", "RW 5 ZERO \"a\"\n", "names no file"},
		{"flat without file", "RW 5 FLAT\n", "needs a file name"},
		{"empty name", "RW 5 SPARSE \"\"\n", "empty file name"},
		{"overflow", "RW 4398046511103 FLAT \"a\" 4398046511103\n", "overflow"},
		{"too many sectors", "RW 18014398509481983 FLAT \"a\" 0\n", "bad sector count"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := ParseDescriptor([]byte(bad.text))
			if err == nil || !strings.Contains(err.Error(), bad.msg) {
				t.Errorf("ParseDescriptor(%q) = %v, want an error with %q", bad.text, err, bad.msg)
			}
		})
	}
	if _, err := ParseDescriptor(bytes.Repeat([]byte("#"), maxDescriptor+1)); err == nil {
		t.Error("a descriptor over 1 MiB was accepted")
	}
}

func TestLooksLikeDescriptor(t *testing.T) {
	for s, want := range map[string]bool{
		"# Disk DescriptorFile\nversion=1\n":   true,
		"version=3\r\nCID=1\n":                 true,
		"\n   \n# c\nversion=2\n":              true,
		"# Disk DescriptorFile\nversion=4\n":   false,
		"CID=1\nversion=1\n":                   false,
		"version=1":                            true,
		"KDMV":                                 false,
		"# only comments\n":                    false,
		"\x33\xc0\x8e\xd0\xbc\x00\x7c version": false,
	} {
		if got := LooksLikeDescriptor([]byte(s)); got != want {
			t.Errorf("LooksLikeDescriptor(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestESXiDescriptor reads a descriptor as ESXi writes it (createType
// vmfs, a VMFS extent naming -flat.vmdk, ddb.uuid lines) and compares
// with qemu-img.
func TestESXiDescriptor(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	flat := filepath.Join(dir, "esx-flat.vmdk")
	makeSource(t, flat, 2<<20, 9)
	desc := "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=fffffffe\nparentCID=ffffffff\n" +
		"createType=\"vmfs\"\n\n# Extent description\nRW 4096 VMFS \"esx-flat.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n" +
		"ddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"2\"\nddb.geometry.heads = \"64\"\n" +
		"ddb.geometry.sectors = \"32\"\nddb.longContentID = \"8f6a3b8e4a7d8d2a0c3e9f2bfffffffe\"\n" +
		"ddb.thinProvisioned = \"1\"\nddb.uuid = \"60 00 C2 9b 69 2f c4 29-5a 06 1e 9d 7d 3c 4b 21\"\nddb.virtualHWVersion = \"13\"\n"
	p := filepath.Join(dir, "esx.vmdk")
	if err := os.WriteFile(p, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := openTest(t, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkDisk(t, d.Disk, qemuRaw(t, p))
	checkMap(t, d.Disk, p)
	if d.Info().CreateType != "vmfs" || d.Info().DDB["ddb.virtualHWVersion"] != "13" {
		t.Errorf("Info() = %+v", d.Info())
	}
}

// TestExtentKinds reads a descriptor mixing RW and RDONLY FLAT extents
// (one at an offset into its file), a ZERO extent and a SPARSE extent
// qemu-img made. qemu drops RDONLY and ZERO extents, so the expected
// bytes are put together from the files themselves.
func TestExtentKinds(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	a := filepath.Join(dir, "a-flat.vmdk")
	makeSource(t, a, 1<<20, 1)
	b := filepath.Join(dir, "b-flat.vmdk")
	makeSource(t, b, 1<<20, 2)
	src := filepath.Join(dir, "s.raw")
	makeSource(t, src, 1<<20, 3)
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", src, filepath.Join(dir, "s.vmdk"))
	desc := "# Disk DescriptorFile\nversion=1\nCID=00000001\nparentCID=ffffffff\ncreateType=\"custom\"\n" +
		"RW 2048 FLAT \"a-flat.vmdk\" 0\nRDONLY 1024 FLAT \"b-flat.vmdk\" 1024\nRW 100 ZERO\nRW 2048 SPARSE \"s.vmdk\"\n" +
		"RDONLY 16 FLAT \"b-flat.vmdk\" 2040\n" // runs 8 sectors past the end of b: zeros
	p := filepath.Join(dir, "mixed.vmdk")
	if err := os.WriteFile(p, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	var want []byte
	want = append(want, ab...)
	want = append(want, bb[512<<10:]...)
	want = append(want, make([]byte, 100*512)...)
	want = append(want, qemuRaw(t, filepath.Join(dir, "s.vmdk"))...)
	want = append(want, bb[2040*512:]...)
	want = append(want, make([]byte, 8*512)...)
	d, err := openTest(t, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkDisk(t, d.Disk, want)
	// The ZERO extent and the tail past b's end are holes.
	exts, err := d.Extents(3<<20>>1, 100*512)
	if err != nil || len(exts) != 1 || !exts[0].Hole || !exts[0].Zero || exts[0].Len != 100*512 {
		t.Errorf("Extents over the ZERO extent = %+v, %v", exts, err)
	}

	na := filepath.Join(dir, "noaccess.vmdk")
	os.WriteFile(na, []byte("version=1\nCID=1\nRW 8 FLAT \"a-flat.vmdk\" 0\nNOACCESS 8 FLAT \"b-flat.vmdk\" 0\n"), 0o644)
	d2, err := openTest(t, na)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	buf := make([]byte, 1024)
	if _, err := d2.ReadAt(buf, 0); err != nil {
		t.Errorf("reading the RW extent: %v", err)
	}
	if _, err := d2.ReadAt(buf, 4096); err == nil || !strings.Contains(err.Error(), "NOACCESS") {
		t.Errorf("reading the NOACCESS extent: %v, want an error", err)
	}
}

// TestRepeatedExtent: a descriptor naming one sparse file many times
// opens it (and reads its grain directory) once.
func TestRepeatedExtent(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "s.raw")
	makeSource(t, src, 64<<10, 12)
	s := filepath.Join(dir, "s.vmdk")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", src, s)
	one := qemuRaw(t, s)
	desc := "version=1\nCID=1\n" + strings.Repeat("RW 128 SPARSE \"s.vmdk\"\nRW 128 FLAT \"s.raw\" 0\n", 200)
	p := filepath.Join(dir, "rep.vmdk")
	os.WriteFile(p, []byte(desc), 0o644)
	d, err := openTest(t, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.files) != 2 || len(d.sparses) != 1 {
		t.Errorf("%d files and %d sparse extents open, want 2 and 1", len(d.files), len(d.sparses))
	}
	raw, _ := os.ReadFile(src)
	checkDisk(t, d.Disk, bytes.Repeat(append(bytes.Clone(one), raw...), 200))
}
