package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/logger"
	"github.com/virt-bmap/virt-bmap/nbd"
	"github.com/virt-bmap/virt-bmap/scan"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want config
		err  string
	}{
		{"image then options", []string{"a.img", "--json", "t", "-q", "--run", "x"},
			config{images: []string{"a.img"}, json: "t", quiet: true, run: "x"}, ""},
		{"options then images", []string{"--ranges", "-U", "-", "a.img", "b.img", "-e", "n"},
			config{images: []string{"a.img", "b.img"}, ranges: true, unix: "-", exportName: "n"}, ""},
		{"original form", []string{"file=a.img", "bmap=m", "logfile=l"},
			config{images: []string{"a.img"}, bmap: "m", log: "l"}, ""},
		{"nbdkit's -f and -r", []string{"-f", "-r", "file=a.img"}, config{images: []string{"a.img"}}, ""},
		{"double dash", []string{"-q", "--", "-odd.img", "--ranges"}, config{images: []string{"-odd.img", "--ranges"}, quiet: true}, ""},
		{"path with =", []string{"./x=y.img"}, config{images: []string{"./x=y.img"}}, ""},
		{"tls", []string{"--tls=require", "--tls-certificates", "d", "--tls-verify-peer", "a"},
			config{images: []string{"a"}, tls: nbd.TLSRequire, tlsCerts: "d", tlsVerify: true}, ""},
		{"port", []string{"-p", "10810", "-i", "::1", "a"}, config{images: []string{"a"}, port: 10810, addr: "::1"}, ""},
		{"port 0 is any", []string{"-p", "0", "a"}, config{images: []string{"a"}, port: -1}, ""},
		{"bad port", []string{"-p", "x", "a"}, config{}, "want a TCP port"},
		{"port too big", []string{"-p", "70000", "a"}, config{}, "want a TCP port"},
		{"bad tls", []string{"--tls=maybe", "a"}, config{}, "off, on or require"},
		{"unknown parameter", []string{"disk=a.img"}, config{}, `unknown parameter "disk=a.img"`},
		{"unknown option", []string{"--nope", "a"}, config{}, "unrecognized option '--nope'"},
		{"nbdkit's flags", []string{"-fnr", "-t", "4", "--exportname=x", "--print-uri", "-P", "p", "a"},
			config{images: []string{"a"}, threads: 4, exportName: "x", printURI: true, pidFile: "p"}, ""},
		{"oldstyle", []string{"-o", "a"}, config{}, "oldstyle NBD protocol is not served"},
		{"unknown filter", []string{"--filter=gzip", "a"}, config{}, "nbdkit filters are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.images, tc.want.images) {
				t.Errorf("images %q, want %q", got.images, tc.want.images)
			}
			got.images, tc.want.images = nil, nil
			got.formats = nil
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer the trace's consumer and the captive
// command's output copier can both write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var o, e syncBuffer
	status = run(args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), status
}

