package fat

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fixtureTree is what mkfixtures.sh puts in every fixture: path -> size
// (-1 for a directory).
func fixtureTree() map[string]int64 {
	m := map[string]int64{
		"/": -1, "/dir": -1, "/dir/sub": -1, "/dir/sub/deeper": -1, "/many": -1, "/frag": -1,
		"/case1": -1, "/case2": -1, "/case3": -1,
		"/hello.txt":                6,
		"/A Long File Name.conf":    3000,
		"/empty":                    0,
		"/dir/sub/deeper/large.bin": 20000,
		"/dir/café-日本-😀.txt":        6,
		"/case1/readme.txt":         6,
		"/case2/README.TXT":         6,
		"/case3/ReadMe.txt":         6,
		"/case3/notes.TXT":          6,
		"/frag/big":                 12000,
	}
	for i := 1; i <= 40; i++ {
		m[fmt.Sprintf("/many/many-file-with-a-long-name-%02d", i)] = int64(i * 37)
	}
	for i := 2; i <= 16; i += 2 {
		m[fmt.Sprintf("/frag/p%02d", i)] = 1024
	}
	return m
}

// TestWalkFixtures: every name of the tree, with its kind and size, and
// nothing else; every file's and directory's clusters as mtools'
// mshowfat lists them; no cluster owned twice; no warning.
func TestWalkFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img, b := fixtureFile(t, name)
			w := walkBytes(t, b)
			for _, err := range w.warns {
				t.Errorf("warning: %v", err)
			}
			want := fixtureTree()
			owner := map[uint32]string{}
			for _, e := range w.entries {
				if e.Kind == bmap.KindMeta {
					continue
				}
				size, ok := want[e.Path]
				if !ok {
					t.Errorf("%s %q: not in the fixture's tree", e.Kind, e.Path)
					continue
				}
				delete(want, e.Path)
				if (size < 0) != (e.Kind == bmap.KindDir) {
					t.Errorf("%q: kind %s, want directory=%v", e.Path, e.Kind, size < 0)
				}
				if size >= 0 && e.Size != size {
					t.Errorf("%q: size %d, want %d", e.Path, e.Size, size)
				}
				if e.Path == "/" && w.f.p.variant != FAT32 {
					if len(e.Extents) != 1 || e.Extents[0].Off != w.f.p.rootOff || e.Extents[0].Len != w.f.p.rootLen {
						t.Errorf("root directory: %+v, want the fixed region", e.Extents)
					}
					continue
				}
				got := w.clusters(t, e)
				for _, c := range got {
					if o, dup := owner[c]; dup {
						t.Errorf("cluster %d in %q and %q", c, o, e.Path)
					}
					owner[c] = e.Path
				}
				if e.Kind == bmap.KindDir && e.Size != int64(len(got))*w.f.p.clusterSize {
					t.Errorf("directory %q: size %d, its chain has %d clusters", e.Path, e.Size, len(got))
				}
				if strings.ContainsRune(e.Path, '😀') {
					continue // mtools 4.0.32 cannot look up names outside the BMP
				}
				mp := e.Path
				if mp == "/" {
					mp = "/."
				}
				if wantCs := mshowfat(t, img, mp); !slices.Equal(got, wantCs) {
					t.Errorf("%q: clusters %v, mshowfat %v", e.Path, got, wantCs)
				}
			}
			for p := range want {
				t.Errorf("%q: in the fixture's tree, not walked", p)
			}
			// metadata: the names, in the places the boot sector gives
			// (checked against fsstat by TestBPBVsFsstat)
			p := w.f.p
			wantMeta := map[string][2]int64{
				"boot sector": {0, p.bps},
				"FAT 1":       {p.fatOff, p.fatLen},
				"FAT 2":       {p.fatOff + p.fatLen, p.fatLen},
			}
			if p.variant == FAT32 {
				wantMeta["fsinfo"] = [2]int64{p.bps, p.bps}
				wantMeta["backup boot sector"] = [2]int64{6 * p.bps, p.bps}
				wantMeta["backup fsinfo"] = [2]int64{7 * p.bps, p.bps}
			} else {
				wantMeta["root directory"] = [2]int64{p.rootOff, p.rootLen}
			}
			for n, r := range wantMeta {
				e, ok := w.meta(n)
				if !ok || len(e.Extents) != 1 || e.Extents[0].Off != r[0] || e.Extents[0].Len != r[1] || e.Extents[0].Role != bmap.RoleMeta {
					t.Errorf("metadata %q: %+v, want [%#x,+%#x)", n, e, r[0], r[1])
				}
			}
			// the shapes the fixtures were built for
			if n := len(w.byPath(t, "/frag/big").Extents); n < 3 {
				t.Errorf("/frag/big: %d extents, want a fragmented file", n)
			}
			if c := w.clusters(t, w.byPath(t, "/many")); len(c) < 3 {
				t.Errorf("/many: %d clusters, want a directory of several", len(c))
			}
		})
	}
}

// TestInfoVsBlkid: label and UUID as blkid -p prints them.
func TestInfoVsBlkid(t *testing.T) {
	testutil.NeedTools(t, "blkid")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img, b := fixtureFile(t, name)
			out := testutil.Run(t, "", "blkid", "-p", "-o", "export", img)
			want := map[string]string{}
			for _, l := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					want[k] = v
				}
			}
			w := walkBytes(t, b)
			info := w.f.Info()
			if info.Type != want["TYPE"] || info.Label != want["LABEL"] || info.UUID != want["UUID"] {
				t.Errorf("Info %+v; blkid TYPE=%s LABEL=%s UUID=%s", info, want["TYPE"], want["LABEL"], want["UUID"])
			}
			if want["VERSION"] != w.f.Variant().String() {
				t.Errorf("variant %s, blkid VERSION=%s", w.f.Variant(), want["VERSION"])
			}
			if info.BlockSize != 512 || info.Size != int64(len(b)) {
				t.Errorf("Info %+v: want 512-byte clusters and the image's %d bytes", info, len(b))
			}
		})
	}
}
