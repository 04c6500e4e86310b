package reports

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil/maptest"
	"github.com/virt-bmap/virt-bmap/logger"
)

// benchEvents repeats the fixture's events to n, each copy later in time
// and (every other copy) 1 MiB further on in its partition, so the range
// sets grow as in a long boot.
func benchEvents(b *testing.B, n int) (*bmap.Map, *logger.Header, []logger.JSONEvent) {
	h, evs := readTrace(b, "testdata/sample.ndjson")
	m := readMap(b, "testdata/sample.bmap.json")
	out := make([]logger.JSONEvent, 0, n)
	for c := 0; len(out) < n; c++ {
		for _, ev := range evs {
			if len(out) == n {
				break
			}
			ev.T += int64(c) * int64(20*time.Millisecond)
			out = append(out, ev)
		}
	}
	return m, h, out
}

// BenchmarkAggregateLive: 100,000 events through the aggregator as a
// logger sink (lookups done beforehand, as the logger does them).
func BenchmarkAggregateLive(b *testing.B) {
	m, h, evs := benchEvents(b, 100_000)
	live := liveEvents(bmap.NewIndex(m), evs)
	b.ReportAllocs()
	for b.Loop() {
		a := NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})
		for i := range live {
			a.Write(&live[i])
		}
		a.Summary()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkAggregateNDJSON: the same 100,000 events as decoded NDJSON
// events (the JSON decoding itself not counted).
func BenchmarkAggregateNDJSON(b *testing.B) {
	m, h, evs := benchEvents(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		a := NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})
		for i := range evs {
			a.AddJSON(&evs[i])
		}
		a.Summary()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkScattered: 100,000 reads at scattered offsets of one disk
// (the worst case for the range sets: every read a new range, up to the
// cap).
func BenchmarkScattered(b *testing.B) {
	evs := make([]logger.JSONEvent, 100_000)
	for i := range evs {
		off := int64(i*7919%100_000) * 8192
		evs[i] = logger.JSONEvent{T: int64(i) * 1000, Conn: 1, Disk: 1, Off: off, Len: 4096,
			Objects: []logger.JSONObject{{Type: 'p', Device: "/dev/sda1", Off: off, Len: 4096}, {Type: 'v', Device: "/dev/sda", Off: off, Len: 4096}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		a := NewAggregator(nil, Options{})
		for i := range evs {
			a.AddJSON(&evs[i])
		}
		a.Summary()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkNDJSONSink: the same 100,000 live events through the NDJSON
// sink (to io.Discard), the yardstick for the aggregator's cost per event.
func BenchmarkNDJSONSink(b *testing.B) {
	m, h, evs := benchEvents(b, 100_000)
	live := liveEvents(bmap.NewIndex(m), evs)
	b.ReportAllocs()
	for b.Loop() {
		n, err := logger.NewNDJSON(io.Discard, *h)
		if err != nil {
			b.Fatal(err)
		}
		n.SetMap(m)
		for i := range live {
			n.Write(&live[i])
		}
		n.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkSinks is the consumer's cost per event for each sink set
// bmaplogger uses, on fio's pattern: 4 KiB reads at random places of a
// disk of 20,000 files of 64 KiB, each after a metadata block (three
// objects a read), written to a file in the test's temporary directory.
// "default" is bmaplogger --run's default, the console and the
// aggregator; "json" is -q --json.
func BenchmarkSinks(b *testing.B) {
	m := maptest.Files(20000, 64<<10)
	size := m.Disks[0].Size
	ix := bmap.NewIndex(m)
	r := rand.New(rand.NewPCG(1, 2))
	evs := make([]logger.Event, 1<<16)
	for i := range evs {
		off := r.Int64N(size-4096) &^ 4095
		ev := logger.Event{Time: time.Duration(i) * 25 * time.Microsecond, Dur: 8000, Conn: 1, Export: "disk.img", Disk: 1, Off: off, Len: 4096}
		for _, h := range ix.Lookup(1, off, 4096) {
			ev.Objects = append(ev.Objects, logger.Object{Object: h.Object, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
		}
		evs[i] = ev
	}
	h := logger.Header{Start: time.Now(), Exports: []logger.ExportEntry{{Name: "disk.img", Disk: 1, Device: "/dev/sda", Size: size}}}
	for _, tc := range []struct {
		name  string
		sinks func(w io.Writer) []logger.Sink
	}{
		{"json", func(w io.Writer) []logger.Sink {
			nd, _ := logger.NewNDJSON(w, h)
			nd.SetMap(m)
			return []logger.Sink{nd}
		}},
		{"console", func(w io.Writer) []logger.Sink { return []logger.Sink{logger.NewConsole(w, false)} }},
		{"aggregator", func(io.Writer) []logger.Sink {
			return []logger.Sink{NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})}
		}},
		{"default", func(w io.Writer) []logger.Sink {
			return []logger.Sink{logger.NewConsole(w, false), NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "trace"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			sinks := tc.sinks(f)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ev := &evs[i%len(evs)]
				i++
				for _, s := range sinks {
					if err := s.Write(ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, s := range sinks {
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
