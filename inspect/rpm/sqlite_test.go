package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

func TestVarint(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		v    uint64
		n    int
		name string
	}{
		{[]byte{0x05}, 5, 1, "one byte"},
		{[]byte{0x81, 0x00}, 128, 2, "two bytes"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ^uint64(0), 9, "nine bytes"},
		{[]byte{0x81}, 0, 0, "truncated"},
		{nil, 0, 0, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, n := varint(tc.in)
			if v != tc.v || n != tc.n {
				t.Errorf("varint(% x) = %d, %d; want %d, %d", tc.in, v, n, tc.v, tc.n)
			}
		})
	}
}

// pages walks the Packages table of db and returns its B-tree pages and
// its overflow pages, in walk order.
func pages(t *testing.T, b []byte) (root uint32, tree, overflow []uint32) {
	t.Helper()
	d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err = d.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	d.onPage = func(n uint32, of bool) {
		if of {
			overflow = append(overflow, n)
		} else {
			tree = append(tree, n)
		}
	}
	if err := d.walkTable(root, func(int64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return root, tree, overflow
}

// TestCorrupt damages the fixture in the ways the reader must refuse: an
// error from Installed (or a warning for one damaged row), never a panic
// or a hang.
func TestCorrupt(t *testing.T) {
	good := testDB(t)
	const ps = 4096
	root, tree, overflow := pages(t, good)
	if len(overflow) < 2 || len(tree) < 3 {
		t.Fatalf("fixture too small: %d tree pages, %d overflow pages", len(tree), len(overflow))
	}
	off := func(n uint32) int { return int(n-1) * ps }
	put32 := func(b []byte, at int, v uint32) { binary.BigEndian.PutUint32(b[at:], v) }
	for _, tc := range []struct {
		name  string
		mut   func(b []byte) []byte
		fatal bool // Installed fails; else a row is skipped with a warning
	}{
		{"empty", func(b []byte) []byte { return nil }, true},
		{"truncated header", func(b []byte) []byte { return b[:50] }, true},
		{"truncated to 3 pages", func(b []byte) []byte { return b[:3*ps] }, true},
		{"truncated by half", func(b []byte) []byte { return b[:len(b)/2] }, true},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, true},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, true},
		{"page size 0", func(b []byte) []byte { b[16], b[17] = 0, 0; return b }, true},
		{"page size odd", func(b []byte) []byte { b[16], b[17] = 0x03, 0x00; return b }, true},
		{"page size 256", func(b []byte) []byte { b[16], b[17] = 0x01, 0x00; return b }, true},
		{"all reserved", func(b []byte) []byte { b[20] = 255; return b }, true},
		{"bad encoding", func(b []byte) []byte { b[59] = 9; return b }, true},
		{"schema page type", func(b []byte) []byte { b[100] = 0x07; return b }, true},
		{"no Packages", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("tablePackagesPackages"), []byte("tableXackagesPackages"))
		}, true},
		{"B-tree loops to root", func(b []byte) []byte { put32(b, off(root)+8, root); return b }, true},
		{"child out of file", func(b []byte) []byte { put32(b, off(root)+8, 1<<30); return b }, true},
		{"root cell count", func(b []byte) []byte { b[off(root)+3], b[off(root)+4] = 0xff, 0xff; return b }, true},
		{"root cell pointer", func(b []byte) []byte { b[off(root)+12], b[off(root)+13] = 0xff, 0xf0; return b }, true},
		{"leaf page type", func(b []byte) []byte { b[off(tree[1])] = 0x0a; return b }, true},
		{"overflow loops", func(b []byte) []byte { put32(b, off(overflow[1]), overflow[0]); return b }, true},
		{"overflow chain ends", func(b []byte) []byte { put32(b, off(overflow[0]), 0); return b }, true},
		{"overflow out of file", func(b []byte) []byte { put32(b, off(overflow[0]), 1<<30); return b }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mut(bytes.Clone(good))
			var warns int
			apps, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: b}}, func(error) { warns++ })
			if tc.fatal && err == nil {
				t.Fatalf("no error; %d apps, %d warnings", len(apps), warns)
			}
			if err != nil {
				var fe *diskerr.FormatError
				if !errors.As(err, &fe) && !errors.Is(err, errNoTable) {
					t.Logf("error not a FormatError: %v", err)
				}
				t.Log(err)
			}
			if apps == nil {
				t.Error("nil apps")
			}
		})
	}
}

func TestLeafCellHugePayload(t *testing.T) {
	b := testDB(t)
	d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cell []byte
	}{
		{"over MaxBlob", append([]byte{0x84, 0x80, 0x80, 0x80, 0x00, 0x01}, make([]byte, 100)...)},   // 2^30
		{"over the file", append([]byte{0x81, 0x80, 0x80, 0x80, 0x00, 0x01}, make([]byte, 4000)...)}, // 32 MiB
		{"truncated size", []byte{0x81}},
		{"truncated rowid", []byte{0x05, 0x81}},
		{"local past page", []byte{0x7f, 0x01, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := d.leafCell(2, 100, tc.cell); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestParseRecordBad(t *testing.T) {
	d := &sqliteDB{}
	for _, tc := range []struct {
		name string
		rec  []byte
	}{
		{"empty", nil},
		{"header past end", []byte{0x09, 0x01}},
		{"header length 0", []byte{0x00}},
		{"reserved type", []byte{0x02, 0x0a}},
		{"value past end", []byte{0x02, 0x06, 0x01}},
		{"blob past end", []byte{0x02, 0x20, 0x01}},
		{"truncated type", []byte{0x02, 0x81}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := d.parseRecord(tc.rec); err == nil {
				t.Errorf("no error: %v", v)
			}
		})
	}
	v, err := d.parseRecord([]byte{0x07, 0x00, 0x01, 0x02, 0x08, 0x09, 0x13, 0xfe, 0xff, 0xfe, 'a', 'b', 'c'})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 6 || v[0] != nil || v[1] != int64(-2) || v[2] != int64(-2) || v[3] != int64(0) || v[4] != int64(1) || v[5] != "abc" {
		t.Errorf("record = %#v", v)
	}
}

// FuzzSQLite feeds damaged databases to the reader and every accessor.
func FuzzSQLite(f *testing.F) {
	b, err := os.ReadFile("testdata/small.sqlite")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		root, err := d.tableRoot("Packages")
		if err != nil {
			return
		}
		_ = d.walkTable(root, func(_ int64, rec []byte) error {
			v, err := d.parseRecord(rec)
			if err == nil && len(v) > 1 {
				if blob, ok := v[1].([]byte); ok {
					_, _ = application(blob)
				}
			}
			return nil
		})
		_, _ = Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: b}}, func(error) {})
	})
}

// TestSmall reads the fuzz seed: 512-byte pages, every row overflowing,
// interior pages; its rows are copies of the fixture's (checked against
// rpm -qa in TestInstalledFixture).
func TestSmall(t *testing.T) {
	b, err := os.ReadFile("testdata/small.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	root, tree, overflow := pages(t, b)
	if len(tree) < 3 || len(overflow) < 12 {
		t.Errorf("root %d: %d tree pages, %d overflow pages", root, len(tree), len(overflow))
	}
	small, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: b}}, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	all, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: testDB(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, a := range all {
		byName[a.Name] = i
	}
	if len(small) < 11 {
		t.Fatalf("%d packages", len(small))
	}
	for _, a := range small {
		i, ok := byName[a.Name]
		if !ok || all[i] != a {
			t.Errorf("%+v differs from the fixture's", a)
		}
	}
}
