package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/logger"
	"github.com/virt-bmap/virt-bmap/reports"
)

func TestParseReportArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want reportConfig
		err  string
	}{
		{"outputs", []string{"t.ndjson", "-o", "a.json", "--output", "b.txt", "-o", "-"},
			reportConfig{trace: "t.ndjson", outputs: []string{"a.json", "b.txt", "-"}, top: 20}, ""},
		{"options first", []string{"--bmap", "m", "-q", "--top", "5", "t"},
			reportConfig{trace: "t", bmap: "m", quiet: true, top: 5}, ""},
		{"no map", []string{"--no-map", "t"}, reportConfig{trace: "t", noMap: true, top: 20}, ""},
		{"no trace", []string{"-o", "a.json"}, reportConfig{}, "no TRACE"},
		{"two traces", []string{"a", "b"}, reportConfig{}, "one TRACE, not 2"},
		{"bmap and no-map", []string{"--bmap", "m", "--no-map", "t"}, reportConfig{}, "exclusive"},
		{"unknown format", []string{"t", "-o", "r.pdf"}, reportConfig{}, `unknown report format ".pdf"`},
		{"no extension", []string{"t", "-o", "report"}, reportConfig{}, "no extension"},
		{"empty output", []string{"t", "-o", ""}, reportConfig{}, "unknown report format (no extension)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReportArgs(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
	c, err := parseArgs([]string{"--report", "a.json", "x.img", "--report", "b.html"})
	if err != nil || !reflect.DeepEqual(c.reports, []string{"a.json", "b.html"}) {
		t.Errorf("--report twice: %v %q", err, c.reports)
	}
}

func TestReportExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"unknown report format", []string{"--report", "r.pdf", sampleXZ}, 1, `--report: report r.pdf: unknown report format ".pdf"`},
		{"no-trace with report", []string{"--no-trace", "--report", "r.json", sampleXZ}, 1, "--no-trace"},
		{"report in a missing directory", []string{"-q", "--report", filepath.Join(dir, "no/r.json"), sampleXZ, "--run", "true"}, 1, "--report"},
		{"report subcommand: missing trace", []string{"report", filepath.Join(dir, "nope.ndjson")}, 1, "no such file"},
		{"report subcommand: not a trace", []string{"report", "run_test.go"}, 1, "run_test.go: ndjson: line 1 (header)"},
		{"report subcommand: bad option", []string{"report", "--bogus", "t"}, 1, "bmaplogger report: unrecognized option '--bogus'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, status := runCmd(t, tc.args...)
			if status != tc.status || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("status %d, stderr %q; want %d and %q", status, stderr, tc.status, tc.stderr)
			}
		})
	}
	if out, _, st := runCmd(t, "report", "-h"); st != 0 || !strings.Contains(out, "usage: bmaplogger report") {
		t.Errorf("report -h: %d %q", st, out)
	}
}

// TestCaptiveReport: an nbdcopy of the xz sample with --report in every
// format; the text report at the end on stderr (not stdout, where the
// console trace and the command's output go); the JSON report's totals
// against the NDJSON trace; "bmaplogger report" on the trace (the map
// rebuilt from the image the header names) gives the same bytes.
func TestCaptiveReport(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy")
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.ndjson")
	rj, rt := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.txt")
	stdout, stderr, st := runCmd(t, "--json", trace, "--report", rj, "--report", rt, sampleXZ, "--run", `nbdcopy "$uri" - | wc -c`)
	if st != 0 {
		t.Fatalf("status %d: %s", st, stderr)
	}
	txt, err := os.ReadFile(rt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stderr, "\n"+string(txt)) || strings.Contains(stdout, "Trace:") {
		t.Errorf("the text report is not at the end of stderr (and only there):\nstderr %q\nstdout %q", stderr, stdout)
	}
	f, err := os.Open(rj)
	if err != nil {
		t.Fatal(err)
	}
	s, err := reports.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tf, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	var n, bytesRead int64
	h, err := logger.ReadNDJSON(tf, func(ev *logger.JSONEvent) error {
		n++
		bytesRead += int64(ev.Len)
		return nil
	})
	tf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.Totals.Requests != n || s.Totals.Bytes != bytesRead || !s.Start.Equal(h.Start) || !reflect.DeepEqual(s.Exports, h.Exports) {
		t.Errorf("report: %d requests %d bytes start %v exports %+v; trace: %d %d %v %+v", s.Totals.Requests, s.Totals.Bytes, s.Start, s.Exports, n, bytesRead, h.Start, h.Exports)
	}
	var sizes int
	for _, o := range s.Objects {
		if o.Type == 'f' && o.Size > 0 && o.Share != nil {
			sizes++
		}
	}
	if sizes == 0 {
		t.Errorf("no file with a size and share: was the map used?")
	}

	// Replay: the same JSON and text, the map rebuilt from the xz image.
	r2j, r2t := filepath.Join(dir, "r2.json"), filepath.Join(dir, "r2.txt")
	if _, stderr, st := runCmd(t, "report", trace, "-o", r2j, "-o", r2t); st != 0 {
		t.Fatalf("report: status %d: %s", st, stderr)
	}
	for _, p := range [][2]string{{rj, r2j}, {rt, r2t}} {
		a, _ := os.ReadFile(p[0])
		b, err := os.ReadFile(p[1])
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (%v)", p[1], p[0], err)
		}
	}
	// Without -o: the text on stdout. With the image gone: no map,
	// a message, the same counts.
	out, _, st := runCmd(t, "report", "-q", trace)
	if st != 0 || out != string(txt) {
		t.Errorf("report to stdout: status %d, %q", st, out)
	}
	moved := filepath.Join(dir, "moved.ndjson")
	data, _ := os.ReadFile(trace)
	data = bytes.Replace(data, []byte(`"image":"`), []byte(`"image":"/nonexistent/`), 1)
	os.WriteFile(moved, data, 0o644)
	_, stderr, st = runCmd(t, "report", moved, "-o", filepath.Join(dir, "r3.json"))
	if st != 0 || !strings.Contains(stderr, "no map") {
		t.Errorf("image gone: status %d, stderr %q", st, stderr)
	}
}

// TestNbdinfoConnections: nbdinfo reads nothing (size and allocation map
// only); its connection is counted all the same, in the live reports and
// in the trace's last line, so that "bmaplogger report" says the same
// (issue 18: a nbdinfo run showed 0 connections).
func TestNbdinfoConnections(t *testing.T) {
	testutil.NeedTools(t, "nbdinfo")
	dir := t.TempDir()
	trace, rt, rt2 := filepath.Join(dir, "t.ndjson"), filepath.Join(dir, "r.txt"), filepath.Join(dir, "r2.txt")
	if _, stderr, st := runCmd(t, "-q", "--json", trace, "--report", rt, sampleXZ, "--run", `nbdinfo --map "$uri" >/dev/null`); st != 0 {
		t.Fatalf("status %d: %s", st, stderr)
	}
	if _, stderr, st := runCmd(t, "report", "-q", trace, "-o", rt2); st != 0 {
		t.Fatalf("report: status %d: %s", st, stderr)
	}
	for _, p := range []string{rt, rt2} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(string(b), "\n"); !strings.Contains(first, "0 requests") || !strings.HasSuffix(first, ", 1 connection") {
			t.Errorf("%s: %q, want 0 requests and 1 connection", filepath.Base(p), first)
		}
	}
}
