package fat

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestFSInfo decodes the FAT32 fixture's FSInfo and its backup, and
// compares the next-free hint with fsstat's "Next Free Sector (FS Info)".
func TestFSInfo(t *testing.T) {
	img, b := fixtureFile(t, "fat32")
	p, err := parseBPB(b[:512], int64(len(b)))
	must(t, err)
	if p.fsinfo != 1 || p.backupBoot != 6 {
		t.Fatalf("fsinfo sector %d, backup boot sector %d; mkfs.fat writes 1 and 6", p.fsinfo, p.backupBoot)
	}
	fi, err := parseFSInfo(b[p.fsinfo*p.bps:])
	must(t, err)
	if _, err := parseFSInfo(b[(p.backupBoot+p.fsinfo)*p.bps:]); err != nil {
		t.Errorf("backup fsinfo: %v", err)
	}
	testutil.NeedTools(t, "fsstat")
	out := testutil.Run(t, "", "fsstat", img)
	if fi.nextFree != 0xFFFFFFFF {
		// fsstat gives the hint as a sector
		want := "Next Free Sector (FS Info): " + itoa(p.clusterOff(fi.nextFree)/p.bps)
		if !strings.Contains(out, want) {
			t.Errorf("next free cluster %d; fsstat has no %q:\n%s", fi.nextFree, want, out)
		}
	}
	bad := bytes.Clone(b[512:1024])
	bad[484] ^= 1
	if _, err := parseFSInfo(bad); err == nil || !strings.Contains(err.Error(), "+484") {
		t.Errorf("bad structure signature: %v", err)
	}
	if _, err := parseFSInfo(bad[:100]); err == nil {
		t.Error("short sector accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
