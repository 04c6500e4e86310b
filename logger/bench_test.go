package logger

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil/maptest"
)

// benchMap is maptest.Files with files of 64 KiB.
func benchMap(n int) *bmap.Map { return maptest.Files(n, 64<<10) }

func benchEvent(b *testing.B, ix *bmap.Index, off int64, n uint32) *Event {
	ev := &Event{Time: 1234567, Dur: 8000, Conn: 1, Export: "disk.img", Disk: 1, Off: off, Len: n}
	for _, h := range ix.Lookup(1, off, int64(n)) {
		ev.Objects = append(ev.Objects, Object{Object: h.Object, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
	}
	if len(ev.Objects) < 3 {
		b.Fatalf("bench read touches %d objects", len(ev.Objects))
	}
	return ev
}

// BenchmarkNDJSONWrite is the cost of encoding one event of three objects.
func BenchmarkNDJSONWrite(b *testing.B) {
	m := benchMap(1000)
	ix := bmap.NewIndex(m)
	ev := benchEvent(b, ix, 1<<20+500*(68<<10)+8192, 4096)
	nd, err := NewNDJSON(io.Discard, Header{Start: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	nd.SetMap(m)
	b.ReportAllocs()
	for b.Loop() {
		if err := nd.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsoleWrite alternates two files, so every event prints a line.
func BenchmarkConsoleWrite(b *testing.B) {
	ix := bmap.NewIndex(benchMap(1000))
	ev1 := benchEvent(b, ix, 1<<20+500*(68<<10)+8192, 4096)
	ev2 := benchEvent(b, ix, 1<<20+501*(68<<10)+8192, 4096)
	c := NewConsole(io.Discard, true)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := ev1
		if i&1 == 1 {
			ev = ev2
		}
		i++
		if err := c.Write(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline is the whole trace path at full speed: Log on the
// caller's goroutine (the lock, the lookup, the NDJSON encoding), the
// sinks' writer goroutines writing to io.Discard; 4 KiB reads walking the
// disk. ns/op is the sustained cost per event, which bounds the IOPS a
// trace keeps up with; blocked/op says how often Log had to wait for a
// writer.
func BenchmarkPipeline(b *testing.B) {
	for _, sinks := range []string{"ndjson", "ndjson+console"} {
		b.Run(sinks, func(b *testing.B) {
			m := benchMap(20000)
			ix := bmap.NewIndex(m)
			size := m.Disks[0].Size
			nd, _ := NewNDJSON(io.Discard, Header{Start: time.Now()})
			nd.SetMap(m)
			ss := []Sink{nd}
			if sinks == "ndjson+console" {
				ss = append(ss, NewConsole(io.Discard, false))
			}
			lg := New(ix, Options{}, ss...)
			now := time.Now()
			off := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				lg.Log(Read{Conn: 1, Export: "disk.img", Off: off, Len: 4096, Start: now})
				off = (off + 4096) % size
			}
			if err := lg.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			lg.Close()
			b.ReportMetric(float64(lg.Stats().Blocked)/float64(b.N), "blocked/op")
		})
	}
}

// BenchmarkPipelineLarge is the trace path for nbdcopy's 256 KiB reads
// over a disk of 20,000 small files (4 KiB, each after a metadata block):
// every read touches 64 objects. ns/op is per read.
func BenchmarkPipelineLarge(b *testing.B) {
	m := maptest.Files(20000, 4096)
	ix := bmap.NewIndex(m)
	size := m.Disks[0].Size
	nd, _ := NewNDJSON(io.Discard, Header{Start: time.Now()})
	nd.SetMap(m)
	lg := New(ix, Options{}, nd)
	now := time.Now()
	off := int64(1 << 20)
	if n := len(ix.Lookup(1, off, 256<<10)); n < 60 {
		b.Fatalf("a 256 KiB read touches %d objects", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		lg.Log(Read{Conn: 1, Export: "disk.img", Off: off, Len: 256 << 10, Start: now})
		off += 256 << 10
		if off+256<<10 > size {
			off = 1 << 20
		}
	}
	if err := lg.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	lg.Close()
	b.ReportMetric(float64(lg.Stats().Blocked)/float64(b.N), "blocked/op")
}

// BenchmarkLogParallel is the cost of Log as the NBD server's connections
// pay it, four goroutines at once, with a sink that does nothing (so the
// lock and the lookup, not the encoding, are measured).
func BenchmarkLogParallel(b *testing.B) {
	ix := bmap.NewIndex(benchMap(100))
	lg := New(ix, Options{}, nopSink{})
	now := time.Now()
	b.SetParallelism(2) // 2 x GOMAXPROCS goroutines
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		off := int64(0)
		for pb.Next() {
			lg.Log(Read{Conn: 1, Off: off, Len: 4096, Start: now})
			off = (off + 4096) % (1 << 20)
		}
	})
	lg.Flush()
	b.StopTimer()
	lg.Close()
	b.ReportMetric(float64(lg.Stats().Blocked)/float64(b.N), "blocked/op")
}

type nopSink struct{}

func (nopSink) Write(*Event) error { return nil }
func (nopSink) Flush() error       { return nil }
func (nopSink) Close() error       { return nil }

// BenchmarkTrace is Log's work per read without the lock and the writer
// goroutine: lookup, Event, NDJSON encoding, on one goroutine, so that
// its ns/op is the CPU the trace costs per request
// (BenchmarkPipeline* add the lock and the writing).
// 4k: fio's 4 KiB reads at random places of a disk of 20,000 files of
// 64 KiB (three objects each); 256k: nbdcopy's 256 KiB reads walking a
// disk of 20,000 files of 4 KiB (64 objects each).
func BenchmarkTrace(b *testing.B) {
	for _, tc := range []struct {
		name     string
		fileSize int64
		n        uint32
		random   bool
	}{
		{"4k", 64 << 10, 4096, true},
		{"256k", 4096, 256 << 10, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := maptest.Files(20000, tc.fileSize)
			ix := bmap.NewIndex(m)
			nd, _ := NewNDJSON(io.Discard, Header{Start: time.Now()})
			nd.SetMap(m)
			l := &Logger{sinks: []Sink{nd}, start: time.Now()}
			tr := tracer{l: l, ix: ix, lastDisk: 1}
			size := m.Disks[0].Size
			r := rand.New(rand.NewPCG(1, 2))
			off := int64(1 << 20)
			rd := Read{Conn: 1, Export: "disk.img", Len: tc.n, Start: time.Now(), Dur: 8000}
			objs := 0
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if tc.random {
					off = 1<<20 + r.Int64N(size-1<<20-int64(tc.n))&^4095
				} else if off += int64(tc.n); off+int64(tc.n) > size {
					off = 1 << 20
				}
				rd.Off = off
				tr.trace(&rd)
				objs += len(tr.ev.Objects)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(objs)/float64(b.N), "objects/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system) in nanoseconds: on
// a machine shared with other jobs it varies less than the wall time
// ns/op reports, which counts the time the benchmark waited for a core.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkTraceMap is BenchmarkTrace/4k on a real map: the JSON map in
// $VIRT_BMAP_BENCH_MAP (say bench/bmaplogger.sh's build/bench/blbench.json;
// skipped when unset), 4 KiB reads at random places of its first disk,
// NDJSON written to a file in the test's temporary directory (the write
// path a trace pays), so that a change to the consumer's per-event cost
// shows in cpu-ns/op without the noise of a whole fio run.
func BenchmarkTraceMap(b *testing.B) {
	path := os.Getenv("VIRT_BMAP_BENCH_MAP")
	if path == "" {
		b.Skip("VIRT_BMAP_BENCH_MAP not set")
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	m, err := bmap.Read(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	ix := bmap.NewIndex(m)
	out, err := os.Create(filepath.Join(b.TempDir(), "trace.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	nd, _ := NewNDJSON(out, Header{Start: time.Now()})
	nd.SetMap(m)
	l := &Logger{sinks: []Sink{nd}, start: time.Now()}
	tr := tracer{l: l, ix: ix, lastDisk: 1}
	size := m.Disks[0].Size
	r := rand.New(rand.NewPCG(1, 2))
	rd := Read{Conn: 1, Export: "disk.img", Len: 4096, Start: time.Now(), Dur: 8000}
	objs := 0
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		rd.Off = r.Int64N(size-4096) &^ 4095
		tr.trace(&rd)
		objs += len(tr.ev.Objects)
	}
	if err := nd.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(objs)/float64(b.N), "objects/op")
}
