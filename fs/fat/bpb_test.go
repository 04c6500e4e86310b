package fat

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestBPBVsFsstat: the geometry decoded from each fixture's boot sector
// against The Sleuth Kit's fsstat.
func TestBPBVsFsstat(t *testing.T) {
	testutil.NeedTools(t, "fsstat")
	re := regexp.MustCompile(`(?m)^\s*\*+ (Reserved|FAT 0|FAT 1|Root Directory|Cluster Area): (\d+) - (\d+)$`)
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img, b := fixtureFile(t, name)
			p, err := parseBPB(b[:512], int64(len(b)))
			must(t, err)
			out := testutil.Run(t, "", "fsstat", img)
			got := map[string][2]int64{
				"Reserved":     {0, p.reserved - 1},
				"FAT 0":        {p.fatOff / p.bps, (p.fatOff+p.fatLen)/p.bps - 1},
				"FAT 1":        {(p.fatOff + p.fatLen) / p.bps, (p.fatOff+2*p.fatLen)/p.bps - 1},
				"Cluster Area": {p.dataOff / p.bps, p.totalSectors - 1},
			}
			if p.variant != FAT32 {
				got["Root Directory"] = [2]int64{p.rootOff / p.bps, p.dataOff/p.bps - 1}
			}
			n := 0
			for _, m := range re.FindAllStringSubmatch(out, -1) {
				if m[1] == "Root Directory" && p.variant == FAT32 {
					continue // FAT32: the root's first cluster, not a region
				}
				a, _ := strconv.ParseInt(m[2], 10, 64)
				z, _ := strconv.ParseInt(m[3], 10, 64)
				if g := got[m[1]]; g != [2]int64{a, z} {
					t.Errorf("%s: sectors %v, fsstat %d - %d", m[1], g, a, z)
				}
				n++
			}
			if n != len(got) {
				t.Errorf("compared %d ranges, want %d:\n%s", n, len(got), out)
			}
			if !strings.Contains(out, "File System Type: "+p.variant.String()) {
				t.Errorf("variant %s; fsstat:\n%s", p.variant, out)
			}
			cr := regexp.MustCompile(`Total Cluster Range: 2 - (\d+)`).FindStringSubmatch(out)
			if cr == nil || cr[1] != strconv.Itoa(int(p.maxCluster)) {
				t.Errorf("last cluster %d, fsstat %v", p.maxCluster, cr)
			}
		})
	}
}

func TestParseBPBErrors(t *testing.T) {
	base := loadFixture(t, "fat16")[:512]
	put16 := func(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		size int64
		want string
	}{
		{"short", func(b []byte) {}, 100, "too small"},
		{"signature", func(b []byte) { b[511] = 0 }, 0, "boot signature"},
		{"bps 0", func(b []byte) { put16(b, 11, 0) }, 0, "bytes per sector 0"},
		{"bps 768", func(b []byte) { put16(b, 11, 768) }, 0, "bytes per sector 768"},
		{"bps 8192", func(b []byte) { put16(b, 11, 8192) }, 0, "bytes per sector 8192"},
		{"spc 0", func(b []byte) { b[13] = 0 }, 0, "sectors per cluster 0"},
		{"spc 3", func(b []byte) { b[13] = 3 }, 0, "sectors per cluster 3"},
		{"no reserved", func(b []byte) { put16(b, 14, 0) }, 0, "no reserved sector"},
		{"no FAT", func(b []byte) { b[16] = 0 }, 0, "0 FAT copies"},
		{"FAT size 0", func(b []byte) { put16(b, 22, 0); copy(b[36:40], []byte{0, 0, 0, 0}) }, 0, "FAT size 0"},
		{"no root entries", func(b []byte) { put16(b, 17, 0) }, 0, "without root directory entries"},
		{"no data area", func(b []byte) { put16(b, 19, 50) }, 0, "no data area"},
		{"beyond the device", func(b []byte) {}, 4 << 20 / 2, "but the device has"},
		{"total 0", func(b []byte) { put16(b, 19, 0); copy(b[32:36], []byte{0, 0, 0, 0}) }, 0, "total sectors 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(base)
			tc.edit(b)
			size := tc.size
			if size == 0 {
				size = 4 << 20
			}
			var err error
			if size < 512 {
				_, err = New(bytes.NewReader(b[:size]), size)
			} else {
				_, err = parseBPB(b, size)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "fat: boot sector at 0x") {
				t.Errorf("error %q does not say where", err)
			}
		})
	}
}
