package ntfs

import (
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// dirIndex returns a directory's $INDEX_ROOT $I30 value, its
// $INDEX_ALLOCATION runs and its $BITMAP $I30 (resident in the fixtures),
// decoded with parseAttrs and decodeRuns.
func dirIndex(t *testing.T, r *record) (root []byte, runs []run, bitmap []byte) {
	t.Helper()
	if err := parseAttrs(r, func(a *attr) error {
		if a.name != "$I30" {
			return nil
		}
		var err error
		switch {
		case a.typ == atIndexRoot && a.resident:
			root = slices.Clone(a.value(r))
		case a.typ == atIndexAlloc && !a.resident:
			runs, err = decodeRuns(a.runBytes(r), a.startVCN, 1<<40, runs)
		case a.typ == atBitmap && a.resident:
			bitmap = slices.Clone(a.value(r))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return root, runs, bitmap
}

var reFlsLine = regexp.MustCompile(`^\S+ (?:\* )?(\d+)(?:-\d+-\d+)?:\t(.*)$`)

// TestIndexAgainstFls reads the $I30 index of directories of the small
// fixture by hand — the $INDEX_ROOT node, then every index record of the
// $INDEX_ALLOCATION that the $BITMAP marks in use, fixup applied — and
// compares the names and records of its Win32/POSIX entries with what
// The Sleuth Kit's fls lists for the directory. The index record size
// is fsstat's ("Size of Index Records: 4096").
func TestIndexAgainstFls(t *testing.T) {
	testutil.NeedTools(t, "fls")
	b := fixture(t, "small")
	img := filepath.Join(t.TempDir(), "small.img")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	es, _, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	const cs, ixSize = 1024, 4096
	for _, tc := range []struct {
		path       string
		allocation bool // has an $INDEX_ALLOCATION
		min        int  // entries at least
	}{
		{"/", true, 15},
		{"/dir", true, 42},
		{"/dir/up", false, 0}, // the junction: an empty index of its own
		{"$Extend", false, 3},
	} {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			r, e := fixtureRecord(t, b, es, tc.path)
			root, runs, bitmap := dirIndex(t, r)
			typ, size, err := indexRootInfo(root)
			if err != nil || typ != atFileName || size != ixSize {
				t.Fatalf("$INDEX_ROOT: type %#x, index records of %d, %v; want $FILE_NAME (0x30), %d", typ, size, err, ixSize)
			}
			got := map[string]uint64{}
			namespaces := map[byte]int{}
			collect := func(ie *indexEntry) error {
				namespaces[ie.namespace]++
				if ie.namespace == nsDOS || refRecord(ie.ref) == e.Inode {
					return nil
				}
				name := string(utf16.Decode(ie.name))
				if _, dup := got[name]; dup {
					t.Errorf("%q twice in the index", name)
				}
				got[name] = refRecord(ie.ref)
				return nil
			}
			if err := parseIndexNode(root, 0x10, collect); err != nil {
				t.Fatalf("$INDEX_ROOT node: %v", err)
			}
			if (len(runs) > 0) != tc.allocation {
				t.Errorf("$INDEX_ALLOCATION runs %+v, want allocation %v", runs, tc.allocation)
			}
			nodes := 0
			for _, rn := range runs {
				for c := int64(0); c < rn.Len; c += ixSize / cs {
					i := (rn.VCN + c) * cs / ixSize
					if i/8 >= int64(len(bitmap)) || bitmap[i/8]&(1<<(i%8)) == 0 {
						continue
					}
					off := (rn.LCN + c) * cs
					buf := slices.Clone(b[off : off+ixSize])
					if err := applyFixup(buf, "INDX"); err != nil {
						t.Fatalf("index record %d at %#x: %v", i, off, err)
					}
					if err := parseIndexNode(buf, 0x18, collect); err != nil {
						t.Fatalf("index record %d at %#x: %v", i, off, err)
					}
					nodes++
				}
			}
			if tc.allocation && nodes == 0 {
				t.Error("no index record in use")
			}
			// fls DIR_INODE lists the directory; TSK's $OrphanFiles is
			// not an index entry.
			want := map[string]uint64{}
			for line := range strings.SplitSeq(strings.TrimSpace(testutil.Run(t, "", "fls", img, strconv.FormatUint(e.Inode, 10))), "\n") {
				m := reFlsLine.FindStringSubmatch(line)
				if line == "" || m == nil {
					continue
				}
				if m[2] == "$OrphanFiles" {
					continue
				}
				// A file without unnamed $DATA ($Extend/$Quota) is
				// listed only as its streams: the name is before ':'.
				name, _, _ := strings.Cut(m[2], ":")
				n, _ := strconv.ParseUint(m[1], 10, 64)
				want[name] = n
			}
			if !maps.Equal(got, want) {
				t.Errorf("index entries %v\nfls: %v", got, want)
			}
			if len(got) < tc.min {
				t.Errorf("%d entries, want at least %d", len(got), tc.min)
			}
			t.Logf("%s: %d entries in %d index records; namespaces %v", tc.path, len(got), nodes, namespaces)
		})
	}
}

// TestIndexCorrupt damages the real $INDEX_ROOT of the small fixture's
// /dir, and one of its index records: each damage must give an error,
// with no entry past the damage reported.
func TestIndexCorrupt(t *testing.T) {
	b := fixture(t, "small")
	es, _, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := fixtureRecord(t, b, es, "/dir")
	root, runs, _ := dirIndex(t, r)
	const h = 0x10
	first := h + int(binary.LittleEndian.Uint32(root[h:]))
	n0 := int(binary.LittleEndian.Uint16(root[first+8:])) // first entry's length
	count := func(v []byte) (int, error) {
		n := 0
		err := parseIndexNode(v, h, func(*indexEntry) error { n++; return nil })
		return n, err
	}
	total, err := count(root)
	if err != nil || total < 1 {
		t.Fatalf("the sound $INDEX_ROOT: %d entries, %v", total, err)
	}
	for _, tc := range []struct {
		name    string
		damage  func(v []byte) []byte
		wantErr string
		maxSeen int // entries reported before the error
	}{
		{"cut before the node header", func(v []byte) []byte { return v[:h+8] }, "node header at 0x10", 0},
		{"first entry inside the header", func(v []byte) []byte { binary.LittleEndian.PutUint32(v[h:], 8); return v }, "outside", 0},
		{"end past the value", func(v []byte) []byte { binary.LittleEndian.PutUint32(v[h+4:], 0x10000); return v }, "outside", 0},
		{"first past end", func(v []byte) []byte {
			binary.LittleEndian.PutUint32(v[h:], binary.LittleEndian.Uint32(v[h+4:])+8)
			return v
		}, "outside", 0},
		{"entry length 0", func(v []byte) []byte { binary.LittleEndian.PutUint16(v[first+8:], 0); return v }, "length 0", 0},
		{"entry length odd", func(v []byte) []byte { binary.LittleEndian.PutUint16(v[first+8:], uint16(n0+1)); return v }, "length", 0},
		{"entry past the node", func(v []byte) []byte { binary.LittleEndian.PutUint16(v[first+8:], 0x7FF8); return v }, "length 32760", 0},
		{"key too short for a $FILE_NAME", func(v []byte) []byte { binary.LittleEndian.PutUint16(v[first+10:], 0x40); return v }, "key of 64 bytes", 0},
		{"key past the entry", func(v []byte) []byte { binary.LittleEndian.PutUint16(v[first+10:], uint16(n0)); return v }, "key of", 0},
		{"name past the key", func(v []byte) []byte { v[first+16+0x40] = 200; return v }, "name of 200 characters", 0},
		{"no last entry", func(v []byte) []byte {
			// Clear the last flag of every entry.
			end := h + int(binary.LittleEndian.Uint32(v[h+4:]))
			for off := first; off+16 <= end; {
				v[off+12] &^= ieLast
				n := int(binary.LittleEndian.Uint16(v[off+8:]))
				if n == 0 {
					break
				}
				off += n
			}
			return v
		}, "", total},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			v := tc.damage(slices.Clone(root))
			n, err := count(v)
			if err == nil {
				t.Fatalf("no error (%d entries)", n)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want %q", err, tc.wantErr)
			}
			if n > tc.maxSeen {
				t.Errorf("%d entries reported before the error, want at most %d", n, tc.maxSeen)
			}
		})
	}
	if _, _, err := indexRootInfo(root[:0x1F]); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("indexRootInfo of 31 bytes: %v", err)
	}
	// An index record: a torn sector and a wrong magic are refused by
	// the fixup before any entry is read.
	off := runs[0].LCN * 1024
	for _, tc := range []struct {
		name    string
		damage  func(v []byte)
		wantErr string
	}{
		{"torn sector", func(v []byte) { v[3*512+510] ^= 0xFF }, "bad fixup: sector 3"},
		{"magic", func(v []byte) { copy(v, "FILE") }, `magic "FILE", want "INDX"`},
	} {
		v := slices.Clone(b[off : off+4096])
		tc.damage(v)
		if err := applyFixup(v, "INDX"); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("index record, %s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
