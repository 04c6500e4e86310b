package ntfs

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// recordAt returns the disk offset of MFT record n of a clean walk,
// through $MFT's data extents (checked against istat's run list of $MFT
// by the integration test).
func recordAt(t *testing.T, es []fs.Entry, n int64) int64 {
	t.Helper()
	const rs = 1024
	for _, e := range es {
		if e.Path != "$MFT" {
			continue
		}
		for _, x := range e.Extents {
			if x.Role == bmap.RoleData && x.FileOff <= n*rs && n*rs+rs <= x.FileOff+x.Len {
				return x.Off + n*rs - x.FileOff
			}
		}
	}
	t.Fatalf("record %d not in $MFT's data", n)
	return 0
}

// TestDamage damages the small fixture the ways a disk in trouble is
// damaged, $MFTMirr and the backup boot sector intact, and checks that
// the walk warns as it should and maps everything else exactly as on the
// clean volume (whose walk TestWalkAgainstIstat checks against The
// Sleuth Kit): every entry but the lost ones, with the same kind,
// record, size and extents; nothing more.
func TestDamage(t *testing.T) {
	clean := fixture(t, "small")
	ces, cwarns, err := walkAll(t, clean)
	if err != nil || len(cwarns) > 0 {
		t.Fatalf("clean walk: %v, warnings %v", err, cwarns)
	}
	rec := func(n int64) int64 { return recordAt(t, ces, n) }
	// Where $MFTMirr is, from fsstat.
	testutil.NeedTools(t, "fsstat")
	img := filepath.Join(t.TempDir(), "small.img")
	if err := os.WriteFile(img, clean, 0o644); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`First Cluster of MFT Mirror: (\d+)`).FindStringSubmatch(testutil.Run(t, "", "fsstat", img))
	if m == nil {
		t.Fatal("fsstat: no MFT mirror cluster")
	}
	mirror, _ := strconv.ParseInt(m[1], 10, 64)
	mirror *= 1024
	garbage := func(b []byte, off, n int64) {
		r := rand.New(rand.NewPCG(uint64(off), 1))
		for i := off; i < off+n; i++ {
			b[i] = byte(r.Uint32())
		}
	}
	badFixup := func(b []byte, n int64) { b[rec(n)+1022] ^= 0x55 }
	under := func(prefix string) func(string) bool {
		return func(p string) bool {
			return p == prefix || strings.HasPrefix(p, prefix+"/") || strings.HasPrefix(p, prefix+":")
		}
	}
	none := func(string) bool { return false }
	var dirIndex int64 // /dir's first index record
	for _, e := range ces {
		for _, x := range e.Extents {
			if e.Path == "/dir" && x.Role == bmap.RoleData && x.FileOff == 0 {
				dirIndex = x.Off
			}
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(b []byte)
		warns  []string          // each must be in a warning
		lost   func(string) bool // entries that are gone
		err    string            // New fails with this instead
	}{
		{"boot sector zeroed", func(b []byte) { clear(b[:512]) },
			[]string{"boot sector at 0x0: OEM id", fmt.Sprintf("using the backup boot sector at %#x", len(clean)-512)}, none, ""},
		{"boot sector garbage", func(b []byte) { garbage(b, 0, 512) },
			[]string{"using the backup boot sector"}, none, ""},
		{"MFT record 0 garbage", func(b []byte) { garbage(b, rec(0), 1024) },
			[]string{"MFT record 0 ($MFT) at 0x4000: magic", fmt.Sprintf("using $MFTMirr's copy at %#x", mirror)}, none, ""},
		{"MFT record 0 bad fixup", func(b []byte) { badFixup(b, 0) },
			[]string{"MFT record 0 ($MFT) at 0x4000: bad fixup", "using $MFTMirr's copy"}, none, ""},
		{"MFT runs broken", func(b []byte) {
			a := int64(attrOffset(t, b, rec(0), atData))
			ro := a + int64(binary.LittleEndian.Uint16(b[rec(0)+a+0x20:]))
			h := b[rec(0)+ro]
			setRecordByte(b, rec(0), ro+int64(h&0xf)+int64(h>>4), 0x70) // LCN past the volume
		}, []string{"MFT record 0 ($MFT) at 0x4000: $DATA runs put VCN 0 at cluster", "using $MFTMirr's copy"}, none, ""},
		{"records 0-3 bad fixups", func(b []byte) {
			for n := int64(0); n < 4; n++ {
				badFixup(b, n)
			}
		}, []string{"MFT record 0 ($MFT) at 0x4000: bad fixup", "MFT record 1 ($MFTMirr) at 0x4400: bad fixup",
			"MFT record 2 ($LogFile) at 0x4800: bad fixup", fmt.Sprintf("MFT record 3 ($Volume) at 0x4c00: bad fixup: sector 1 ends in 0x0057, update sequence number is 0x0002; using $MFTMirr's copy at %#x", mirror+3*1024)}, none, ""},
		{"boot sector and record 0", func(b []byte) { clear(b[:512]); garbage(b, rec(0), 1024) },
			[]string{"using the backup boot sector", "using $MFTMirr's copy"}, none, ""},
		{"file record bad fixup", func(b []byte) { badFixup(b, 106) },
			[]string{fmt.Sprintf("MFT record 106 (/tiny) at %#x: bad fixup", rec(106))}, under("/tiny"), ""},
		{"file record garbage", func(b []byte) { garbage(b, rec(65), 1024) },
			[]string{fmt.Sprintf("MFT record 65 (/dir/file-with-a-long-name-1) at %#x: magic", rec(65))}, under("/dir/file-with-a-long-name-1"), ""},
		{"system file record garbage", func(b []byte) { garbage(b, rec(9), 1024) },
			[]string{fmt.Sprintf("MFT record 9 ($Secure) at %#x: magic", rec(9))}, under("$Secure"), ""},
		{"directory record garbage", func(b []byte) { garbage(b, rec(64), 1024) },
			[]string{fmt.Sprintf("MFT record 64 (/dir) at %#x: magic", rec(64)), "not reachable from the root directory (orphans)"}, under("/dir"), ""},
		// The root's record lost: everything below it comes back
		// under /$OrphanFiles; the system files are read by number.
		{"root record garbage", func(b []byte) { garbage(b, rec(5), 1024) },
			[]string{fmt.Sprintf("MFT record 5 (the root directory /) at %#x: magic", rec(5)), "what it holds is mapped under /$OrphanFiles"},
			func(p string) bool { return strings.HasPrefix(p, "/") }, ""},
		// Some of /dir's names are in the index record: those files
		// come back as orphans; the others stay where they were.
		{"directory index record garbage", func(b []byte) { garbage(b, dirIndex, 4096) },
			[]string{fmt.Sprintf("MFT record 64 (/dir) at %#x: index record 0: magic", dirIndex), "not reachable from the root directory (orphans)"},
			func(p string) bool { return strings.HasPrefix(p, "/dir/") }, ""},
		{"record 0 and its mirror", func(b []byte) { garbage(b, rec(0), 1024); garbage(b, mirror, 1024) },
			nil, nil, "$MFTMirr's copy"},
		{"boot sector and its backup", func(b []byte) { clear(b[:512]); clear(b[len(b)-512:]) },
			nil, nil, "OEM id"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			b := slices.Clone(clean)
			tc.damage(b)
			type result struct {
				es    []fs.Entry
				warns []error
				err   error
			}
			done := make(chan result, 1)
			go func() {
				es, warns, err := walkAll(t, b)
				done <- result{es, warns, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("hang: no result after 20 s")
			}
			if tc.err != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", r.err, tc.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("Walk: %v", r.err)
			}
			var all strings.Builder
			for _, w := range r.warns {
				fmt.Fprintln(&all, w)
			}
			for _, w := range tc.warns {
				if !strings.Contains(all.String(), w) {
					t.Errorf("no warning containing %q; got:\n%s", w, all.String())
				}
			}
			if len(r.warns) > 10 {
				t.Errorf("%d warnings for one damage:\n%s", len(r.warns), all.String())
			}
			got := byPath(r.es)
			lost := 0
			for _, e := range ces {
				g, ok := got[e.Path]
				switch {
				case tc.lost(e.Path) && (!ok || !strings.HasPrefix(tc.name, "directory index")):
					lost++
					if ok {
						t.Errorf("%s: mapped, want it lost", e.Path)
					}
				case !ok:
					t.Errorf("%s: lost", e.Path)
				case g.Kind != e.Kind || g.Inode != e.Inode || g.Size != e.Size || !slices.Equal(g.Extents, e.Extents):
					t.Errorf("%s: %c record %d size %d %v; clean: %c %d %d %v", e.Path, g.Kind, g.Inode, g.Size, g.Extents, e.Kind, e.Inode, e.Size, e.Extents)
				}
				delete(got, e.Path)
			}
			// What an index no longer names is mapped under
			// /$OrphanFiles, as the clean volume maps it.
			lostByInode := map[uint64]fs.Entry{}
			for _, e := range ces {
				if tc.lost(e.Path) && !strings.Contains(e.Path, ":") {
					lostByInode[e.Inode] = e
				}
			}
			orphans := 0
			for p, g := range got {
				e, ok := lostByInode[g.Inode]
				switch {
				case !strings.HasPrefix(p, orphanDir+"/"):
					t.Errorf("%s: mapped, not on the clean volume", p)
				case strings.Contains(p, ":"):
				case !ok:
					t.Errorf("%s (record %d): an orphan that was not lost", p, g.Inode)
				case g.Kind != e.Kind || !slices.Equal(g.Extents, e.Extents):
					t.Errorf("%s: %c %v; clean %s: %c %v", p, g.Kind, g.Extents, e.Path, e.Kind, e.Extents)
				default:
					orphans++
				}
			}
			if (tc.lost("/dir") || strings.HasPrefix(tc.name, "directory index")) && orphans < 10 {
				t.Errorf("only %d lost files mapped as orphans", orphans)
			}
			if tc.lost("/dir") && lost < 40 || strings.HasPrefix(tc.name, "directory index") && lost < 10 {
				t.Errorf("only %d entries lost", lost)
			}
		})
	}
}

