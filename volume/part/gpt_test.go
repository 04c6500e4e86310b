package part

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const gptDiskGUID = "11111111-2222-3333-4444-555555555555"

// gptImage builds a 16 MiB GPT disk with sgdisk: named partitions, fixed
// GUIDs, a gap in the entry numbers (1, 2, 3, 5) and a non-ASCII name.
func gptImage(t testing.TB) string {
	t.Helper()
	testutil.NeedTools(t, "sgdisk")
	p := testutil.SparseFile(t, 16<<20)
	testutil.Run(t, "", "sgdisk", "-U", gptDiskGUID,
		"-n", "1:2048:+2M", "-t", "1:ef00", "-c", "1:EFI system partition", "-u", "1:AAAAAAAA-0000-0000-0000-000000000001",
		"-n", "2:0:+4M", "-t", "2:8300", "-c", "2:root fs", "-u", "2:aaaaaaaa-0000-0000-0000-000000000002",
		"-n", "5:0:+1M", "-t", "5:8200", "-c", "5:swap", "-u", "5:AAAAAAAA-0000-0000-0000-000000000005",
		"-n", "3:0:0", "-t", "3:0700", "-c", "3:Données ☃", "-u", "3:AAAAAAAA-0000-0000-0000-000000000003",
		p)
	return p
}

func TestReadGPTMatchesSfdisk(t *testing.T) {
	p := gptImage(t)
	testutil.NeedTools(t, "sfdisk")
	tab, warns, err := readImage(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	st := testutil.Sfdisk(t, p)
	if tab.Scheme != SchemeGPT || tab.DiskGUID != st.PartitionTable.ID || tab.DiskGUID != gptDiskGUID || tab.SectorSize != 512 {
		t.Errorf("table %+v, sfdisk id %s", tab, st.PartitionTable.ID)
	}
	compareWithSfdisk(t, p, tab)
	names := map[int]string{1: "EFI System", 2: "Linux filesystem", 3: "Microsoft basic data", 5: "Linux swap"}
	for _, q := range tab.Partitions {
		if q.TypeName != names[q.Number] {
			t.Errorf("partition %d: TypeName %q, want %q", q.Number, q.TypeName, names[q.Number])
		}
	}
}

// A hybrid MBR (sgdisk -h: real MBR entries next to the 0xEE one) is read
// as GPT, as Linux does.
func TestReadHybridMBR(t *testing.T) {
	p := gptImage(t)
	testutil.Run(t, "", "sgdisk", "-h", "1:2:EE", p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeMBR(b[:512])
	if !m.protective() || m.Entries[0].Type == 0xEE {
		t.Fatalf("sgdisk -h wrote no hybrid MBR: %+v", m.Entries)
	}
	tab, warns, err := readImage(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Scheme != SchemeGPT || len(warns) != 0 {
		t.Errorf("scheme %q, warnings %v", tab.Scheme, warns)
	}
	compareWithSfdisk(t, p, tab)
}

// TestReadGPT4Kn reads a GPT made by sgdisk on a loop device with
// 4096-byte sectors (testdata/mkgpt4k.sh) and compares it with the
// sfdisk --json output saved beside it.
func TestReadGPT4Kn(t *testing.T) {
	img := testutil.Gunzip(t, "testdata/gpt4k.img.gz")
	js, err := os.ReadFile("testdata/gpt4k.sfdisk.json")
	if err != nil {
		t.Fatal(err)
	}
	var st testutil.SfdiskTable
	if err := json.Unmarshal(js, &st); err != nil {
		t.Fatal(err)
	}
	var warns []error
	tab, err := Read(bytes.NewReader(img), int64(len(img)), func(e error) { warns = append(warns, e) })
	if err != nil {
		t.Fatal(err)
	}
	if tab.Scheme != SchemeGPT || tab.SectorSize != 4096 || len(warns) != 0 {
		t.Fatalf("table %+v, warnings %v", tab, warns)
	}
	compareTables(t, st, "gpt4k.img", tab)
}

// corruptFile flips bytes of a copy of the image.
func corruptFile(t testing.TB, src string, offs ...int64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		b[o] ^= 0xff
	}
	dst := src + ".bad"
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// sgdiskVerify runs `sgdisk -v`, an independent judge of a damaged GPT.
func sgdiskVerify(t testing.TB, p string) string {
	out, _ := exec_Command("sgdisk", "-v", p)
	return out
}

func TestGPTBackupFallback(t *testing.T) {
	good := gptImage(t)
	want, _, err := readImage(t, good)
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	const backup = size - 512
	for _, tc := range []struct {
		name    string
		offs    []int64
		wantErr bool
		inWarn  []string // every string must appear in the one warning
		sgdisk  []string // what sgdisk -v says of the damage: it is real
	}{
		{name: "primary header CRC", offs: []int64{512 + 60}, inWarn: []string{"0x200", fmt.Sprintf("%#x", backup), "CRC"},
			sgdisk: []string{"Main header: ERROR", "Backup header: OK", "Backup partition table: OK"}},
		{name: "primary signature", offs: []int64{512}, inWarn: []string{"0x200", "signature"}},
		{name: "primary entry array", offs: []int64{1024 + 130}, inWarn: []string{"0x200", "entry array at 0x400", "CRC"},
			sgdisk: []string{"Main header: OK", "Main partition table: ERROR", "Backup partition table: OK"}},
		{name: "both headers", offs: []int64{512 + 60, backup + 60}, wantErr: true,
			sgdisk: []string{"Creating new GPT entries"}}, // sgdisk finds no GPT at all
		{name: "primary header and backup entries", offs: []int64{512 + 60, backup - 32*512 + 5}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := corruptFile(t, good, tc.offs...)
			if len(tc.sgdisk) > 0 {
				out := sgdiskVerify(t, p)
				for _, s := range tc.sgdisk {
					if !strings.Contains(out, s) {
						t.Errorf("sgdisk -v does not say %q:\n%s", s, out)
					}
				}
			}
			tab, warns, err := readImage(t, p)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; table %+v", tab)
				}
				if !strings.Contains(err.Error(), "0x200") || !strings.Contains(err.Error(), fmt.Sprintf("%#x", backup)) {
					t.Errorf("error does not name both headers: %v", err)
				}
				var fe *diskerr.FormatError
				if !errors.As(err, &fe) {
					t.Errorf("error %v does not wrap a diskerr.FormatError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 1 {
				t.Fatalf("warnings %v, want one", warns)
			}
			for _, s := range tc.inWarn {
				if !strings.Contains(warns[0].Error(), s) {
					t.Errorf("warning %q does not contain %q", warns[0], s)
				}
			}
			// The regions differ by design: a damaged header is not
			// mapped as one.
			got, exp := *tab, *want
			got.Regions, exp.Regions = nil, nil
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Errorf("from the backup:\n%+v\nwant\n%+v", tab, want)
			}
		})
	}
}

// TestGoDiskfsFallback checks go-diskfs itself, without our header
// checks or masking: a bad primary header CRC and a bad primary entry
// array both make it use the backup; both headers bad is an error.
func TestGoDiskfsFallback(t *testing.T) {
	good := gptImage(t)
	const backup = 16<<20 - 512
	for _, tc := range []struct {
		name      string
		offs      []int64
		recovered bool
		wantErr   bool
	}{
		{"intact", nil, false, false},
		{"primary header CRC", []int64{512 + 60}, true, false},
		{"primary entry array", []int64{1024 + 130}, true, false},
		{"both headers", []int64{512 + 60, backup + 60}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(corruptFile(t, good, tc.offs...))
			if err != nil {
				t.Fatal(err)
			}
			tab, err := gpt.Read(&gptFile{r: bytes.NewReader(b), size: int64(len(b))}, 512, 512)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tab.RecoveredFromBackup != tc.recovered || len(tab.Partitions) != 4 {
				t.Errorf("RecoveredFromBackup %v, %d partitions", tab.RecoveredFromBackup, len(tab.Partitions))
			}
		})
	}
}