const sampleXZ = "../../testimages/sample.img.xz"

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"no image", []string{"-q"}, 1, "bmaplogger: no disk image given\nTry 'bmaplogger --help' for more information.\n"},
		{"bad option", []string{"--bogus", sampleXZ}, 1, "bmaplogger: unrecognized option '--bogus'\nTry 'bmaplogger --help'"},
		{"-U and -p", []string{"-U", "-", "-p", "1", sampleXZ}, 1, "exclusive"},
		{"no-trace with json", []string{"--no-trace", "--json", "x", sampleXZ}, 1, "--no-trace"},
		{"tls options without tls", []string{"--tls-verify-peer", sampleXZ}, 1, "need --tls"},
		{"filter explained", []string{"-q", "--filter=xz", sampleXZ, "--run", "true"}, 0, "--filter=xz: not needed"},
		{"missing image", []string{"-q", filepath.Join(dir, "nope.img"), "--run", "true"}, 1, "no such file"},
		{"missing map", []string{"-q", "--bmap", filepath.Join(dir, "nope"), sampleXZ, "--run", "true"}, 1, "--bmap"},
		{"bad map", []string{"-q", "--bmap", "run_test.go", sampleXZ, "--run", "true"}, 1, "--bmap run_test.go"},
		{"json in a missing directory", []string{"-q", "--json", filepath.Join(dir, "no/t.json"), sampleXZ, "--run", "true"}, 1, "--json"},
		{"missing certificates", []string{"-q", "--tls=on", "--tls-certificates", dir, sampleXZ, "--run", "true"}, 1, "server-cert.pem"},
		{"status passed through", []string{"-q", sampleXZ, "--run", "exit 7"}, 7, ""},
		{"success", []string{"-q", sampleXZ, "--run", "true"}, 0, ""},
		{"killed by a signal", []string{"-q", sampleXZ, "--run", "kill -9 $$"}, 128 + 9, ""},
		{"command not found", []string{"-q", sampleXZ, "--run", "no-such-command-xyz"}, 127, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, status := runCmd(t, tc.args...)
			if status != tc.status || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("status %d, stderr %q; want %d and %q", status, stderr, tc.status, tc.stderr)
			}
		})
	}
	if out, _, st := runCmd(t, "--version"); st != 0 || !strings.HasPrefix(out, "bmaplogger ") {
		t.Errorf("--version: %d %q", st, out)
	}
	if out, _, st := runCmd(t, "-h"); st != 0 || !strings.Contains(out, "usage: bmaplogger") {
		t.Errorf("-h: %d %q", st, out)
	}
}

