package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The fixture: testdata/sample.ndjson, a real trace of qemu-io reads of
// testimages/sample.img through bmaplogger, and testdata/sample.bmap.json,
// the map it was traced against (both made by testdata/mktrace.sh).

func readMap(t testing.TB, path string) *bmap.Map {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := bmap.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readTrace reads an NDJSON trace into its header and events.
func readTrace(t testing.TB, path string) (*logger.Header, []logger.JSONEvent) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []logger.JSONEvent
	h, err := logger.ReadNDJSON(f, func(ev *logger.JSONEvent) error {
		evs = append(evs, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, evs
}

// summarise aggregates events of an NDJSON trace, against m (may be nil).
func summarise(h *logger.Header, evs []logger.JSONEvent, m *bmap.Map) *Summary {
	a := NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})
	for i := range evs {
		a.AddJSON(&evs[i])
	}
	return a.Summary()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to make it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

// redact zeroes the times of s, which change each time
// testdata/mktrace.sh runs (the reads, and so everything else, do not):
// the start, the duration, first and last reads, and the timeline, whose
// buckets are folded into one. TestSummaryAgainstTrace checks the times.
func redact(s *Summary) {
	s.Start, s.Duration = time.Time{}, 0
	for i := range s.Objects {
		s.Objects[i].First, s.Objects[i].Last = 0, 0
	}
	for i := range s.Layout {
		for j := range s.Layout[i].Reads {
			s.Layout[i].Reads[j].First = 0
		}
	}
	all := Bucket{ByDevice: map[string]int64{}}
	for _, b := range s.Timeline.Buckets {
		all.Requests += b.Requests
		all.Bytes += b.Bytes
		for k, v := range b.ByDevice {
			all.ByDevice[k] += v
		}
	}
	s.Timeline = Timeline{Buckets: []Bucket{all}}
}

// TestGolden renders the fixture's summary, with its map and without,
// as JSON and text, times redacted.
func TestGolden(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	m := readMap(t, "testdata/sample.bmap.json")
	for _, tc := range []struct {
		name string
		m    *bmap.Map
	}{{"sample", m}, {"sample-nomap", nil}} {
		s := summarise(h, evs, tc.m)
		redact(s)
		t.Run(tc.name+".json", func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteJSON(&b, s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json.golden", b.Bytes())
		})
		t.Run(tc.name+".txt", func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, s, 0); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt.golden", b.Bytes())
		})
	}
}
