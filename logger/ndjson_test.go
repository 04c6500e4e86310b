package logger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
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

// refEncode is the straightforward encoder the NDJSON sink had before it
// cached object prefixes: every field of every object encoded every time.
// The sink's output must stay byte for byte the same.
func refEncode(b []byte, ev *Event) []byte {
	b = append(b, `{"t_ns":`...)
	b = strconv.AppendInt(b, int64(ev.Time), 10)
	b = append(b, `,"dur_ns":`...)
	b = strconv.AppendInt(b, int64(ev.Dur), 10)
	b = append(b, `,"conn":`...)
	b = strconv.AppendUint(b, ev.Conn, 10)
	b = append(b, `,"export":`...)
	b = appendJSONString(b, ev.Export)
	b = append(b, `,"disk":`...)
	b = strconv.AppendInt(b, int64(ev.Disk), 10)
	b = append(b, `,"off":`...)
	b = strconv.AppendInt(b, ev.Off, 10)
	b = append(b, `,"len":`...)
	b = strconv.AppendUint(b, uint64(ev.Len), 10)
	if ev.Cache {
		b = append(b, `,"cache":true`...)
	}
	if ev.Err != nil {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, ev.Err.Error())
	}
	b = append(b, `,"objects":[`...)
	for i := range ev.Objects {
		o := &ev.Objects[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"`...)
		b = append(b, byte(o.Kind))
		b = append(b, `","device":`...)
		b = appendJSONString(b, o.Device)
		if o.Path != "" {
			b = append(b, `,"path":`...)
			b = appendJSONString(b, o.Path)
			if !utf8.ValidString(o.Path) {
				b = append(b, `,"path_bytes":"`...)
				b = base64.StdEncoding.AppendEncode(b, []byte(o.Path))
				b = append(b, '"')
			}
		}
		if o.Inode != 0 {
			b = append(b, `,"inode":`...)
			b = strconv.AppendUint(b, o.Inode, 10)
		}
		b = append(b, `,"off":`...)
		b = strconv.AppendInt(b, o.Off, 10)
		b = append(b, `,"len":`...)
		b = strconv.AppendInt(b, o.Len, 10)
		b = append(b, `,"file_off":`...)
		b = strconv.AppendInt(b, o.FileOff, 10)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// TestNDJSONBytes checks the sink's output byte for byte against
// refEncode: objects of every kind, paths with quotes, control characters
// and invalid UTF-8, inode 0 and large, each object met many times (its
// cached prefix reused), enough events to go through several buffer
// flushes, and an error and a cache flag.
func TestNDJSONBytes(t *testing.T) {
	objs := []*bmap.Object{
		{Kind: bmap.KindDisk, Device: "/dev/sda"},
		{Kind: bmap.KindPartition, Device: "/dev/sda1"},
		{Kind: bmap.KindMeta, Device: "/dev/sda1", Path: "inode table 3"},
		{Kind: bmap.KindFile, Device: "/dev/sda1", Path: `/a "quoted" \ name`, Inode: 12},
		{Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/tab\there\nnl\x01\x7f", Inode: 1<<64 - 1},
		{Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/bad\xff\xfeutf8/é", Inode: 99},
		{Kind: bmap.KindDir, Device: "/dev/sda1", Path: "/", Inode: 2},
		{Kind: bmap.KindFile, Device: "/dev/\"odd\"", Path: "/x"},
	}
	var want []byte
	var out bytes.Buffer
	nd, err := NewNDJSON(&out, Header{Start: time.Unix(1700000000, 5)})
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := out.Len()
	if err := nd.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nd.Sync(); err != nil {
		t.Fatal(err)
	}
	hdrLen = out.Len() - hdrLen
	const n = 6000 // several times ndjsonBuffer of output
	for i := range n {
		ev := &Event{Time: time.Duration(i) * 1001, Dur: time.Duration(i % 7), Conn: uint64(i%4 + 1), Export: "disk \"1\"",
			Disk: 1 + i/50%2, Off: int64(i) * 4096, Len: uint32(4096 + i), Cache: i%11 == 0}
		switch i / 20 % 3 { // runs of one export and disk, as a trace has
		case 1:
			ev.Export = "sdb\x01"
		case 2:
			ev.Export = ""
		}
		if i%13 == 0 {
			ev.Err = errors.New("read at 5: input/output error\n")
		}
		for j := range i % (len(objs) + 1) {
			o := objs[(i+j)%len(objs)]
			ob := Object{Object: o, Off: int64(i*j) - 5, Len: int64(j * 512), FileOff: int64(j) - 1}
			if j%2 == 0 { // the whole read, as most objects of a read hold it
				ob.Off, ob.Len = ev.Off, int64(ev.Len)
			}
			if (i+j)%3 == 0 {
				ob.Off = ev.Off // from the read's start, not to its end
			}
			ev.Objects = append(ev.Objects, ob)
		}
		want = refEncode(want, ev)
		if err := nd.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()[hdrLen:]
	if len(want) < 3*ndjsonBuffer {
		t.Fatalf("test too small: %d bytes", len(want))
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("output differs from the reference encoder at byte %d (of %d, want %d): got %q, want %q",
			i, len(got), len(want), got[i:min(i+80, len(got))], want[i:min(i+80, len(want))])
	}
}

// TestNDJSONWriteError: a failed write is returned (by Sync, then by
// every call), and stays.
func TestNDJSONWriteError(t *testing.T) {
	nd, err := NewNDJSON(failWriter{}, Header{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Objects: []Object{{Object: &bmap.Object{Kind: bmap.KindDisk, Device: "/dev/sda"}}}}
	if err := nd.Write(ev); err != nil {
		t.Fatalf("buffered write failed early: %v", err)
	}
	if err := nd.Flush(); err != nil && !errors.Is(err, errDiskFull) {
		t.Fatalf("Flush: %v, want nil or %v", err, errDiskFull)
	}
	if err := nd.Sync(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Sync: %v, want %v", err, errDiskFull)
	}
	if err := nd.Flush(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Flush after a failed write: %v, want %v", err, errDiskFull)
	}
	if err := nd.Write(ev); !errors.Is(err, errDiskFull) {
		t.Fatalf("Write after a failed flush: %v, want %v", err, errDiskFull)
	}
	if err := nd.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close: %v, want %v", err, errDiskFull)
	}
}

var errDiskFull = errors.New("no space left on device")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// TestNDJSONConnections: SetConnections makes Close end the trace with
// {"connections":N}, which ReadNDJSON puts in the header and does not
// pass on as an event; without it there is no such line.
func TestNDJSONConnections(t *testing.T) {
	for _, n := range []uint64{0, 3} {
		var b bytes.Buffer
		nd, err := NewNDJSON(&b, Header{Version: NDJSONVersion})
		if err != nil {
			t.Fatal(err)
		}
		nd.SetConnections(n)
		if err := nd.Close(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), `{"connections":`); got != (n > 0) {
			t.Errorf("n=%d: connections line %v:\n%s", n, got, b.String())
		}
		events := 0
		h, err := ReadNDJSON(&b, func(*JSONEvent) error { events++; return nil })
		if err != nil || h.Connections != n || events != 0 {
			t.Errorf("n=%d: read back %v connections, %d events, %v", n, h.Connections, events, err)
		}
	}
}

// TestNDJSONSetMap: with the map given, the prefixes are found by the
// object's index; the output is byte for byte the same as without, for
// the map's objects and for an object outside it (a copy), which takes
// the table by pointer.
func TestNDJSONSetMap(t *testing.T) {
	m := testMap()
	ix := bmap.NewIndex(m)
	outside := m.Objects[len(m.Objects)-1] // a copy: not in m.Objects
	var with, without bytes.Buffer
	a, err := NewNDJSON(&with, Header{Start: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	a.SetMap(m)
	b, err := NewNDJSON(&without, Header{Start: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the second round finds every prefix cached
		for off := int64(0); off < 120*K; off += 1536 {
			ev := &Event{Time: time.Duration(off), Conn: 1, Export: "sda", Disk: 1, Off: off, Len: 2048}
			for _, h := range ix.Lookup(1, off, 2048) {
				ev.Objects = append(ev.Objects, Object{Object: h.Object, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
			}
			ev.Objects = append(ev.Objects, Object{Object: &outside, Off: off, Len: 1, FileOff: int64(round)})
			for _, s := range []*NDJSON{a, b} {
				if err := s.Write(ev); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if with.Len() < 10000 || with.String() != without.String() {
		t.Fatalf("with SetMap: %d bytes, without: %d, not the same", with.Len(), without.Len())
	}
	if a.prefix.Outside() != 1 || b.prefix.Outside() < 5 {
		t.Errorf("table by pointer holds %d objects with SetMap (want 1: the copy), %d without", a.prefix.Outside(), b.prefix.Outside())
	}
}
