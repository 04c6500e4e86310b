package rpm

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// mkHeader builds a header blob from entries (tag, type, count, data).
func mkHeader(ents ...struct {
	tag, typ, count uint32
	data            []byte
}) []byte {
	var idx, data []byte
	for _, e := range ents {
		idx = binary.BigEndian.AppendUint32(idx, e.tag)
		idx = binary.BigEndian.AppendUint32(idx, e.typ)
		idx = binary.BigEndian.AppendUint32(idx, uint32(len(data)))
		idx = binary.BigEndian.AppendUint32(idx, e.count)
		data = append(data, e.data...)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(ents)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, idx...), data...)
}

type ent = struct {
	tag, typ, count uint32
	data            []byte
}

func TestHeaderValues(t *testing.T) {
	b := mkHeader(
		ent{TagName, typeString, 1, []byte("bash\x00")},
		ent{TagEpoch, typeInt32, 1, []byte{0, 0, 0, 7}},
		ent{TagSummary, typeI18NString, 2, []byte("shell\x00Shell\x00")},
		ent{TagVersion, typeStringArray, 2, []byte("5.2\x00x\x00")},
		ent{TagName, typeString, 1, []byte("dup\x00")},
	)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[int32]string{TagName: "bash", TagSummary: "shell", TagVersion: "5.2"} {
		if s, ok, err := h.String(tag); s != want || !ok || err != nil {
			t.Errorf("String(%d) = %q, %v, %v; want %q", tag, s, ok, err, want)
		}
	}
	if v, ok, err := h.Int32(TagEpoch); v != 7 || !ok || err != nil {
		t.Errorf("Int32(EPOCH) = %d, %v, %v", v, ok, err)
	}
	if _, ok, err := h.String(TagURL); ok || err != nil {
		t.Errorf("absent URL: ok %v err %v", ok, err)
	}
	if _, _, err := h.Int32(TagName); err == nil {
		t.Error("Int32 of a string: no error")
	}
	if _, _, err := h.String(TagEpoch); err == nil {
		t.Error("String of an int32: no error")
	}
}

func TestHeaderBad(t *testing.T) {
	good := mkHeader(ent{TagName, typeString, 1, []byte("bash\x00")})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", []byte{0, 0, 0, 1}},
		{"zero entries", []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{"huge index count", append([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}, good[8:]...)},
		{"index count past blob", append([]byte{0, 0, 0x10, 0, 0, 0, 0, 5}, good[8:]...)},
		{"huge data length", append([]byte{0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff}, good[8:]...)},
		{"data length past blob", append([]byte{0, 0, 0, 1, 0, 0, 1, 0}, good[8:]...)},
		{"truncated", good[:len(good)-2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHeader(tc.b); err == nil {
				t.Error("no error")
			}
			if _, err := application(tc.b); err == nil {
				t.Error("application: no error")
			}
		})
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"string offset past data", mkHeader(ent{TagName, typeString, 1, nil}, ent{TagURL, typeBin, 4, []byte("abcd")})},
		{"unterminated string", mkHeader(ent{TagName, typeString, 1, []byte("bash")})},
		{"string count 0", mkHeader(ent{TagName, typeString, 0, []byte("bash\x00")})},
		{"wrong type", mkHeader(ent{TagName, typeInt32, 1, []byte("bash")})},
		{"int32 past data", mkHeader(ent{TagName, typeString, 1, []byte("a\x00")}, ent{TagEpoch, typeInt32, 1, []byte{1, 2}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseHeader(tc.b); err != nil {
				t.Fatalf("index rejected: %v", err)
			}
			if _, err := application(tc.b); err == nil {
				t.Error("application: no error")
			}
		})
	}
}

const typeBin = 7

// realBlobs returns a few header blobs of the fixture.
func realBlobs(t testing.TB) [][]byte {
	b := testDB(t)
	d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	var blobs [][]byte
	err = d.walkTable(root, func(rowid int64, rec []byte) error {
		v, err := d.parseRecord(rec)
		if err != nil {
			return err
		}
		if rowid%100 == 1 || len(rec) > 10000 {
			blobs = append(blobs, v[1].([]byte))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return blobs
}

// FuzzHeader feeds damaged headers to the parser and every accessor.
func FuzzHeader(f *testing.F) {
	for _, b := range realBlobs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		for _, tag := range []int32{TagName, TagVersion, TagRelease, TagEpoch, TagSummary, TagDescription, TagVendor, TagURL, TagArch, TagSourceRPM} {
			_, _, _ = h.String(tag)
			_, _, _ = h.Int32(tag)
		}
		_, _ = application(b)
	})
}
