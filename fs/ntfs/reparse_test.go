package ntfs

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// TestReparsePoints: the junction /dir/up (to its own parent, /dir) and
// the directory symbolic link /slink (to /dir) of the small fixture are
// each listed once, as directories of their own; the walk does not go
// through them (no path under them, no path twice, no warning), and
// their record is mapped where $MFT's data puts it, a record that holds
// the $REPARSE_POINT with the expected tag.
func TestReparsePoints(t *testing.T) {
	b := fixture(t, "small")
	es, warns, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	seen := map[string]int{}
	for _, e := range es {
		seen[e.Path]++
	}
	for p, n := range seen {
		if n > 1 {
			t.Errorf("%s reported %d times", p, n)
		}
	}
	m := byPath(es)
	// Where record N lies, from $MFT's own data extents.
	recordAt := func(n uint64) int64 {
		for _, x := range m["$MFT"].Extents {
			if fo := int64(n) * 1024; x.Role == bmap.RoleData && x.FileOff <= fo && fo < x.FileOff+x.Len {
				return x.Off + fo - x.FileOff
			}
		}
		return -1
	}
	for _, tc := range []struct {
		path, target string
		tag          uint32
	}{
		{"/dir/up", "/dir", 0xA0000003},
		{"/slink", "/dir", 0xA000000C},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			e, ok := m[tc.path]
			if !ok {
				t.Fatalf("%s not reported", tc.path)
			}
			if e.Kind != bmap.KindDir || e.Inode < firstUserRecord {
				t.Errorf("%s: kind %v record %d, want a directory of its own", tc.path, e.Kind, e.Inode)
			}
			if e.Inode == m[tc.target].Inode {
				t.Errorf("%s: record %d, the record of its target %s", tc.path, e.Inode, tc.target)
			}
			for _, x := range es {
				if strings.HasPrefix(x.Path, tc.path+"/") || strings.HasPrefix(x.Path, tc.path+":") {
					t.Errorf("%s: reported under the reparse point", x.Path)
				}
			}
			var recs []bmap.Extent
			for _, x := range e.Extents {
				if x.Role == bmap.RoleRecord {
					recs = append(recs, x)
				} else {
					t.Errorf("%s: extent %+v: want only its record (the $REPARSE_POINT and the empty index are resident)", tc.path, x)
				}
			}
			if want := recordAt(e.Inode); len(recs) != 1 || recs[0].Off != want || recs[0].Len != 1024 {
				t.Fatalf("%s: record extents %+v, want record %d at %#x", tc.path, recs, e.Inode, want)
			}
			buf := append([]byte(nil), b[recs[0].Off:recs[0].End()]...)
			var r record
			if err := parseRecord(buf, &r); err != nil {
				t.Fatalf("%s: record at %#x: %v", tc.path, recs[0].Off, err)
			}
			var tag uint32
			if err := parseAttrs(&r, func(a *attr) error {
				if a.typ == 0xC0 && a.resident && a.valueLen >= 8 {
					tag = binary.LittleEndian.Uint32(a.value(&r))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tag != tc.tag {
				t.Errorf("%s: record at %#x has reparse tag %#x, want %#x", tc.path, recs[0].Off, tag, tc.tag)
			}
		})
	}
	// The targets are still listed, with their contents, once.
	if _, ok := m["/dir/file-with-a-long-name-1"]; !ok {
		t.Error("/dir/file-with-a-long-name-1 not reported")
	}
}
