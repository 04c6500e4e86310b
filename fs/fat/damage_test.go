package fat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// istatClusters returns the clusters The Sleuth Kit's istat lists for
// TSK address inode (its "Sectors:" list, turned into clusters).
func istatClusters(t *testing.T, img string, p *bpb, inode uint64) []uint32 {
	t.Helper()
	out := testutil.Run(t, "", "istat", img, strconv.FormatUint(inode, 10))
	_, list, ok := strings.Cut(out, "Sectors:\n")
	if !ok {
		t.Fatalf("istat %d: no sector list:\n%s", inode, out)
	}
	var cs []uint32
	for _, f := range strings.Fields(list) {
		s, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			break
		}
		off := s * p.bps
		if off < p.dataOff || (off-p.dataOff)%p.clusterSize != 0 {
			continue // not a cluster's first sector
		}
		cs = append(cs, uint32((off-p.dataOff)/p.clusterSize)+2)
	}
	return cs
}

// fsckFAT runs fsck.fat -n (check only, never write) on img and returns
// its output; its exit status says errors were found, which they are.
func fsckFAT(t *testing.T, img string) string {
	t.Helper()
	out, _ := exec.Command("fsck.fat", "-n", img).CombinedOutput()
	return string(out)
}

// TestDamage damages the fixtures the ways a FAT volume gets damaged and
// checks, for each, (1) the warnings, (2) that fsck.fat -n finds the same
// fault, (3) that the damaged file is mapped as far as the damage, its
// clusters those istat lists for it on the undamaged original, cut where
// the chain goes wrong, and (4) that every other object is mapped as on
// the undamaged original.
func TestDamage(t *testing.T) {
	testutil.NeedTools(t, "istat", "fsck.fat")
	type damage struct {
		name string
		img  string
		// do damages b; it returns the damaged paths and how many of
		// their clusters (in file order) stay mapped, -1 all.
		do    func(g fixtureGeom, b []byte) map[string]int
		warns []string // in our warnings
		fsck  []string // in fsck.fat -n's output
	}
	zeroFAT1 := func(g fixtureGeom, b []byte) map[string]int {
		p := g.w.f.p
		clear(b[p.fatOff : p.fatOff+p.fatLen])
		return nil
	}
	var cases []damage
	for _, img := range fixtures {
		cases = append(cases, damage{"first FAT zeroed", img, zeroFAT1,
			[]string{"FAT 1 at 0x", "first entry 0x0 is not a media descriptor (zeroed or overwritten); using FAT 2"},
			[]string{"FATs differ - using second FAT"}})
	}
	cases = append(cases,
		damage{"first FAT garbage in one entry", "fat16", func(g fixtureGeom, b []byte) map[string]int {
			// Cluster 4 of /frag/big points elsewhere in FAT 1 only:
			// both copies look intact, fsck.fat keeps the first.
			cs := g.clusters("/frag/big")
			p := g.w.f.p
			nfats := p.nfats
			p.nfats = 1
			g.setFAT(b, cs[3], 0xFFFF)
			p.nfats = nfats
			return map[string]int{"/frag/big": 4}
		}, []string{"FAT 2 at 0x", "differs from FAT 1 in 1 entries", "FAT 1 is used, as fsck.fat does", "shorter than its size 12000"},
			// 4 clusters of 512 bytes (mkfixtures.sh), as we cut it.
			[]string{"FATs differ but appear to be intact.\n  Using first FAT.", "/FRAG/BIG\n  File size is 12000 bytes, cluster chain length is 2048 bytes."}},
		damage{"a loop in a chain", "fat16", func(g fixtureGeom, b []byte) map[string]int {
			cs := g.clusters("/dir/sub/deeper/large.bin")
			g.setFAT(b, cs[9], cs[2])
			return map[string]int{"/dir/sub/deeper/large.bin": 10}
		}, []string{"file /dir/sub/deeper/large.bin", "the chain loops"},
			[]string{"/DIR/SUB/DEEPER/LARGE.BIN\n  Circular cluster chain. Truncating to 10 clusters."}},
		damage{"a loop in a FAT32 chain", "fat32", func(g fixtureGeom, b []byte) map[string]int {
			cs := g.clusters("/frag/big")
			g.setFAT(b, cs[5], cs[0])
			return map[string]int{"/frag/big": 6}
		}, []string{"file /frag/big", "the chain loops"},
			[]string{"/FRAG/BIG\n  Circular cluster chain. Truncating to 6 clusters."}},
		damage{"crossed chains", "fat16", func(g fixtureGeom, b []byte) map[string]int {
			// /A Long File Name.conf's second cluster becomes the
			// third of /dir/sub/deeper/large.bin: the root's file is
			// walked first, so large.bin, met later, is cut at its
			// third cluster; A Long File Name.conf has its first
			// and the shared one (its size needs 6 clusters).
			a := g.clusters("/A Long File Name.conf")
			l := g.clusters("/dir/sub/deeper/large.bin")
			g.setFAT(b, a[0], l[2])
			return map[string]int{"/A Long File Name.conf": -2, "/dir/sub/deeper/large.bin": 2}
		}, []string{"file /dir/sub/deeper/large.bin", "crossed chains"},
			// fsck.fat cuts the same file at the same place: 2
			// clusters of 512 bytes.
			[]string{"/A Long File Name.conf  and\n/DIR/SUB/DEEPER/LARGE.BIN\n  share clusters.\n  Truncating second to 1024 bytes."}},
	)
	for _, tc := range cases {
		t.Run(tc.img+"/"+strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			origImg, orig := fixtureFile(t, tc.img)
			g := fixtureGeom{t: t, w: walkBytes(t, orig)}
			p := g.w.f.p
			b := bytes.Clone(orig)
			hurt := tc.do(g, b)
			img := filepath.Join(t.TempDir(), "damaged.img")
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := fsckFAT(t, img)
			for _, s := range tc.fsck {
				if !strings.Contains(out, s) {
					t.Errorf("fsck.fat -n does not say %q:\n%s", s, out)
				}
			}
			w := walkBytes(t, b)
			var all strings.Builder
			for _, e := range w.warns {
				all.WriteString(e.Error() + "\n")
			}
			for _, s := range tc.warns {
				if !strings.Contains(all.String(), s) {
					t.Errorf("no warning with %q:\n%s", s, all.String())
				}
			}
			t.Logf("warnings:\n%sfsck.fat -n:\n%s", all.String(), out)
			got := map[string]fs.Entry{}
			for _, e := range w.entries {
				got[string(e.Kind)+e.Path] = e
			}
			for _, e := range g.w.entries {
				d, ok := got[string(e.Kind)+e.Path]
				if !ok {
					t.Errorf("%s: lost", e.Path)
					continue
				}
				keep, isHurt := hurt[e.Path]
				if !isHurt {
					if !slices.Equal(d.Extents, e.Extents) || d.Size != e.Size {
						t.Errorf("%s: %v, undamaged %v", e.Path, d.Extents, e.Extents)
					}
					continue
				}
				want := istatClusters(t, origImg, p, e.Inode)
				if keep >= 0 {
					want = want[:keep]
				} else {
					// -k: the first k-1 clusters of the original
					// and then whatever the damaged FAT leads to.
					want = want[:-keep-1]
				}
				gotCs := w.clusters(t, d)
				if keep < 0 {
					gotCs = gotCs[:min(len(gotCs), -keep-1)]
				}
				if !slices.Equal(gotCs, want) {
					t.Errorf("%s: clusters %v, want istat's on the original cut to %v", e.Path, gotCs, want)
				}
			}
		})
	}
}

