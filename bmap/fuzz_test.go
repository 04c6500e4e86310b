package bmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// exercise checks what a map that was read successfully must allow:
// writing it in both forms, reading those back, indexing it and looking
// up reads, without a panic.
func exercise(t *testing.T, m *Map) {
	var txt, js bytes.Buffer
	if err := WriteText(&txt, m); err != nil {
		t.Fatalf("WriteText of a map that was read: %v", err)
	}
	if _, err := ReadText(bytes.NewReader(txt.Bytes())); err != nil {
		t.Fatalf("re-reading the text: %v\n%s", err, txt.Bytes())
	}
	if err := WriteJSON(&js, m); err != nil {
		t.Fatalf("WriteJSON of a map that was read: %v", err)
	}
	if _, err := ReadJSON(bytes.NewReader(js.Bytes())); err != nil {
		t.Fatalf("re-reading the JSON: %v\n%s", err, js.Bytes())
	}
	var str jsonStrings // the hand-written object encoder against encoding/json
	for i := range m.Objects {
		got, err := appendObjectJSON(nil, &m.Objects[i], &str)
		if want := reflectObjectJSON(t, &m.Objects[i]); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("object %d: appendObjectJSON %s (%v), encoding/json %s", i, got, err, want)
		}
	}
	ix := NewIndex(m)
	var dst []Hit
	for _, o := range m.Objects {
		for _, e := range o.Extents[:min(len(o.Extents), 4)] {
			dst = ix.LookupAppend(dst[:0], o.Disk, e.Off, e.Len)
			if len(dst) == 0 {
				t.Fatalf("a read of an extent of %s finds nothing", label(&o))
			}
			ix.Lookup(o.Disk, e.End()-1, 1<<20)
		}
	}
	ix.Lookup(1, 0, 1<<62)
}

func seeds(f *testing.F, golden string) {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", golden))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzReadText(f *testing.F) {
	seeds(f, "sample.txt.golden")
	f.Add([]byte(originalShape))
	f.Add([]byte("1 0 10 f /dev/sda1 /a\\n\\\\\n1 8 20 f /dev/sda1 /a\\n\\\\\n2 5 6 m /dev/sdb x y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadText(bytes.NewReader(data))
		if err != nil {
			return
		}
		exercise(t, m)
	})
}

func FuzzReadJSON(f *testing.F) {
	seeds(f, "sample.json.golden")
	f.Add([]byte(`{"version":1,"objects":[{"disk":1,"type":"f","device":"a","extents":[{"offset":1,"length":2,"file_offset":-1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		exercise(t, m)
	})
}
