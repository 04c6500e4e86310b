package ntfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fixtureRecord returns a fixed-up copy of the base MFT record of path in
// a fixture, located through the walk's record extent (itself checked
// against istat's $MFT run list by the integration test).
func fixtureRecord(t *testing.T, b []byte, es []fs.Entry, path string) (*record, fs.Entry) {
	t.Helper()
	e, ok := byPath(es)[path]
	if !ok {
		t.Fatalf("%s not reported", path)
	}
	for _, x := range e.Extents {
		if x.Role == bmap.RoleRecord {
			r := &record{}
			if err := parseRecord(append([]byte(nil), b[x.Off:x.End()]...), r); err != nil {
				t.Fatalf("%s: record at %#x: %v", path, x.Off, err)
			}
			return r, e
		}
	}
	t.Fatalf("%s: no record extent", path)
	return nil, e
}

var reIstatAttrFull = regexp.MustCompile(`^Type: \S+ \((\d+)-(\d+)\)\s+Name: (.*?)\s+(Resident|Non-Resident)(?:, \w+)*\s+size: (\d+)(?:\s+init_size: (\d+))?`)

// TestDecodeAttrAgainstIstat decodes every attribute of every base record
// the walk reports in the fixtures and compares type, attribute id, name,
// residency, size and initialized size with istat's list, attribute by
// attribute, in order. Records with an $ATTRIBUTE_LIST are left out:
// istat lists their attributes from every record.
func TestDecodeAttrAgainstIstat(t *testing.T) {
	testutil.NeedTools(t, "istat")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			img := filepath.Join(t.TempDir(), name+".img")
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			es, _, err := walkAll(t, b)
			if err != nil {
				t.Fatal(err)
			}
			done := map[uint64]bool{}
			compared, nonResident := 0, 0
			for _, e := range es {
				if !isRecord(e) || strings.Contains(e.Path, ":") || done[e.Inode] {
					continue
				}
				done[e.Inode] = true
				r, _ := fixtureRecord(t, b, es, e.Path)
				var got []string
				hasList := false
				if err := parseAttrs(r, func(a *attr) error {
					hasList = hasList || a.typ == atAttributeList
					s := a.dataSize
					init := strconv.FormatInt(a.initSize, 10)
					if a.resident {
						s, init = int64(a.valueLen), ""
					} else {
						nonResident++
						// VCN bounds: the runs cover startVCN-lastVCN.
						runs, err := decodeRuns(a.runBytes(r), a.startVCN, 1<<40, nil)
						if err != nil {
							t.Errorf("%s: %s: %v", e.Path, typeName(a.typ), err)
						} else if n := len(runs); n > 0 && runs[n-1].VCN+runs[n-1].Len-1 != a.lastVCN {
							t.Errorf("%s: %s: runs end at VCN %d, header %d", e.Path, typeName(a.typ), runs[n-1].VCN+runs[n-1].Len-1, a.lastVCN)
						}
						if a.startVCN == 0 && a.allocSize < a.dataSize {
							t.Errorf("%s: %s: allocated %d < data size %d", e.Path, typeName(a.typ), a.allocSize, a.dataSize)
						}
					}
					nm := a.name
					if nm == "" {
						nm = "N/A"
					}
					res := "Resident"
					if !a.resident {
						res = "Non-Resident"
					}
					got = append(got, strings.Join([]string{strconv.Itoa(int(a.typ)), strconv.Itoa(int(a.id)), nm, res, strconv.FormatInt(s, 10), init}, " "))
					return nil
				}); err != nil {
					t.Errorf("%s: %v", e.Path, err)
					continue
				}
				if hasList {
					continue
				}
				var want []string
				for line := range strings.SplitSeq(testutil.Run(t, "", "istat", img, strconv.FormatUint(e.Inode, 10)), "\n") {
					if m := reIstatAttrFull.FindStringSubmatch(line); m != nil {
						want = append(want, strings.Join(m[1:], " "))
					}
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s (record %d): attributes\n%s\nistat:\n%s", e.Path, e.Inode, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				compared++
			}
			if compared < 15 || nonResident < 10 {
				t.Errorf("%d records (%d non-resident attributes) compared: too few", compared, nonResident)
			}
		})
	}
}

