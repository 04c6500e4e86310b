package ntfs

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

var reIstatAttr = regexp.MustCompile(`^Type: \S+ \((\d+)-\d+\)\s+Name: (.*?)\s+(Resident|Non-Resident)`)

// istatClusters runs The Sleuth Kit's istat on record n and returns the
// non-resident clusters of each stream ("" the file itself), sparse ones
// (printed 0) dropped.
func istatClusters(t *testing.T, img string, n uint64) map[string][]int64 {
	out := testutil.Run(t, "", "istat", img, strconv.FormatUint(n, 10))
	res := map[string][]int64{}
	cur, in := "", false
	for line := range strings.SplitSeq(out, "\n") {
		if m := reIstatAttr.FindStringSubmatch(line); m != nil {
			name := m[2]
			if name == "N/A" {
				name = ""
			}
			typ, _ := strconv.Atoi(m[1])
			fa := fileAttr{typ: uint32(typ), name: name}
			cur, in = streamName(&fa), m[3] == "Non-Resident"
			continue
		}
		if !in {
			continue
		}
		for _, f := range strings.Fields(line) {
			c, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				in = false
				break
			}
			if c != 0 || n == 7 {
				res[cur] = append(res[cur], c)
			}
		}
	}
	return res
}

// TestWalkAgainstIstat walks each fixture and compares the clusters of
// every object with what The Sleuth Kit's istat lists for the same record
// and stream. Clusters past a stream's data size may be ours alone: istat
// stops there (see the integration test, which also asks ntfscluster).
func TestWalkAgainstIstat(t *testing.T) {
	testutil.NeedTools(t, "istat")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			img := filepath.Join(t.TempDir(), name+".img")
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			es, warns, err := walkAll(t, b)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warns {
				t.Errorf("warning: %v", w)
			}
			f, _ := New(bytes.NewReader(b), int64(len(b)))
			cs := f.boot.clusterSize
			istat := map[uint64]map[string][]int64{}
			checked := 0
			for _, e := range es {
				if !isRecord(e) {
					continue
				}
				_, stream, _ := strings.Cut(e.Path, ":")
				if istat[e.Inode] == nil {
					istat[e.Inode] = istatClusters(t, img, e.Inode)
				}
				want := slices.Clone(istat[e.Inode][stream])
				var got []int64
				tail := map[int64]bool{}
				for _, x := range e.Extents {
					if x.Role != bmap.RoleData && x.Role != bmap.RoleMeta {
						continue
					}
					for c := x.Off / cs; c < x.End()/cs; c++ {
						got = append(got, c)
						if x.Role == bmap.RoleData && x.FileOff+(c-x.Off/cs)*cs >= (e.Size+cs-1)/cs*cs {
							tail[c] = true
						}
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				got = slices.DeleteFunc(got, func(c int64) bool { return tail[c] && !slices.Contains(want, c) })
				if !slices.Equal(got, want) {
					t.Errorf("%s (record %d): clusters %v, istat %v", e.Path, e.Inode, short(got), short(want))
				}
				checked++
			}
			if checked < 20 {
				t.Errorf("only %d objects checked", checked)
			}
		})
	}
}

func short(s []int64) []int64 {
	if len(s) > 12 {
		return append(slices.Clone(s[:12]), -1)
	}
	return s
}

