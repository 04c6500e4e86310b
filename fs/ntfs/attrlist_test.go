package ntfs

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// TestAttrListFixture decodes the $ATTRIBUTE_LIST of the small fixture's
// /frag (260 one-cluster runs: istat shows a non-resident list of 160
// bytes) and compares the extension records it names with the records
// that, scanning the whole MFT, say /frag's record is their base.
func TestAttrListFixture(t *testing.T) {
	b := fixture(t, "small")
	es, _, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	r, e := fixtureRecord(t, b, es, "/frag")
	var list *attr
	if err := parseAttrs(r, func(a *attr) error {
		if a.typ == atAttributeList {
			c := *a
			list = &c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if list == nil || list.resident || list.dataSize != 160 {
		t.Fatalf("/frag: $ATTRIBUTE_LIST %+v; istat: non-resident, 160 bytes", list)
	}
	runs, err := decodeRuns(list.runBytes(r), 0, 2047, nil)
	if err != nil || len(runs) != 1 || runs[0].LCN < 0 {
		t.Fatalf("/frag: $ATTRIBUTE_LIST runs %+v, %v", runs, err)
	}
	v := b[runs[0].LCN*1024 : runs[0].LCN*1024+list.dataSize]
	got, err := attrListRecords(v, e.Inode, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The oracle: every in-use record whose base reference is /frag.
	var mft []bmap.Extent
	for _, x := range byPath(es)["$MFT"].Extents {
		if x.Role == bmap.RoleData {
			mft = append(mft, x)
		}
	}
	var want []uint64
	for _, x := range mft {
		for o := int64(0); o+1024 <= x.Len; o += 1024 {
			var rr record
			if parseRecord(append([]byte(nil), b[x.Off+o:x.Off+o+1024]...), &rr) != nil || !rr.inUse() {
				continue
			}
			if refRecord(rr.baseRef) == e.Inode && rr.baseRef != 0 {
				want = append(want, uint64((x.FileOff+o)/1024))
			}
		}
	}
	slices.Sort(want)
	sorted := slices.Sorted(slices.Values(got))
	if len(want) == 0 || !slices.Equal(sorted, want) {
		t.Errorf("/frag (record %d): the list names extension records %v; records based on it: %v", e.Inode, got, want)
	}
	if slices.Contains(got, e.Inode) {
		t.Errorf("the base record %d is in the list of extension records", e.Inode)
	}
	// Every entry: the list is 160 bytes of entries that end exactly.
	n := 0
	for off := 0; off < len(v); off += int(binary.LittleEndian.Uint16(v[off+4:])) {
		n++
	}
	if n < 3 {
		t.Errorf("%d entries in the list", n)
	}
}

// alEntry builds one attribute list entry for record rec (0x20 bytes,
// unnamed).
func alEntry(typ uint32, rec uint64, seq uint16) []byte {
	e := make([]byte, 0x20)
	binary.LittleEndian.PutUint32(e, typ)
	binary.LittleEndian.PutUint16(e[4:], 0x20)
	e[7] = 0x1A
	binary.LittleEndian.PutUint64(e[0x10:], rec|uint64(seq)<<48)
	return e
}

func TestAttrListRecords(t *testing.T) {
	cat := func(es ...[]byte) []byte { return slices.Concat(es...) }
	many := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, alEntry(atData, uint64(100+i), 1)...)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		want    []uint64
		wantErr string
	}{
		{"empty", nil, nil, ""},
		{"base only", cat(alEntry(atStandardInfo, 40, 3), alEntry(atFileName, 40, 3)), nil, ""},
		{"base and two extensions, repeated", cat(alEntry(atStandardInfo, 40, 3), alEntry(atData, 41, 1), alEntry(atData, 57, 2), alEntry(atData, 41, 1)), []uint64{41, 57}, ""},
		{"sequence number ignored", cat(alEntry(atData, 41, 7), alEntry(atData, 41, 9)), []uint64{41}, ""},
		{"48-bit record number", cat(alEntry(atData, 1<<40, 0xFFFF)), []uint64{1 << 40}, ""},
		{"4096 records", many(maxExtRecords), nil, ""},
		{"4097 records", many(maxExtRecords + 1), nil, "more than 4096 extension records"},
		{"truncated entry", cat(alEntry(atData, 41, 1), make([]byte, 0x19)), []uint64{41}, "attribute list entry at 32: 25 bytes left"},
		{"length 0", func() []byte { e := alEntry(atData, 41, 1); e[4] = 0; return e }(), nil, "attribute list entry at 0: length 0"},
		{"length short", func() []byte { e := alEntry(atData, 41, 1); e[4] = 0x18; return e }(), nil, "length 24"},
		{"length past the list", func() []byte { e := alEntry(atData, 41, 1); e[4] = 0x40; return e }(), nil, "length 64"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			got, err := attrListRecords(tc.b, 40, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if len(got) > maxExtRecords {
					t.Errorf("%d records returned: over the cap", len(got))
				}
				if tc.want == nil {
					return
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.name == "4096 records" {
				if len(got) != maxExtRecords {
					t.Errorf("%d records, want %d", len(got), maxExtRecords)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("records %v, want %v", got, tc.want)
			}
		})
	}
}
