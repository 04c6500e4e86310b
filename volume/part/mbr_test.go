package part

import (
	"encoding/binary"
	"io"
	"os"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

var errEOF = io.EOF

const mbrScript = `label: dos
label-id: 0x12345678
start=2048,size=2048,type=83,bootable
start=4096,size=2048,type=82
start=6144,size=2048,type=8e
start=8192,size=16384,type=5
size=1024,type=83
size=1024,type=7
size=1024,type=b
`

// mbrImage builds a 16 MiB disk with three primaries and an extended
// partition holding three logicals.
func mbrImage(t testing.TB) string {
	t.Helper()
	testutil.NeedTools(t, "sfdisk")
	p := testutil.SparseFile(t, 16<<20)
	testutil.Run(t, mbrScript, "sfdisk", "-q", p)
	return p
}

func TestReadMBRMatchesSfdisk(t *testing.T) {
	p := mbrImage(t)
	tab, warns, err := readImage(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if tab.Scheme != SchemeMBR || tab.DiskID != 0x12345678 || tab.SectorSize != 512 {
		t.Errorf("table %+v", tab)
	}
	compareWithSfdisk(t, p, tab)
	names := map[int]string{1: "Linux", 2: "Linux swap / Solaris", 3: "Linux LVM", 4: "Extended", 5: "Linux", 6: "HPFS/NTFS/exFAT", 7: "W95 FAT32"}
	for _, q := range tab.Partitions {
		if q.TypeName != names[q.Number] {
			t.Errorf("partition %d: TypeName %q, want %q", q.Number, q.TypeName, names[q.Number])
		}
		if q.Extended != (q.Number == 4) {
			t.Errorf("partition %d: Extended %v", q.Number, q.Extended)
		}
	}
}

// More layouts, each compared with sfdisk: the other extended types, an
// extended partition in slot 2 with an empty slot 3, four primaries, one
// logical, and a partition ending exactly at the disk's end.
func TestReadMBRLayouts(t *testing.T) {
	testutil.NeedTools(t, "sfdisk")
	for _, tc := range []struct {
		name     string
		script   string
		extended int // number of the extended partition, 0 for none
	}{
		{"W95 extended (LBA)", "label: dos\nlabel-id: 0xa1b2c3d4\nsize=4096,type=c\nsize=16384,type=f\nsize=2048,type=83\nsize=2048,type=82\n", 2},
		{"Linux extended", "label: dos\nsize=4096,type=83\ntype=85\nsize=2048,type=83\nsize=2048,type=8e\n", 2},
		{"four primaries", "label: dos\nsize=4096,type=83\nsize=4096,type=7\nsize=4096,type=ef,bootable\ntype=fd\n", 0},
		{"slot 3 empty", "label: dos\n1: size=4096,type=83\n2: size=16384,type=5\n4: size=2048,type=83\n5: size=2048,type=83\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testutil.SparseFile(t, 16<<20)
			testutil.Run(t, tc.script, "sfdisk", "-q", p)
			tab, warns, err := readImage(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			compareWithSfdisk(t, p, tab)
			for _, q := range tab.Partitions {
				if q.Extended != (q.Number == tc.extended) {
					t.Errorf("partition %d: Extended %v", q.Number, q.Extended)
				}
			}
		})
	}
}

func TestDecodeMBR(t *testing.T) {
	b := make([]byte, 512)
	binary.LittleEndian.PutUint32(b[440:], 0xdeadbeef)
	e := b[446+16:]
	e[0], e[4] = 0x80, 0x0c
	binary.LittleEndian.PutUint32(e[8:], 63)
	binary.LittleEndian.PutUint32(e[12:], 1000)
	b[510], b[511] = 0x55, 0xAA
	m := decodeMBR(b)
	if m.DiskID != 0xdeadbeef {
		t.Errorf("disk id %#x", m.DiskID)
	}
	want := mbrEntry{Status: 0x80, Type: 0x0c, LBA: 63, Count: 1000}
	if m.Entries[1] != want || !m.Entries[0].empty() || m.protective() || m.badStatus() != -1 {
		t.Errorf("entries %+v", m.Entries)
	}
	e[0] = 0x12
	if decodeMBR(b).badStatus() != 1 {
		t.Error("bad status byte not found")
	}
}

// A bare FAT or NTFS filesystem's boot sector ends with 0x55AA too: it
// must not be read as a partition table.
func TestBareFilesystemIsNotMBR(t *testing.T) {
	for _, tc := range []struct {
		tool string
		args []string
	}{
		{"mkfs.vfat", []string{"-F", "12"}},
		{"mkfs.vfat", []string{"-F", "16"}},
		{"mkfs.vfat", []string{"-F", "32"}},
		{"mkntfs", []string{"-q", "-f", "-F"}},
		{"mkfs.exfat", nil},
	} {
		t.Run(tc.tool+fmtArgs(tc.args), func(t *testing.T) {
			testutil.NeedTools(t, tc.tool)
			p := testutil.SparseFile(t, 64<<20)
			testutil.Run(t, "", tc.tool, append(tc.args, p)...)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if b[510] != 0x55 || b[511] != 0xAA {
				t.Fatalf("%s wrote no 0x55AA: the test proves nothing", tc.tool)
			}
			tab, warns, err := readImage(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Scheme != SchemeNone || len(tab.Partitions) != 0 || len(warns) != 0 {
				t.Errorf("got %+v, warnings %v; want no partition table", tab, warns)
			}
		})
	}
}

func fmtArgs(a []string) string {
	s := ""
	for _, x := range a {
		s += x
	}
	return s
}