// sampleRaw decompresses the sample image with xz (the reference
// decompressor) into dir.
func sampleRaw(t *testing.T, dir string) string {
	t.Helper()
	testutil.NeedTools(t, "xz")
	raw := filepath.Join(dir, "sample.img")
	out, err := exec.Command("xz", "-dc", sampleXZ).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(raw, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestCaptiveCopy copies the xz sample through bmaplogger with nbdcopy
// and checks the copy against xz -dc, the NDJSON trace's
// coverage and the console's rules.
func TestCaptiveCopy(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy", "xz")
	dir := t.TempDir()
	raw := sampleRaw(t, dir)
	copyPath := filepath.Join(dir, "copy.img")
	trace := filepath.Join(dir, "t.ndjson")
	logPath := filepath.Join(dir, "console.log")
	stdout, stderr, st := runCmd(t, "--json", trace, "--log", logPath, sampleXZ,
		"--run", `nbdcopy "$uri" `+copyPath+` && echo COPIED`)
	if st != 0 {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	if stdout != "COPIED\n" {
		t.Errorf("stdout %q: want only the command's output (console lines go to --log)", stdout)
	}
	if !strings.Contains(stderr, "bmaplogger: mapped ") {
		t.Errorf("stderr %q: no summary of the map built at start-up", stderr)
	}
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(copyPath)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs from xz -dc's output")
	}

	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var spans [][2]int64
	conns := map[uint64]bool{}
	h, err := logger.ReadNDJSON(f, func(ev *logger.JSONEvent) error {
		spans = append(spans, [2]int64{ev.Off, ev.Off + int64(ev.Len)})
		conns[ev.Conn] = true
		if ev.Export != "sample.img.xz" || ev.Disk != 1 {
			t.Errorf("event on export %q disk %d", ev.Export, ev.Disk)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Exports) != 1 || h.Exports[0].Size != int64(len(a)) || h.Exports[0].Device != "/dev/sda" {
		t.Errorf("header exports %+v", h.Exports)
	}
	// The requests cover the disk: nbdcopy reads every allocated byte of
	// an image with no holes reported (an xz source).
	slices.SortFunc(spans, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	end := int64(0)
	for _, s := range spans {
		if s[0] > end {
			t.Fatalf("bytes %d-%d not in the trace", end, s[0])
		}
		end = max(end, s[1])
	}
	if end != int64(len(a)) {
		t.Errorf("trace covers up to %d of %d bytes", end, len(a))
	}
	// nbdcopy uses one connection for an image this small.
	t.Logf("%d requests on %d connection(s)", len(spans), len(conns))

	lines, _ := os.ReadFile(logPath)
	ls := strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n")
	if len(ls) < 3 {
		t.Fatalf("console log %q", lines)
	}
	for i, l := range ls {
		if !strings.HasPrefix(l, "read ") {
			t.Errorf("console line %q", l)
		}
		if i > 0 && l == ls[i-1] {
			t.Errorf("line %d repeats the previous one: %q", i+1, l)
		}
	}
}

// TestMapSources: the same reads traced with the map built at start-up,
// a JSON map and a text map (the original's form, through file=, bmap=,
// logfile=) give the same console lines.
func TestMapSources(t *testing.T) {
	testutil.NeedTools(t, "qemu-io", "xz")
	dir := t.TempDir()
	raw := sampleRaw(t, dir)
	img, err := image.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := bmap.NewBuilder()
	if _, err := scan.Disk(b, 1, raw, img, img.Size(), scan.Options{}); err != nil {
		t.Fatal(err)
	}
	img.Close()
	m := b.Map()
	for name, write := range map[string]func(*os.File, *bmap.Map) error{
		"map.txt":  func(f *os.File, m *bmap.Map) error { return bmap.WriteText(f, m) },
		"map.json": func(f *os.File, m *bmap.Map) error { return bmap.WriteJSON(f, m) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f, m); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// Reads at the start of every file and directory, in map order.
	var cmds []string
	for _, o := range m.Objects {
		if (o.Kind == 'f' || o.Kind == 'd') && len(o.Extents) > 0 {
			cmds = append(cmds, "-c", "'read "+itoa(o.Extents[0].Off&^511)+" 512'")
		}
	}
	if len(cmds) < 20 {
		t.Fatalf("only %d objects to read", len(cmds)/2)
	}
	run := `qemu-io -r -f raw ` + strings.Join(cmds, " ") + ` "$uri" >/dev/null`
	logs := map[string]string{}
	for _, args := range [][]string{
		{raw, "--log", filepath.Join(dir, "memory.log")},
		{raw, "--bmap", filepath.Join(dir, "map.json"), "--log", filepath.Join(dir, "json.log")},
		{"file=" + raw, "bmap=" + filepath.Join(dir, "map.txt"), "logfile=" + filepath.Join(dir, "text.log")},
	} {
		stdout, stderr, st := runCmd(t, append(args, "--run", run)...)
		if st != 0 || stdout != "" {
			t.Fatalf("%q: status %d, stdout %q, stderr %s", args, st, stdout, stderr)
		}
		lp := args[len(args)-1]
		lp = strings.TrimPrefix(lp, "logfile=")
		out, err := os.ReadFile(lp)
		if err != nil {
			t.Fatal(err)
		}
		logs[filepath.Base(lp)] = string(out)
	}
	mem := logs["memory.log"]
	if strings.Count(mem, "\n") < len(cmds)/2/2 {
		t.Errorf("memory.log has %d lines for %d reads of distinct objects", strings.Count(mem, "\n"), len(cmds)/2)
	}
	for _, n := range []string{"json.log", "text.log"} {
		if logs[n] != mem {
			t.Errorf("%s differs from the in-memory map's trace:\n%s\n--- memory.log:\n%s", n, logs[n], mem)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestQuietAndNoTrace: -q and --no-trace keep stdout to the command's
// own output.
func TestQuietAndNoTrace(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy")
	for _, args := range [][]string{{"-q"}, {"--no-trace"}} {
		t.Run(args[0], func(t *testing.T) {
			stdout, stderr, st := runCmd(t, append(args, sampleXZ, "--run", `nbdcopy "$uri" - | wc -c`)...)
			if st != 0 {
				t.Fatalf("status %d: %s", st, stderr)
			}
			if strings.TrimSpace(stdout) != "34603008" {
				t.Errorf("stdout %q, want only wc's count", stdout)
			}
			if args[0] == "-q" && stderr != "" {
				t.Errorf("-q: stderr %q", stderr)
			}
		})
	}
	// Without -q the console lines are on stdout with the command's.
	stdout, _, st := runCmd(t, sampleXZ, "--run", `nbdcopy "$uri" - | wc -c`)
	if st != 0 || !strings.Contains(stdout, "read f /dev/sda") || !strings.Contains(stdout, "34603008\n") {
		t.Errorf("status %d, stdout %q", st, stdout)
	}
}
