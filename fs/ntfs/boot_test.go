package ntfs

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestParseBootFixtures decodes the fixtures' boot sectors. The values
// are fsstat's (The Sleuth Kit) for the committed fixtures, and are
// checked against fsstat again when it is installed, so that a rebuilt
// fixture cannot drift from them unnoticed.
func TestParseBootFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bootSector
	}{
		// small: mkntfs -c 1024 on 4096 sectors; fsstat: "First Cluster
		// of MFT: 16", "...MFT Mirror: 1023", "Total Sector Range: 0 -
		// 4094", entries of 1024, index records of 4096.
		{"small", bootSector{bytesPerSector: 512, clusterSize: 1024, totalSectors: 4095, mftLCN: 16, mftMirrLCN: 1023, recordSize: 1024, indexSize: 4096, serial: 0x1122334455667788}},
		// small4k: mkntfs -c 4096 on 8192 sectors.
		{"small4k", bootSector{bytesPerSector: 512, clusterSize: 4096, totalSectors: 8191, mftLCN: 4, mftMirrLCN: 511, recordSize: 1024, indexSize: 4096, serial: 0x99AABBCCDDEEFF00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture(t, tc.name)
			for _, at := range []struct {
				what string
				off  int64
			}{{"boot sector", 0}, {"backup", int64(len(b)) - 512}} {
				bs, err := parseBoot(b[at.off:at.off+512], at.off, int64(len(b)))
				if err != nil {
					t.Fatalf("%s: %v", at.what, err)
				}
				if *bs != tc.want {
					t.Errorf("%s: %+v, want %+v", at.what, *bs, tc.want)
				}
			}
			bs, _ := parseBoot(b[:512], 0, int64(len(b)))
			if got, want := bs.volumeSize(), int64(len(b))-512; got != want {
				t.Errorf("volumeSize() = %d, want %d (the device less the backup's sector)", got, want)
			}
			if got, want := bs.clusters(), tc.want.totalSectors*512/tc.want.clusterSize; got != want {
				t.Errorf("clusters() = %d, want %d", got, want)
			}
			if _, err := exec.LookPath("fsstat"); err != nil {
				return
			}
			img := filepath.Join(t.TempDir(), "v.img")
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := testutil.Run(t, "", "fsstat", img)
			field := func(re string) int64 {
				m := regexp.MustCompile(re).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("fsstat: no %q in\n%s", re, out)
				}
				v, _ := strconv.ParseInt(m[len(m)-1], 10, 64)
				return v
			}
			for _, c := range []struct {
				re       string
				got, add int64
			}{
				{`First Cluster of MFT: (\d+)`, bs.mftLCN, 0},
				{`First Cluster of MFT Mirror: (\d+)`, bs.mftMirrLCN, 0},
				{`Size of MFT Entries: (\d+)`, bs.recordSize, 0},
				{`Size of Index Records: (\d+)`, bs.indexSize, 0},
				{`Sector Size: (\d+)`, bs.bytesPerSector, 0},
				{`Cluster Size: (\d+)`, bs.clusterSize, 0},
				{`Total Sector Range: 0 - (\d+)`, bs.totalSectors, 1},
			} {
				if want := field(c.re) + c.add; c.got != want {
					t.Errorf("fsstat %q: %d, ours %d", c.re, want, c.got)
				}
			}
			if !strings.Contains(out, "Volume Serial Number: "+strings.ToUpper(strconv.FormatUint(bs.serial, 16))) {
				t.Errorf("fsstat's serial number is not %X", bs.serial)
			}
		})
	}
}

