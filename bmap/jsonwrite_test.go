package bmap

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// reflectObjectJSON is how WriteJSON wrote an object before
// appendObjectJSON: encoding/json on a jsonObject, HTML not escaped. It is
// the reference appendObjectJSON must match byte for byte.
func reflectObjectJSON(t *testing.T, o *Object) []byte {
	t.Helper()
	jo := jsonObject{Object: o}
	if o.Extents == nil {
		c := *o
		c.Extents = []Extent{}
		jo.Object = &c
	}
	if !validUTF8(o.Path) {
		jo.PathBytes = []byte(o.Path)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&jo); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestAppendObjectJSON checks the hand-written object encoder against
// encoding/json on names with every kind of character JSON escapes, and on
// every object of random maps.
func TestAppendObjectJSON(t *testing.T) {
	names := []string{"", "/", "/etc/passwd", "/a b/c", `/q"uote`, `/back\slash`, "/new\nline",
		"/tab\tcr\r", "/ctl\x01\x1f\x7f", "/html<&>", "/é/ü/日本", "/bad\xff\xfeutf8", "/half\xe6\x97",
		"/sep\u2028\u2029", "/nul\x00", "/emoji\U0001F600"}
	var objs []Object
	for i, p := range names {
		o := Object{Disk: 1 + i%3, Kind: allKinds[i%len(allKinds)], Device: "/dev/sda1", Path: p,
			Inode: uint64(i * 1000), Size: int64(i * 7), Symlink: i%4 == 1}
		for k := 0; k < i%3; k++ {
			o.Extents = append(o.Extents, Extent{Off: int64(k) << 40, Len: 512, FileOff: int64(k) - 1, Role: RoleData, Unwritten: k == 1})
		}
		if i%5 == 2 {
			o.Extents = []Extent{} // empty, not nil
		}
		objs = append(objs, o)
	}
	objs = append(objs, Object{Disk: 2, Kind: KindMeta, Device: `/dev/"odd"`, Path: "x",
		Extents: []Extent{{Off: 1, Len: 1, FileOff: -1, Role: Role("custom\"role\u00e9")}}})
	r := rand.New(rand.NewPCG(16, 16))
	for range 20 {
		objs = append(objs, randomMap(r, 50).Objects...)
	}
	var str jsonStrings
	for i := range objs {
		got, err := appendObjectJSON(nil, &objs[i], &str)
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if want := reflectObjectJSON(t, &objs[i]); !bytes.Equal(got, want) {
			t.Errorf("object %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if _, err := appendObjectJSON(nil, &Object{Kind: 'q'}, &str); err == nil {
		t.Error("an invalid kind was written")
	}
}