// TestWalkShapes checks the shapes each fixture was built to have.
func TestWalkShapes(t *testing.T) {
	b := fixture(t, "small")
	es, _, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(es)
	count := func(e fs.Entry, r bmap.Role) int {
		n := 0
		for _, x := range e.Extents {
			if x.Role == r {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		path string
		ok   func(e fs.Entry) bool
		what string
	}{
		{"boot sector", func(e fs.Entry) bool {
			return e.Kind == bmap.KindMeta && e.Extents[0] == bmap.Extent{Off: 0, Len: 512, FileOff: -1, Role: bmap.RoleMeta}
		}, "the first sector"},
		{"backup boot sector", func(e fs.Entry) bool { return e.Extents[0].Off == 4095*512 }, "the last sector"},
		{"/", func(e fs.Entry) bool { return e.Kind == bmap.KindDir && e.Inode == 5 }, "the root"},
		{"$MFT", func(e fs.Entry) bool {
			return e.Kind == bmap.KindMeta && e.Inode == 0 && count(e, bmap.RoleData) > 0 && count(e, bmap.RoleRecord) == 1
		}, "metadata: $MFT's data and record"},
		{"$Extend", func(e fs.Entry) bool { return e.Kind == bmap.KindMeta && e.Inode == 11 }, "metadata: the directory $Extend"},
		{"$Extend/$Quota:$Q", func(e fs.Entry) bool { return e.Kind == bmap.KindMeta }, "metadata: a named index stream"},
		{"$BadClus:$Bad", func(e fs.Entry) bool { return e.Kind == bmap.KindMeta && len(e.Extents) == 0 && e.Size > 0 }, "metadata: a sparse stream of the volume's size"},
		{"/dir", func(e fs.Entry) bool { return e.Kind == bmap.KindDir && count(e, bmap.RoleData) > 0 }, "$INDEX_ALLOCATION"},
		{"/tiny", func(e fs.Entry) bool {
			return count(e, bmap.RoleInline) == 1 && e.Extents[1].Len == 5 && e.Extents[1].Off > e.Extents[0].Off && e.Extents[1].End() <= e.Extents[0].End()
		}, "resident data inside its record"},
		{"/tiny:s", func(e fs.Entry) bool {
			return e.Size == 3000 && count(e, bmap.RoleData) == 1 && count(e, bmap.RoleRecord) == 0
		}, "a named stream"},
		{"/dir/big-link", func(e fs.Entry) bool { return e.Inode == m["/big"].Inode && slices.Equal(e.Extents, m["/big"].Extents) }, "a hard link"},
		{"/sparse", func(e fs.Entry) bool { return count(e, bmap.RoleData) == 1 && e.Extents[1].FileOff == 100000/1024*1024 }, "data after a hole"},
		{"/frag", func(e fs.Entry) bool { return count(e, bmap.RoleRecord) > 1 && count(e, bmap.RoleData) > 200 }, "extension records"},
		{"/ünï", func(e fs.Entry) bool { return e.Size == 10 }, "a non-ASCII name"},
	} {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			e, ok := m[tc.path]
			if !ok {
				t.Fatalf("%s not reported", tc.path)
			}
			if !tc.ok(e) {
				t.Errorf("%s: want %s; got %+v", tc.path, tc.what, e)
			}
		})
	}
	for _, e := range es {
		if strings.Contains(e.Path, "~") {
			t.Errorf("%s: a DOS 8.3 name reported", e.Path)
		}
	}
}

func TestInfo(t *testing.T) {
	for _, tc := range []struct {
		name, label, uuid string
		bs                int64
	}{
		{"small", "small", "1122334455667788", 1024},
		{"small4k", "small4k", "99AABBCCDDEEFF00", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture(t, tc.name)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			want := fs.Info{Type: "ntfs", Label: tc.label, UUID: tc.uuid, BlockSize: tc.bs, Size: int64(len(b)) - 512}
			if got := f.Info(); got != want {
				t.Errorf("Info() = %+v, want %+v", got, want)
			}
		})
	}
}

// TestCompressedUnits: a compressed stream's clusters are mapped at VCN ×
// cluster size, the unused part of each unit being a hole.
func TestCompressedUnits(t *testing.T) {
	es, _, err := walkAll(t, fixture(t, "small4k"))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := byPath(es)["/c/text"]
	if !ok {
		t.Fatal("/c/text not reported")
	}
	var data []bmap.Extent
	for _, x := range e.Extents {
		if x.Role == bmap.RoleData {
			data = append(data, x)
		}
	}
	if len(data) < 2 {
		t.Fatalf("compressed file: %d data extents, want one per unit: %+v", len(data), data)
	}
	short := 0
	for _, x := range data {
		if x.FileOff%(16*4096) != 0 || x.Len > 16*4096 {
			t.Errorf("extent %+v: want a unit's clusters at the unit's start", x)
		}
		if x.Len < 16*4096 {
			short++
		}
	}
	if short == 0 {
		t.Errorf("no compressed unit (shorter than 16 clusters) in %+v", data)
	}
}