// realAttr returns a fixed-up record of the small fixture and the
// offset of its first attribute of type typ named name.
func realAttr(t *testing.T, path string, typ uint32, name string) (*record, int) {
	t.Helper()
	b := fixture(t, "small")
	es, _, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := fixtureRecord(t, b, es, path)
	off := -1
	if err := parseAttrs(r, func(a *attr) error {
		if off < 0 && a.typ == typ && a.name == name {
			off = a.off
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		t.Fatalf("%s: no %s %q", path, typeName(typ), name)
	}
	return r, off
}

// TestDecodeAttrCorrupt damages real attribute headers (the resident
// unnamed $DATA of /tiny, the non-resident $DATA "s" of /tiny) field by
// field: each must give an error naming the attribute's offset, not a
// panic or a value outside the record.
func TestDecodeAttrCorrupt(t *testing.T) {
	res, resOff := realAttr(t, "/tiny", atData, "")
	non, nonOff := realAttr(t, "/tiny", atData, "s")
	// The values istat gives: $DATA (128-2) resident, 5 bytes; $DATA
	// (128-4) "s" non-resident, 3000 bytes, 3 clusters.
	var a attr
	if err := decodeAttr(res.buf[:res.used], resOff, &a); err != nil || !a.resident || a.valueLen != 5 || a.id != 2 || a.name != "" {
		t.Fatalf("/tiny $DATA: %+v, %v; want resident, 5 bytes, id 2", a, err)
	}
	if err := decodeAttr(non.buf[:non.used], nonOff, &a); err != nil || a.resident || a.dataSize != 3000 || a.initSize != 3000 || a.allocSize != 3072 || a.startVCN != 0 || a.lastVCN != 2 || a.id != 4 || a.name != "s" {
		t.Fatalf("/tiny:s $DATA: %+v, %v; want non-resident, 3000 bytes in 3 clusters, id 4", a, err)
	}
	u16 := func(o int, v uint16) func(b []byte, off int) {
		return func(b []byte, off int) { binary.LittleEndian.PutUint16(b[off+o:], v) }
	}
	u32 := func(o int, v uint32) func(b []byte, off int) {
		return func(b []byte, off int) { binary.LittleEndian.PutUint32(b[off+o:], v) }
	}
	u64 := func(o int, v uint64) func(b []byte, off int) {
		return func(b []byte, off int) { binary.LittleEndian.PutUint64(b[off+o:], v) }
	}
	for _, tc := range []struct {
		name     string
		resident bool
		damage   func(b []byte, off int)
		wantErr  string
	}{
		{"length 0", true, u32(4, 0), "length 0"},
		{"length not a multiple of 8", true, u32(4, 0x1C), "length 28"},
		{"length past the record", true, u32(4, 0x10000), "length 65536"},
		{"name past the attribute", true, func(b []byte, off int) { b[off+9] = 200 }, "name past the attribute"},
		{"name offset past the attribute", false, func(b []byte, off int) { u16(0x0A, 0xFFF0)(b, off) }, "name past the attribute"},
		{"resident value too long", true, u32(0x10, 0x1000), "resident value of 4096 bytes"},
		{"resident value offset", true, u16(0x14, 0x400), "past the attribute"},
		{"non-resident header short", false, func(b []byte, off int) { u32(4, 0x38)(b, off); b[off+9] = 0 }, "non-resident header of 56 bytes"},
		{"run list offset before the header's end", false, u16(0x20, 0x20), "run list at 0x20 outside"},
		{"run list offset past the attribute", false, u16(0x20, 0x400), "run list at 0x400 outside"},
		{"start VCN negative", false, u64(0x10, 1<<63), "VCNs"},
		{"last VCN before start", false, func(b []byte, off int) { u64(0x10, 10)(b, off); u64(0x18, 5)(b, off) }, "VCNs 10-5"},
		{"last VCN huge", false, u64(0x18, 1<<50), "VCNs"},
		{"data size negative", false, u64(0x30, 1<<63), "negative size"},
		{"allocated size negative", false, u64(0x28, 1<<63), "negative size"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			r, off := non, nonOff
			if tc.resident {
				r, off = res, resOff
			}
			b := append([]byte(nil), r.buf[:r.used]...)
			tc.damage(b, off)
			var a attr
			err := decodeAttr(b, off, &a)
			if err == nil {
				t.Fatalf("no error; decoded %+v", a)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "at 0x"+strconv.FormatInt(int64(off), 16)) {
				t.Errorf("error %q: want %q and the attribute's offset %#x", err, tc.wantErr, off)
			}
			// The whole record's walk gives an error too, not a panic.
			c := *r
			c.buf = append(b, r.buf[r.used:]...)
			if err := parseAttrs(&c, func(*attr) error { return nil }); err == nil {
				t.Error("parseAttrs: no error")
			}
		})
	}
	// No end marker before the used size.
	c := *res
	c.buf = append([]byte(nil), res.buf...)
	binary.LittleEndian.PutUint32(c.buf[c.used-8:], 0x100)
	c.used -= 4
	if err := parseAttrs(&c, func(*attr) error { return nil }); err == nil || !strings.Contains(err.Error(), "used size") {
		t.Errorf("record cut before its end marker: %v, want an error about the used size", err)
	}
}

func TestUTF16AndTypeNames(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{[]byte{'$', 0, 'I', 0, '3', 0, '0', 0}, "$I30"},
		{[]byte{0xFC, 0, 'n', 0, 0xEF, 0}, "ünï"},
		{[]byte{0x3D, 0xD8, 0x00, 0xDE}, "😀"},   // a surrogate pair
		{[]byte{0x3D, 0xD8, 'a', 0}, "\uFFFDa"}, // a lone high surrogate
		{[]byte{'a', 0, 'b'}, "a"},              // an odd byte dropped
		{nil, ""},
	} {
		if got := utf16String(tc.b); got != tc.want {
			t.Errorf("utf16String(% x) = %q, want %q", tc.b, got, tc.want)
		}
	}
	for typ, want := range map[uint32]string{0x10: "$STANDARD_INFORMATION", 0x20: "$ATTRIBUTE_LIST", 0x30: "$FILE_NAME", 0x80: "$DATA", 0x90: "$INDEX_ROOT", 0xA0: "$INDEX_ALLOCATION", 0xB0: "$BITMAP", 0xC0: "$REPARSE_POINT", 0x100: "$LOGGED_UTILITY_STREAM", 0x1234: "attribute 0x1234"} {
		if got := typeName(typ); got != want {
			t.Errorf("typeName(%#x) = %q, want %q", typ, got, want)
		}
	}
}