// TestDamageScript runs testimages/ntfs-damage.sh (which places the damage
// with The Sleuth Kit's fsstat, fls and istat) on the small fixture and
// checks each image does what its MANIFEST line says a reader should.
func TestDamageScript(t *testing.T) {
	testutil.NeedTools(t, "bash", "fsstat", "fls", "istat", "dd", "od")
	clean := fixture(t, "small")
	dir := t.TempDir()
	vol := filepath.Join(dir, "small.img")
	if err := os.WriteFile(vol, clean, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	testutil.Run(t, "", "bash", filepath.Join("..", "..", "testimages", "ntfs-damage.sh"), vol, out)
	ces, _, err := walkAll(t, clean)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(out, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(manifest)), "\n")
	if len(lines) != 8 {
		t.Fatalf("MANIFEST has %d lines, want 8:\n%s", len(lines), manifest)
	}
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "\t")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(out, name+".img"))
			if err != nil {
				t.Fatal(err)
			}
			es, warns, err := walkAll(t, b)
			switch name {
			case "boot-and-backup", "mft0-and-mirror":
				if err == nil {
					t.Fatalf("walked; want an error")
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("%v", err)
			}
			var all strings.Builder
			for _, w := range warns {
				fmt.Fprintln(&all, w)
			}
			want := map[string]string{
				"boot-zeroed": "using the backup boot sector", "mft0-garbage": "using $MFTMirr's copy",
				"mft0-3-fixups": "MFT record 3 ($Volume)", "file-fixup": "bad fixup",
				"dir-record": "(orphans)", "index-record": "(orphans)",
			}[name]
			if !strings.Contains(all.String(), want) {
				t.Errorf("no warning with %q:\n%s", want, all.String())
			}
			got := byPath(es)
			missing := 0
			for _, e := range ces {
				if g, ok := got[e.Path]; !ok {
					missing++
				} else if !slices.Equal(g.Extents, e.Extents) {
					t.Errorf("%s: extents differ from the clean volume's", e.Path)
				}
			}
			switch name {
			case "boot-zeroed", "mft0-garbage", "mft0-3-fixups":
				if missing > 0 || len(es) != len(ces) {
					t.Errorf("%d of %d entries lost, %d entries: want the clean walk", missing, len(ces), len(es))
				}
			case "file-fixup":
				if missing == 0 || missing > 3 {
					t.Errorf("%d entries lost, want one file's (its names and streams)", missing)
				}
			default:
				orphans := 0
				for _, e := range es {
					if strings.HasPrefix(e.Path, orphanDir+"/") {
						orphans++
					}
				}
				if orphans == 0 {
					t.Errorf("no orphan mapped; %d entries lost", missing)
				}
			}
		})
	}
}