// TestSizeFromByteLimits adds the edges to mft_test.go's TestSizeFromByte.
func TestSizeFromByteLimits(t *testing.T) {
	for _, tc := range []struct {
		b    byte
		cs   int64
		want int64
		ok   bool
	}{
		{0x02, 2048, 4096, true},     // two clusters
		{0x7F, 512, 127 * 512, true}, // the largest cluster count
		{0xE0, 4096, 0, false},       // -32: 4 GiB, refused
		{0xE1, 4096, 1 << 31, true},  // -31
	} {
		got, ok := sizeFromByte(tc.b, tc.cs)
		if got != tc.want || ok != tc.ok {
			t.Errorf("sizeFromByte(%#x, %d) = %d, %v; want %d, %v", tc.b, tc.cs, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseBootCorrupt damages the small fixture's boot sector one field
// at a time: each must be refused with an error naming the field, at the
// offset given.
func TestParseBootCorrupt(t *testing.T) {
	good := fixture(t, "small")[:512]
	size := int64(4096 * 512)
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		wantErr string
	}{
		{"short", func(b []byte) []byte { return b[:511] }, "511 bytes"},
		{"OEM id", func(b []byte) []byte { copy(b[3:], "EXFAT   "); return b }, "OEM id"},
		{"signature", func(b []byte) []byte { b[510] = 0; return b }, "signature"},
		{"bytes per sector 0", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x0B:], 0); return b }, "bytes per sector 0"},
		{"bytes per sector 1000", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x0B:], 1000); return b }, "bytes per sector 1000"},
		{"bytes per sector 8192", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x0B:], 8192); return b }, "bytes per sector 8192"},
		{"sectors per cluster 0", func(b []byte) []byte { b[0x0D] = 0; return b }, "sectors per cluster 0"},
		{"sectors per cluster 3", func(b []byte) []byte { b[0x0D] = 3; return b }, "sectors per cluster 3"},
		{"sectors per cluster 2^20", func(b []byte) []byte { b[0x0D] = 256 - 20; return b }, "too large"},
		{"cluster over 2 MiB", func(b []byte) []byte { b[0x0D] = 256 - 12; binary.LittleEndian.PutUint16(b[0x0B:], 4096); return b }, "over 2 MiB"},
		{"total sectors 0", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[0x28:], 0); return b }, "total sectors 0"},
		{"total sectors huge", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[0x28:], 1<<62); return b }, "total sectors"},
		{"$MFT beyond the volume", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[0x30:], 2047); return b }, "$MFT at cluster 2047"},
		{"$MFTMirr beyond the volume", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[0x38:], 1<<40); return b }, "$MFTMirr at cluster"},
		{"$MFT beyond the device", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[0x28:], 1<<20)
			binary.LittleEndian.PutUint64(b[0x30:], 5000)
			return b
		}, "beyond the device"},
		{"record size byte 0", func(b []byte) []byte { b[0x40] = 0; return b }, "MFT record size byte 0"},
		{"record size 256", func(b []byte) []byte { b[0x40] = 0xF8; return b }, "256 bytes"},
		{"record size 128 KiB", func(b []byte) []byte { b[0x40] = 0xEF; return b }, "131072 bytes"},
		{"record size 3 clusters", func(b []byte) []byte { b[0x40] = 3; return b }, "3072 bytes"},
		{"index size byte 0", func(b []byte) []byte { b[0x44] = 0; return b }, "index record size byte 0"},
		{"index size 1 MiB", func(b []byte) []byte { b[0x44] = 0xEC; return b }, "1048576 bytes"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			b := tc.damage(append([]byte(nil), good...))
			bs, err := parseBoot(b, 0x7e00, size)
			if err == nil {
				t.Fatalf("no error; decoded %+v", bs)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "boot sector at 0x7e00") {
				t.Errorf("error %q, want it to name the boot sector at 0x7e00 and say %q", err, tc.wantErr)
			}
		})
	}
	// Windows 10's large-cluster encoding: 0xF8 = 2^8 sectors per cluster.
	b := append([]byte(nil), good...)
	b[0x0D] = 0xF8
	binary.LittleEndian.PutUint64(b[0x28:], 1<<20)
	binary.LittleEndian.PutUint64(b[0x30:], 4)
	binary.LittleEndian.PutUint64(b[0x38:], 8)
	b[0x40], b[0x44] = 0xF6, 0xF4
	bs, err := parseBoot(b, 0, 1<<29)
	if err != nil || bs.clusterSize != 128<<10 || bs.recordSize != 1024 || bs.clusters() != 4096 {
		t.Errorf("sectors per cluster byte 0xF8: %+v, %v; want 128 KiB clusters, 4096 of them", bs, err)
	}
}
