package logger

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// TestNDJSONRoundTrip writes reads over every part of the test map to an
// NDJSON sink and a capturing sink at once, reads the NDJSON back with
// encoding/json (through ReadNDJSON) and compares field by field.
func TestNDJSONRoundTrip(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	start := time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	var out bytes.Buffer
	hdr := Header{Start: start, Exports: []ExportEntry{
		{Name: "sda", Disk: 1, Device: "/dev/sda", Image: "/images/a \"quoted\".img", Size: 1 << 20},
		{Name: "sdb", Disk: 2, Device: "/dev/sdb", Size: 3 << 20},
	}}
	nd, err := NewNDJSON(&out, hdr)
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{}
	lg := New(ix, Options{Start: start, Exports: map[string]int{"sda": 1, "sdb": 2}}, nd, c)
	var reads []Read
	for off := int64(0); off < 120*K; off += 1536 {
		reads = append(reads, Read{Conn: uint64(off%3 + 1), Export: "sda", Off: off, Len: 2048,
			Start: start.Add(time.Duration(off) * time.Microsecond), Dur: time.Duration(off)})
	}
	reads = append(reads,
		Read{Conn: 9, Export: "sdb", Off: 2<<20 - 512, Len: 1024, Start: start.Add(time.Second)},
		Read{Conn: 9, Export: "sdb", Off: 5 << 20, Len: 512, Start: start.Add(time.Second), Err: errors.New("read past \"end\"\n")},
		Read{Conn: 9, Export: "sda", Off: 92 * K, Len: 512, Start: start.Add(2 * time.Second), Cache: true},
	)
	for _, r := range reads {
		lg.Log(r)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not valid JSON: %s", i+1, line)
		}
	}
	var got []JSONEvent
	h, err := ReadNDJSON(&out, func(ev *JSONEvent) error {
		got = append(got, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != NDJSONVersion || !h.Start.Equal(start) || len(h.Exports) != 2 || h.Exports[0] != hdr.Exports[0] || h.Exports[1] != hdr.Exports[1] {
		t.Errorf("header %+v, want version %d, start %v, exports %+v", h, NDJSONVersion, start, hdr.Exports)
	}
	if len(got) != len(reads) || len(c.events) != len(reads) {
		t.Fatalf("%d NDJSON events, %d captured, want %d", len(got), len(c.events), len(reads))
	}
	sawBad, sawObjects := false, 0
	for i, want := range c.events {
		g := got[i]
		errStr := ""
		if want.Err != nil {
			errStr = want.Err.Error()
		}
		if g.T != int64(want.Time) || g.Dur != int64(want.Dur) || g.Conn != want.Conn || g.Export != want.Export ||
			g.Disk != want.Disk || g.Off != want.Off || g.Len != want.Len || g.Cache != want.Cache || g.Error != errStr {
			t.Errorf("event %d: got %+v, want %+v", i, g, want)
		}
		if g.Objects == nil {
			t.Errorf("event %d: objects is null, want []", i)
		}
		if len(g.Objects) != len(want.Objects) {
			t.Errorf("event %d: %d objects, want %d", i, len(g.Objects), len(want.Objects))
			continue
		}
		for j, wo := range want.Objects {
			o := g.Objects[j]
			sawObjects++
			if o.Type != wo.Kind || o.Device != wo.Device || o.Name() != wo.Path || o.Inode != wo.Inode ||
				o.Off != wo.Off || o.Len != wo.Len || o.FileOff != wo.FileOff {
				t.Errorf("event %d object %d: got %+v, want %s %s %q inode %d %d+%d @%d", i, j, o,
					wo.Kind, wo.Device, wo.Path, wo.Inode, wo.Off, wo.Len, wo.FileOff)
			}
			if !utf8.ValidString(wo.Path) {
				sawBad = true
				if o.PathBytes == nil || o.Path != strings.ToValidUTF8(wo.Path, "\uFFFD") {
					t.Errorf("event %d object %d: non-UTF-8 name: path %q, path_bytes %q", i, j, o.Path, o.PathBytes)
				}
			}
		}
	}
	if !sawBad || sawObjects < 3*len(reads)/2 {
		t.Errorf("the reads did not cover the map: non-UTF-8 name seen %v, %d objects", sawBad, sawObjects)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x01\x1f\x7f", "tab\there\r\n", "héllo 日本", "\xff\xfe", "a\xc3", "\u2028", "<&>"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q: %s is not a JSON string: %v", s, b, err)
			continue
		}
		// encoding/json also writes one U+FFFD per bad byte.
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Errorf("%q: decodes to %q, want %q", s, back, want)
		}
	}
}

func TestReadNDJSONErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no header"},
		{"bad header", "{\n", "line 1"},
		{"other version", `{"version":2,"start":"2026-01-01T00:00:00Z","exports":[]}` + "\n", "version 2"},
		{"bad event", `{"version":1,"start":"2026-01-01T00:00:00Z","exports":[]}` + "\n" + `{"t_ns":1}` + "\n" + `{"t_ns":"x"}` + "\n", "line 3"},
		{"bad type", `{"version":1,"start":"2026-01-01T00:00:00Z","exports":[]}` + "\n" + `{"objects":[{"type":"z"}]}` + "\n", "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadNDJSON(strings.NewReader(tc.in), func(*JSONEvent) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