// A header whose CRC is right but whose geometry would make go-diskfs
// allocate gigabytes (entry count 2^32-1) or panic (count and entry size
// both 2^32-1: "makeslice: len out of range", seen with go-diskfs v1.9.4)
// must be refused before go-diskfs sees it.
func TestGPTForgedGeometry(t *testing.T) {
	good := gptImage(t)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		count, esize uint32
		want         string
	}{
		{"huge count", 0xffffffff, 128, "4294967295 entries"},
		{"huge count and entry size", 0xffffffff, 0xffffffff, "entry size 4294967295"},
		{"zero entry size", 128, 0, "entry size 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			forge := func(off int64) {
				h := b[off : off+92]
				putLE32(h[80:], tc.count)
				putLE32(h[84:], tc.esize)
				putLE32(h[16:], 0)
				putLE32(h[16:], crc32IEEE(h))
			}
			forge(512)
			var warns []error
			tab, err := Read(bytes.NewReader(b), int64(len(b)), func(e error) { warns = append(warns, e) })
			if err != nil {
				t.Fatal(err)
			}
			if len(tab.Partitions) != 4 || len(warns) != 1 || !strings.Contains(warns[0].Error(), tc.want) {
				t.Errorf("partitions %d, warnings %v", len(tab.Partitions), warns)
			}
			forge(int64(len(b)) - 512)
			if _, err := Read(bytes.NewReader(b), int64(len(b)), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("both headers forged: error %v", err)
			}
		})
	}
}

func TestGPTFileIsReadOnly(t *testing.T) {
	var f any = &gptFile{r: bytes.NewReader(make([]byte, 1024)), size: 1024}
	if _, ok := f.(io.WriterAt); ok {
		t.Error("gptFile implements io.WriterAt")
	}
	if _, ok := f.(io.Writer); ok {
		t.Error("gptFile implements io.Writer")
	}
	g := &gptFile{r: bytes.NewReader(bytes.Repeat([]byte{1}, 1024)), size: 1024, maskOff: 512, maskLen: 512}
	p := make([]byte, 600)
	n, err := g.ReadAt(p, 500)
	if n != 524 || err != io.EOF || p[11] != 1 || p[12] != 0 || p[523] != 0 {
		t.Errorf("masked ReadAt: n %d err %v", n, err)
	}
	if end, _ := g.Seek(0, io.SeekEnd); end != 1024 {
		t.Errorf("Seek end %d", end)
	}
}
