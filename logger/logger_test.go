package logger

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const K = 1024

// testMap is a small disk laid out by hand:
//
//	[0, 1M)        v /dev/sda
//	[64K, 1M)      p /dev/sda1
//	[64K, 68K)     m /dev/sda1 superblock
//	[68K, 72K)     d /dev/sda1 /            (file offset 0)
//	[72K, 80K)     f /dev/sda1 /a           (file offsets 0-8K)
//	[80K, 88K)     f /dev/sda1 /b
//	[88K, 92K)     f /dev/sda1 /we\ird\n    (a name with a backslash and a newline)
//	[92K, 96K)     f /dev/sda1 /bad\xff     (not UTF-8)
//	[96K, 100K)    m /dev/sda1 /a's extent index block (an index block: no file offset)
//	[100K, 104K)   f /dev/sda1 /a           (file offsets 8K-12K)
//	[2M, 3M)       v /dev/sdb, f /dev/sdb /c on disk 2
func testMap() *bmap.Map {
	data := func(off, n, fo int64) bmap.Extent {
		return bmap.Extent{Off: off, Len: n, FileOff: fo, Role: bmap.RoleData}
	}
	meta := func(off, n int64) bmap.Extent {
		return bmap.Extent{Off: off, Len: n, FileOff: -1, Role: bmap.RoleMeta}
	}
	return &bmap.Map{
		Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}, {Index: 2, Device: "/dev/sdb", Size: 3 << 20}},
		Objects: []bmap.Object{
			{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda", Extents: []bmap.Extent{meta(0, 1<<20)}},
			{Disk: 1, Kind: bmap.KindPartition, Device: "/dev/sda1", Extents: []bmap.Extent{meta(64*K, 1<<20-64*K)}},
			{Disk: 1, Kind: bmap.KindMeta, Device: "/dev/sda1", Path: "superblock", Extents: []bmap.Extent{meta(64*K, 4*K)}},
			{Disk: 1, Kind: bmap.KindDir, Device: "/dev/sda1", Path: "/", Inode: 2, Extents: []bmap.Extent{data(68*K, 4*K, 0)}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/a", Inode: 12, Size: 12 * K, Extents: []bmap.Extent{
				data(72*K, 8*K, 0),
				{Off: 96 * K, Len: 4 * K, FileOff: -1, Role: bmap.RoleExtentIndex},
				data(100*K, 4*K, 8*K),
			}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/b", Inode: 13, Extents: []bmap.Extent{data(80*K, 8*K, 0)}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/we\\ird\n", Inode: 14, Extents: []bmap.Extent{data(88*K, 4*K, 0)}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/bad\xff", Inode: 15, Extents: []bmap.Extent{data(92*K, 4*K, 0)}},
			{Disk: 2, Kind: bmap.KindDisk, Device: "/dev/sdb", Extents: []bmap.Extent{meta(0, 3<<20)}},
			{Disk: 2, Kind: bmap.KindFile, Device: "/dev/sdb", Path: "/c", Extents: []bmap.Extent{data(2<<20, 1<<20, 0)}},
		},
	}
}

// capture is a sink that keeps deep copies of the events.
type capture struct {
	mu      sync.Mutex
	events  []Event
	flushes int
	closed  bool
	delay   time.Duration
	err     error
}

func (c *capture) Write(ev *Event) error {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := *ev
	e.Objects = slices.Clone(ev.Objects)
	c.events = append(c.events, e)
	return c.err
}

func (c *capture) Flush() error {
	c.mu.Lock()
	c.flushes++
	c.mu.Unlock()
	return nil
}

func (c *capture) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// obj is an expected object: "TYPE DEVICE PATH off len fileoff".
type obj struct {
	kind          bmap.Kind
	path          string
	off, n, fileo int64
}

