package bmap

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	maps := []*Map{sampleMap(), {}}
	r := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		maps = append(maps, randomMap(r, 1+r.IntN(40)))
	}
	for i, m := range maps {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, m); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSON(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("map %d: %v\n%s", i, err, buf.Bytes())
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("map %d: read back\n%+v\nwant\n%+v", i, back, m)
		}
		// Read sniffs the form.
		back2, err := Read(strings.NewReader("\n  \t" + buf.String()))
		if err != nil || !reflect.DeepEqual(back2, m) {
			t.Fatalf("map %d: Read: %v", i, err)
		}
	}
}

func TestReadSniffsText(t *testing.T) {
	text := writeText(t, sampleMap())
	a, err := Read(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadText(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Read and ReadText differ on a text map")
	}
	// Line numbers count the blank lines Read looked past.
	_, err = Read(strings.NewReader("\n\n1 0 10 v /dev/sda\n1 0 10 q /dev/sda\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4:") {
		t.Fatalf("err = %v, want line 4", err)
	}
	m, err := Read(strings.NewReader(""))
	if err != nil || len(m.Objects) != 0 {
		t.Fatalf("empty input: %v %+v", err, m)
	}
}

func TestReadJSONIgnoresUnknownFields(t *testing.T) {
	in := `{"generator":{"name":"x"},"version":1,"objects":[{"disk":1,"type":"f","device":"/dev/sda1","path":"/a","color":"red",
"extents":[{"offset":4096,"length":512,"file_offset":0,"role":"data","future":[1,2]}]}]}`
	m, err := ReadJSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Objects) != 1 || m.Objects[0].Extents[0].Off != 4096 || m.Objects[0].Path != "/a" {
		t.Fatalf("%+v", m)
	}
}

// TestJSONNonUTF8Name checks a Linux name that is not UTF-8 (a Latin-1
// file name) comes back byte for byte, and that "path" stays readable.
func TestJSONNonUTF8Name(t *testing.T) {
	m := &Map{Disks: []Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}},
		Objects: []Object{{Disk: 1, Kind: 'f', Device: "/dev/sda1", Path: "/caf\xe9 \xff.txt",
			Extents: []Extent{{Off: 4096, Len: 4096, FileOff: 0, Role: RoleData}}}}}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"path":"/caf\ufffd \ufffd.txt"`) || !strings.Contains(buf.String(), `"path_bytes":"`) {
		t.Fatalf("JSON = %s", buf.String())
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Objects[0].Path != m.Objects[0].Path {
		t.Fatalf("path read back %q, want %q", back.Objects[0].Path, m.Objects[0].Path)
	}
}