// badRange fails every read that touches [from, to): a bad stretch of
// disk.
type badRange struct {
	r        *bytes.Reader
	from, to int64
}

func (f badRange) ReadAt(b []byte, off int64) (int, error) {
	if off < f.to && off+int64(len(b)) > f.from {
		return 0, errors.New("injected I/O error")
	}
	return f.r.ReadAt(b, off)
}

// TestUnreadableFAT: where the first FAT cannot be read, the second is
// (for the whole volume when its first entry is unreadable, else for the
// pages that are), with a warning; the walk is the undamaged one.
func TestUnreadableFAT(t *testing.T) {
	for _, img := range fixtures {
		t.Run(img, func(t *testing.T) {
			b := loadFixture(t, img)
			clean := walkBytes(t, b)
			p := clean.f.p
			for _, tc := range []struct {
				name     string
				from, to int64
				warn     string
			}{
				{"first sector", p.fatOff, p.fatOff + 512, "FAT 1 at 0x" + strconv.FormatInt(p.fatOff, 16) + ": unreadable: reading the FAT"},
				{"after the first entry", p.fatOff + 4, p.fatOff + p.fatLen, "the same bytes of another copy"},
			} {
				f, err := New(badRange{bytes.NewReader(b), tc.from, tc.to}, int64(len(b)))
				must(t, err)
				var warns []string
				f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
				var es []fs.Entry
				if err := f.Walk(func(e fs.Entry) error {
					e.Extents = slices.Clone(e.Extents)
					es = append(es, e)
					return nil
				}); err != nil {
					t.Fatalf("%s: Walk: %v", tc.name, err)
				}
				if !strings.Contains(strings.Join(warns, "\n"), tc.warn) {
					t.Errorf("%s: warnings %q, want %q", tc.name, warns, tc.warn)
				}
				if fmt.Sprint(es) != fmt.Sprint(clean.entries) {
					t.Errorf("%s: walk differs from the undamaged one", tc.name)
				}
			}
		})
	}
}