func (o obj) String() string {
	return string(o.kind) + " " + strings.ReplaceAll(o.path, "\n", `\n`) + " " +
		itoa(o.off) + "+" + itoa(o.n) + "@" + itoa(o.fileo)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func objsOf(ev Event) []obj {
	var out []obj
	for _, o := range ev.Objects {
		p := o.Path
		if o.Kind == bmap.KindDisk || o.Kind == bmap.KindPartition {
			p = o.Device
		}
		out = append(out, obj{o.Kind, p, o.Off, o.Len, o.FileOff})
	}
	return out
}

func TestEvents(t *testing.T) {
	m := testMap()
	ix := bmap.NewIndex(m)
	v := func(off, n int64) obj { return obj{bmap.KindDisk, "/dev/sda", off, n, -1} }
	p := func(off, n int64) obj { return obj{bmap.KindPartition, "/dev/sda1", off, n, -1} }
	tests := []struct {
		name   string
		export string
		off    int64
		n      uint32
		want   []obj
	}{
		{"disk only", "", 0, 512, []obj{v(0, 512)}},
		{"metadata over partition", "", 64 * K, 512, []obj{{bmap.KindMeta, "superblock", 64 * K, 512, -1}, p(64*K, 512), v(64*K, 512)}},
		{"directory", "", 68*K + 100, 100, []obj{{bmap.KindDir, "/", 68*K + 100, 100, 100}, p(68*K+100, 100), v(68*K+100, 100)}},
		{"inside a file", "", 74 * K, 512, []obj{{bmap.KindFile, "/a", 74 * K, 512, 2 * K}, p(74*K, 512), v(74*K, 512)}},
		{"spanning two files", "", 78 * K, 4 * K, []obj{
			// Both are files; the narrower first (the index's order).
			{bmap.KindFile, "/b", 80 * K, 2 * K, 0},
			{bmap.KindFile, "/a", 78 * K, 2 * K, 6 * K},
			p(78*K, 4*K), v(78*K, 4*K)}},
		{"second extent of a fragmented file", "", 100*K + 512, 1024, []obj{{bmap.KindFile, "/a", 100*K + 512, 1024, 8*K + 512}, p(100*K+512, 1024), v(100*K+512, 1024)}},
		{"index block of a file", "", 96 * K, 512, []obj{{bmap.KindFile, "/a", 96 * K, 512, -1}, p(96*K, 512), v(96*K, 512)}},
		{"partition gap past the files", "", 200 * K, 4 * K, []obj{p(200*K, 4*K), v(200*K, 4*K)}},
		{"past the end of the map", "", 2 << 20, 512, nil},
		{"second disk by export name", "sdb", 2<<20 + 4*K, 512, []obj{{bmap.KindFile, "/c", 2<<20 + 4*K, 512, 4 * K}, {bmap.KindDisk, "/dev/sdb", 2<<20 + 4*K, 512, -1}}},
		{"unknown export is disk 1", "nope", 74 * K, 512, []obj{{bmap.KindFile, "/a", 74 * K, 512, 2 * K}, p(74*K, 512), v(74*K, 512)}},
	}
	c := &capture{}
	start := time.Now()
	lg := New(ix, Options{Exports: map[string]int{"sda": 1, "sdb": 2}, Start: start}, c)
	for i, tc := range tests {
		lg.Log(Read{Conn: uint64(i + 1), Export: tc.export, Off: tc.off, Len: tc.n, Start: start.Add(time.Duration(i) * time.Millisecond)})
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if len(c.events) != len(tests) {
		t.Fatalf("%d events, want %d", len(c.events), len(tests))
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := c.events[i]
			if ev.Off != tc.off || ev.Len != tc.n || ev.Conn != uint64(i+1) || ev.Export != tc.export {
				t.Errorf("event %+v does not match the read", ev)
			}
			if ev.Time != time.Duration(i)*time.Millisecond {
				t.Errorf("Time %v, want %v", ev.Time, time.Duration(i)*time.Millisecond)
			}
			got := objsOf(ev)
			if !slices.Equal(got, tc.want) {
				t.Errorf("objects:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	if !c.closed {
		t.Error("sink not closed")
	}
	if s := lg.Stats(); s.Events != int64(len(tests)) || s.Late != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestNoDrops logs from many goroutines in front of a slow sink: every
// read must arrive, each connection's in order.
func TestNoDrops(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	c := &capture{delay: 20 * time.Microsecond}
	lg := New(ix, Options{}, c)
	const conns, per = 8, 300
	var wg sync.WaitGroup
	for g := range conns {
		wg.Go(func() {
			for i := range per {
				lg.Log(Read{Conn: uint64(g + 1), Off: int64(i) * 512, Len: 512})
			}
		})
	}
	wg.Wait()
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if len(c.events) != conns*per {
		t.Fatalf("%d events, want %d", len(c.events), conns*per)
	}
	next := make([]int64, conns+1)
	for _, ev := range c.events {
		if ev.Off != next[ev.Conn] {
			t.Fatalf("connection %d: read at %d, want %d (out of order or lost)", ev.Conn, ev.Off, next[ev.Conn])
		}
		next[ev.Conn] += 512
	}
	if s := lg.Stats(); s.Events != conns*per || s.Blocked != 0 {
		t.Errorf("Stats %+v, want %d events, none blocked", s, conns*per)
	}
}

// TestStalledDestination: while the trace's file or terminal takes
// nothing, Log goes on (the sinks' writers hold the output), and once it
// takes again every event is there, in order.
func TestStalledDestination(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	release := make(chan struct{})
	var mu sync.Mutex
	var nd, con bytes.Buffer
	stalled := func(b *bytes.Buffer) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			<-release
			mu.Lock()
			defer mu.Unlock()
			return b.Write(p)
		})
	}
	n, err := NewNDJSON(stalled(&nd), Header{})
	if err != nil {
		t.Fatal(err)
	}
	lg := New(ix, Options{FlushInterval: time.Millisecond}, n, NewConsole(stalled(&con), true))
	const reads = 20000 // several NDJSON buffers
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for i := range reads {
			lg.Log(Read{Conn: 1, Off: int64(i%240) * 512, Len: 512})
		}
	}()
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		t.Fatal("Log waited for a stalled destination")
	}
	close(release)
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if s := lg.Stats(); s.Events != reads || s.Blocked != 0 {
		t.Errorf("Stats %+v, want %d events, none blocked", s, reads)
	}
	i := 0
	if _, err := ReadNDJSON(&nd, func(ev *JSONEvent) error {
		if want := int64(i%240) * 512; ev.Off != want {
			return fmt.Errorf("event %d at %d, want %d", i, ev.Off, want)
		}
		i++
		return nil
	}); err != nil || i != reads {
		t.Fatalf("NDJSON: %d events, %v", i, err)
	}
	// The console as it is without the stall.
	var ref bytes.Buffer
	rl := New(ix, Options{}, NewConsole(&ref, true))
	for i := range reads {
		rl.Log(Read{Conn: 1, Off: int64(i%240) * 512, Len: 512})
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	if con.String() != ref.String() || ref.Len() == 0 {
		t.Errorf("console after the stall: %d bytes, differs from the %d bytes without", con.Len(), ref.Len())
	}
}

func TestFlushAndClose(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	c := &capture{}
	lg := New(ix, Options{FlushInterval: time.Hour}, c)
	for i := range 10 {
		lg.Log(Read{Off: int64(i) * 512, Len: 512})
	}
	if err := lg.Flush(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	n, f := len(c.events), c.flushes
	c.mu.Unlock()
	if n != 10 || f == 0 {
		t.Fatalf("after Flush: %d events, %d flushes; want 10 and at least 1", n, f)
	}
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	lg.Log(Read{Off: 0, Len: 512})
	if s := lg.Stats(); s.Late != 1 || s.Events != 10 {
		t.Errorf("after Close: stats %+v, want 1 late and 10 events", s)
	}
	if lg.Flush() == nil {
		t.Error("Flush after Close gave no error")
	}
	if lg.Close() == nil {
		t.Error("second Close gave no error")
	}
}

// TestFlushInterval: a trace streams without anyone calling Flush.
func TestFlushInterval(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	lg := New(ix, Options{FlushInterval: time.Millisecond}, NewConsole(w, false))
	defer lg.Close()
	lg.Log(Read{Off: 74 * K, Len: 512})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		s := out.String()
		mu.Unlock()
		if s == "read f /dev/sda1 /a\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console output %q 10 s after the read, want it flushed", s)
		}
		time.Sleep(time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestSinkError(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	boom := errors.New("disk full")
	c := &capture{err: boom}
	lg := New(ix, Options{}, c)
	lg.Log(Read{Off: 0, Len: 512})
	lg.Log(Read{Off: 0, Len: 512})
	err := lg.Close()
	if !errors.Is(err, boom) {
		t.Fatalf("Close: %v, want %v", err, boom)
	}
	if s := lg.Stats(); s.Errors != 2 || s.Events != 2 {
		t.Errorf("stats %+v, want 2 errors, 2 events", s)
	}
}

// consoleReads is the read sequence of the console golden files: one
// connection reading as a boot loader does, then a second connection
// interleaving.
var consoleReads = []Read{
	{Conn: 1, Off: 0, Len: 512},                   // v
	{Conn: 1, Off: 512, Len: 512},                 // v again: suppressed
	{Conn: 1, Off: 64 * K, Len: 1024},             // m superblock
	{Conn: 1, Off: 68 * K, Len: 4096},             // d /
	{Conn: 1, Off: 72 * K, Len: 4096},             // f /a
	{Conn: 1, Off: 76 * K, Len: 4096},             // f /a: suppressed
	{Conn: 1, Off: 78 * K, Len: 4096},             // /a and /b: /a holds the first byte
	{Conn: 1, Off: 80 * K, Len: 4096},             // f /b
	{Conn: 1, Off: 88 * K, Len: 512},              // f /we\ird\n, escaped
	{Conn: 1, Off: 96 * K, Len: 512},              // /a's index block: the file
	{Conn: 1, Off: 200 * K, Len: 512},             // p
	{Conn: 1, Off: 2 << 20, Len: 512},             // nothing: no line
	{Conn: 2, Off: 200 * K, Len: 512},             // p from another connection: suppressed
	{Conn: 1, Off: 72 * K, Len: 512},              // f /a
	{Conn: 2, Off: 80 * K, Len: 512},              // f /b
	{Conn: 1, Off: 72 * K, Len: 512},              // f /a again
	{Conn: 1, Off: 72 * K, Len: 512, Cache: true}, // a prefetch of /a
}

func TestConsoleGolden(t *testing.T) {
	for _, ranges := range []bool{false, true} {
		name := "console"
		if ranges {
			name = "console-ranges"
		}
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			lg := New(bmap.NewIndex(testMap()), Options{}, NewConsole(&out, ranges))
			for _, r := range consoleReads {
				lg.Log(r)
			}
			if err := lg.Close(); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".golden", out.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestConsoleRules checks the rules the golden file shows, independently
// of it.
func TestConsoleRules(t *testing.T) {
	run := func(ranges bool, reads ...Read) string {
		var out bytes.Buffer
		lg := New(bmap.NewIndex(testMap()), Options{}, NewConsole(&out, ranges))
		for _, r := range reads {
			lg.Log(r)
		}
		if err := lg.Close(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	tests := []struct {
		name   string
		ranges bool
		reads  []Read
		want   string
	}{
		{"priority f over p and v", false, []Read{{Off: 74 * K, Len: 512}}, "read f /dev/sda1 /a\n"},
		{"priority m over p", false, []Read{{Off: 64 * K, Len: 512}}, "read m /dev/sda1 superblock\n"},
		{"priority d over m", false, []Read{{Off: 67 * K, Len: 2 * K}}, "read d /dev/sda1 /\n"},
		{"every file whose contents a read touched, in disk order", false, []Read{{Off: 78 * K, Len: 4 * K}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\n"},
		{"a file then two: the line already printed is not repeated", false, []Read{{Off: 78 * K, Len: 512}, {Off: 79 * K, Len: 10 * K}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\nread f /dev/sda1 /we\\\\ird\\n\n"},
		{"the same two files twice: printed once", false, []Read{{Off: 78 * K, Len: 4 * K}, {Off: 79 * K, Len: 2 * K}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\n"},
		{"two files then one of them: suppressed", false, []Read{{Off: 78 * K, Len: 4 * K}, {Off: 81 * K, Len: 512}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\n"},
		{"two files, ranges on the last line", true, []Read{{Off: 78 * K, Len: 4 * K}, {Off: 81 * K, Len: 512}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\n 13800-14800 14400-14600\n"},
		{"an index block and a file: the file alone", false, []Read{{Off: 92 * K, Len: 8 * K}},
			"read f /dev/sda1 /bad\xff\n"},
		{"duplicates suppressed", false, []Read{{Off: 72 * K, Len: 512}, {Off: 73 * K, Len: 512}, {Off: 100 * K, Len: 512}},
			"read f /dev/sda1 /a\n"},
		{"not suppressed after another line", false, []Read{{Off: 72 * K, Len: 512}, {Off: 80 * K, Len: 512}, {Off: 72 * K, Len: 512}},
			"read f /dev/sda1 /a\nread f /dev/sda1 /b\nread f /dev/sda1 /a\n"},
		{"a read of nothing breaks no run", false, []Read{{Off: 72 * K, Len: 512}, {Off: 2 << 20, Len: 512}, {Off: 72 * K, Len: 512}},
			"read f /dev/sda1 /a\n"},
		{"ranges", true, []Read{{Off: 72 * K, Len: 512}, {Off: 73 * K, Len: 512}, {Off: 80 * K, Len: 4 * K}},
			"read f /dev/sda1 /a\n 12000-12200 12400-12600\nread f /dev/sda1 /b\n 14000-15000\n"},
		{"escaped name", false, []Read{{Off: 88 * K, Len: 512}}, "read f /dev/sda1 /we\\\\ird\\n\n"},
		{"nothing", true, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.ranges, tc.reads...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConsoleMFTRecords: an NTFS file's own MFT record is an extent of the
// file (role record, no file offset) inside $MFT (metadata). A read of the
// record names the file, whether the file is smaller or larger than the
// MFT; a read of records names the first file in disk order (records are
// not contents: one line); a resident file's value (role inline, inside
// its record) is contents: a page of records names each resident file
// whose bytes it holds.
func TestConsoleMFTRecords(t *testing.T) {
	rec := func(off int64) bmap.Extent { return bmap.Extent{Off: off, Len: K, FileOff: -1, Role: bmap.RoleRecord} }
	m := &bmap.Map{
		Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 30}},
		Objects: []bmap.Object{
			{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda", Extents: []bmap.Extent{{Off: 0, Len: 1 << 30, FileOff: -1, Role: bmap.RoleMeta}}},
			{Disk: 1, Kind: bmap.KindPartition, Device: "/dev/sda3", Extents: []bmap.Extent{{Off: 1 << 20, Len: 1<<30 - 1<<20, FileOff: -1, Role: bmap.RoleMeta}}},
			{Disk: 1, Kind: bmap.KindMeta, Device: "/dev/sda3", Path: "$MFT", Size: 64 * K, Extents: []bmap.Extent{{Off: 2 << 20, Len: 64 * K, FileOff: -1, Role: bmap.RoleMeta}}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda3", Path: "/boot/vmlinuz", Size: 8 << 20, Extents: []bmap.Extent{
				rec(2<<20 + 40*K), {Off: 16 << 20, Len: 8 << 20, FileOff: 0, Role: bmap.RoleData}}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda3", Path: "/boot/grub/grub.cfg", Size: 200, Extents: []bmap.Extent{
				rec(2<<20 + 41*K), {Off: 2<<20 + 41*K + 0x98, Len: 200, FileOff: 0, Role: bmap.RoleInline}}},
			{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda3", Path: "/Windows/System32/init.sh", Size: 400, Extents: []bmap.Extent{
				rec(2<<20 + 42*K), {Off: 2<<20 + 42*K + 0x98, Len: 400, FileOff: 0, Role: bmap.RoleInline}}},
		},
	}
	run := func(reads ...Read) string {
		var out bytes.Buffer
		lg := New(bmap.NewIndex(m), Options{}, NewConsole(&out, false))
		for _, r := range reads {
			lg.Log(r)
		}
		if err := lg.Close(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, tc := range []struct {
		name string
		read Read
		want string
	}{
		{"the record of a file larger than the MFT", Read{Off: 2<<20 + 40*K, Len: K}, "read f /dev/sda3 /boot/vmlinuz\n"},
		{"the record of a resident file", Read{Off: 2<<20 + 42*K, Len: K}, "read f /dev/sda3 /Windows/System32/init.sh\n"},
		{"a page of records: the resident files whose bytes it holds", Read{Off: 2<<20 + 40*K, Len: 4 * K},
			"read f /dev/sda3 /boot/grub/grub.cfg\nread f /dev/sda3 /Windows/System32/init.sh\n"},
		{"records of non-resident files: the first file's", Read{Off: 2<<20 + 40*K, Len: K + 0x90}, "read f /dev/sda3 /boot/vmlinuz\n"},
		{"a record's header alone", Read{Off: 2<<20 + 41*K, Len: 0x90}, "read f /dev/sda3 /boot/grub/grub.cfg\n"},
		{"a record with its resident bytes", Read{Off: 2<<20 + 41*K, Len: 512}, "read f /dev/sda3 /boot/grub/grub.cfg\n"},
		{"MFT records of no file", Read{Off: 2 << 20, Len: 4 * K}, "read m /dev/sda3 $MFT\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.read); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFlushAfterIdle: the flusher sleeps while no read comes; the first
// read after a pause must still be flushed, and Close must end it.
func TestFlushAfterIdle(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	c := &capture{}
	lg := New(ix, Options{FlushInterval: time.Millisecond}, c)
	flushes := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flushes
	}
	for round := 1; round <= 3; round++ {
		time.Sleep(50 * time.Millisecond)
		before := flushes()
		lg.Log(Read{Off: 74 * K, Len: 512})
		deadline := time.Now().Add(10 * time.Second)
		for flushes() == before {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the read was not flushed 10 s after it", round)
			}
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.closed || len(c.events) != 3 {
		t.Fatalf("closed %v, %d events", c.closed, len(c.events))
	}
}

// TestFlushAfterBusyWriter: a flush that finds the sink's writer busy
// keeps the sink's part-filled buffer back; once the writer is free, that
// output must still go out within a flush interval or so, with no more
// reads to prompt it and no Flush or Close.
func TestFlushAfterBusyWriter(t *testing.T) {
	ix := bmap.NewIndex(testMap())
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		once.Do(func() { <-release }) // the first write waits
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	nd, err := NewNDJSON(w, Header{})
	if err != nil {
		t.Fatal(err)
	}
	lg := New(ix, Options{FlushInterval: time.Millisecond}, nd)
	defer lg.Close()
	// A full buffer (which the writer takes and sits on), then a few more.
	reads := 0
	for nd.sp.idle() {
		lg.Log(Read{Conn: 1, Off: 74 * K, Len: 512})
		reads++
	}
	for range 10 {
		lg.Log(Read{Conn: 1, Off: 74 * K, Len: 512})
		reads++
	}
	time.Sleep(20 * time.Millisecond) // flushes that find the writer busy
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		lines := bytes.Count(out.Bytes(), []byte("\n"))
		mu.Unlock()
		if lines == reads+1 { // the header and every read
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines written 10 s after the writer was freed, want %d", lines, reads+1)
		}
		time.Sleep(time.Millisecond)
	}
}
