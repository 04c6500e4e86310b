package reports

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// FuzzNDJSON feeds any NDJSON through ReadNDJSON into the aggregator, with
// the fixture's map and without, and renders the summary as JSON and text:
// only a panic or a hang fails. Seeded with the fixture and mutations of
// its lines.
func FuzzNDJSON(f *testing.F) {
	data, err := os.ReadFile("testdata/sample.ndjson")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	lines := bytes.SplitAfter(data, []byte("\n"))
	f.Add(bytes.Join(lines[:3], nil))
	f.Add([]byte(`{"version":1,"start":"2026-01-01T00:00:00Z","exports":[]}` + "\n" +
		`{"t_ns":-1,"dur_ns":-5,"conn":0,"disk":-3,"off":-100,"len":4294967295,"cache":true,"error":"x","objects":[{"type":"f","device":"","path":"","off":9223372036854775807,"len":9223372036854775807,"file_off":-1}]}` + "\n" +
		`{"t_ns":9223372036854775807,"dur_ns":9223372036854775807,"disk":1,"off":9223372036854775000,"len":4096,"objects":[{"type":"v","device":"/dev/sda","off":0,"len":-1,"file_off":0}]}` + "\n"))
	mf, err := os.Open("testdata/sample.bmap.json")
	if err != nil {
		f.Fatal(err)
	}
	m, err := bmap.Read(mf)
	mf.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mm := range []*bmap.Map{m, nil} {
			// The header first (as bmaplogger report does), then the
			// events up to the first bad line.
			h, err := logger.ReadNDJSON(bytes.NewReader(data), func(*logger.JSONEvent) error { return nil })
			if err != nil && h == nil {
				return
			}
			a := NewAggregator(mm, Options{Start: h.Start, Exports: h.Exports, MaxRanges: 16})
			logger.ReadNDJSON(bytes.NewReader(data), func(ev *logger.JSONEvent) error {
				a.AddJSON(ev)
				return nil
			})
			s := a.Summary()
			if err := WriteJSON(io.Discard, s); err != nil {
				t.Fatal(err)
			}
			if err := WriteText(io.Discard, s, 5); err != nil {
				t.Fatal(err)
			}
		}
	})
}
