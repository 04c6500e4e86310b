package nbd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests drive real clients (libnbd's nbdinfo, nbdcopy and nbdsh,
// qemu-img, qemu-io) against the server in captive mode, as nbdkit's
// tests/*.sh do.

func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// region is a run of the test image: data (fill byte, or a pattern when
// fill is 0) or a hole.
type region struct {
	off, len int64
	fill     byte
	hole     bool
}

const testImageSize = 64 << 20

// testLayout is the sparse test image, 64 KiB aligned so that every
// filesystem reports the same holes.
var testLayout = []region{
	{0, 1 << 20, 0, false},
	{1 << 20, 7 << 20, 0, true},
	{8 << 20, 1 << 20, 0xab, false},
	{9 << 20, 23 << 20, 0, true},
	{32 << 20, 64 << 10, 0, false},
	{32<<20 + 64<<10, 32<<20 - 64<<10 - 64<<10, 0, true},
	{testImageSize - 64<<10, 64 << 10, 0xcd, false},
}

func pattern(off int64) byte { return byte(off*7 + off>>12 + 1) }

// makeImage writes the sparse test image and returns its path and bytes.
func makeImage(t testing.TB) (string, []byte) {
	t.Helper()
	want := make([]byte, testImageSize)
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(testImageSize); err != nil {
		t.Fatal(err)
	}
	for _, r := range testLayout {
		if r.hole {
			continue
		}
		b := want[r.off : r.off+r.len]
		for i := range b {
			if r.fill != 0 {
				b[i] = r.fill
			} else {
				b[i] = pattern(r.off + int64(i))
			}
		}
		if _, err := f.WriteAt(b, r.off); err != nil {
			t.Fatal(err)
		}
	}
	return path, want
}

// serve starts s on a listener made from cfg and stops it at the end of the test.
func serve(t testing.TB, s *Server, cfg ListenConfig) *Endpoint {
	t.Helper()
	l, ep, cleanup, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		cleanup()
		if ep.UnixSocket != "" && cfg.Unix == "-" {
			if _, err := os.Stat(filepath.Dir(ep.UnixSocket)); !os.IsNotExist(err) {
				t.Errorf("private socket directory left behind: %v", err)
			}
		}
	})
	return ep
}

// captive runs script with the server's variables and returns its output.
func captive(t testing.TB, ep *Endpoint, script string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := RunCaptive(ctx, script, ep, &out, &out)
	if err != nil {
		t.Fatalf("RunCaptive: %v", err)
	}
	return out.String(), st
}

func mustCaptive(t testing.TB, ep *Endpoint, script string) string {
	t.Helper()
	out, st := captive(t, ep, script)
	if st != 0 {
		t.Fatalf("%s: exit status %d\n%s", script, st, out)
	}
	return out
}

// logTo collects the server's log lines.
type logTo struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTo) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logTo) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func fileServer(t testing.TB) (*Server, []byte, *logTo) {
	path, want := makeImage(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	logs := &logTo{}
	s := &Server{
		Exports: []Export{
			{Name: "disk", Description: "the test disk", Source: f},
			{Name: "aligned", Description: "512-byte blocks", Source: f, MinBlockSize: 512},
		},
		Logf: logs.logf,
	}
	return s, want, logs
}

func TestNbdinfo(t *testing.T) {
	need(t, "nbdinfo")
	s, _, _ := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})

	t.Run("list", func(t *testing.T) {
		out := mustCaptive(t, ep, `nbdinfo --list "$uri"`)
		for _, w := range []string{`export="disk"`, "description: the test disk", `export="aligned"`, "description: 512-byte blocks", "is_read_only: true", "can_multi_conn: true", "block_size_minimum: 512"} {
			if !strings.Contains(out, w) {
				t.Errorf("nbdinfo --list lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		out := mustCaptive(t, ep, `nbdinfo --json "$uri"`)
		var info struct {
			Protocol   string `json:"protocol"`
			TLS        bool   `json:"TLS"`
			Structured bool   `json:"structured"`
			Exports    []struct {
				Name     string   `json:"export-name"`
				Size     int64    `json:"export-size"`
				RO       bool     `json:"is_read_only"`
				Flush    bool     `json:"can_flush"`
				Cache    bool     `json:"can_cache"`
				DF       bool     `json:"can_df"`
				Trim     bool     `json:"can_trim"`
				Zero     bool     `json:"can_zero"`
				Contexts []string `json:"contexts"`
				Min      int      `json:"block_size_minimum"`
				Pref     int      `json:"block_size_preferred"`
				Max      int      `json:"block_size_maximum"`
			} `json:"exports"`
		}
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if info.Protocol != "newstyle-fixed" || info.TLS || !info.Structured || len(info.Exports) != 1 {
			t.Fatalf("nbdinfo --json: %+v", info)
		}
		e := info.Exports[0]
		if e.Name != "disk" || e.Size != testImageSize || !e.RO || !e.Flush || !e.Cache || !e.DF || e.Trim || e.Zero ||
			e.Min != 1 || e.Pref != 4096 || e.Max != MaxRequest || len(e.Contexts) != 1 || e.Contexts[0] != "base:allocation" {
			t.Errorf("nbdinfo --json export: %+v", e)
		}
	})
	t.Run("map", func(t *testing.T) {
		out := mustCaptive(t, ep, `nbdinfo --map "$uri"`)
		var want strings.Builder
		for _, r := range testLayout {
			typ, desc := 0, "data"
			if r.hole {
				typ, desc = 3, "hole,zero"
			}
			fmt.Fprintf(&want, "%d %d %d %s\n", r.off, r.len, typ, desc)
		}
		var got strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			got.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
		}
		if got.String() != want.String() {
			t.Errorf("nbdinfo --map:\n%s\nwant:\n%s", got.String(), want.String())
		}
	})
}

func TestCopyCompare(t *testing.T) {
	need(t, "nbdcopy", "qemu-img", "qemu-io")
	s, want, _ := fileServer(t)
	reads := 0
	var mu sync.Mutex
	s.OnRead = func(r Read) {
		mu.Lock()
		reads++
		mu.Unlock()
	}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	dir := t.TempDir()
	img := filepath.Join(dir, "copy.img")
	t.Run("nbdcopy", func(t *testing.T) {
		mustCaptive(t, ep, `nbdcopy "$uri" `+img)
		got, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("nbdcopy's copy differs from the image")
		}
		mu.Lock()
		n := reads
		mu.Unlock()
		if n == 0 {
			t.Error("OnRead was never called")
		}
	})
	t.Run("nbdcopy-connections", func(t *testing.T) {
		out := filepath.Join(dir, "copy4.img")
		mustCaptive(t, ep, `nbdcopy --connections=4 --requests=32 "$uri" `+out+` && cmp `+out+` `+img)
	})
	t.Run("qemu-img-compare", func(t *testing.T) {
		out := mustCaptive(t, ep, `qemu-img compare -f raw -F raw `+img+` "$uri"`)
		if !strings.Contains(out, "Images are identical") {
			t.Errorf("qemu-img compare: %s", out)
		}
	})
	t.Run("qemu-io-read", func(t *testing.T) {
		out := mustCaptive(t, ep, `qemu-io -r -f raw "$uri" -c 'read -P 0xab 8M 1M' -c 'read -P 0 2M 64k' -c 'read -P 0xcd 65472k 64k' -c 'read -v 0 32'`)
		if strings.Contains(out, "Pattern verification failed") || strings.Count(out, "read ") < 4 {
			t.Errorf("qemu-io:\n%s", out)
		}
		var hex strings.Builder
		for i := range 16 {
			fmt.Fprintf(&hex, " %02x", want[i])
		}
		if !strings.Contains(out, "00000000: "+hex.String()) {
			t.Errorf("qemu-io read -v lacks %q:\n%s", hex.String(), out)
		}
	})
	t.Run("qemu-io-write", func(t *testing.T) {
		out, st := captive(t, ep, `qemu-io -f raw "$uri" -c 'write -P 1 0 512'`)
		if st == 0 || !strings.Contains(out, "read-only") && !strings.Contains(out, "Permission denied") {
			t.Errorf("qemu-io write on a read-only export: status %d:\n%s", st, out)
		}
	})
}

func TestConcurrentClients(t *testing.T) {
	need(t, "nbdcopy")
	s, want, _ := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})
	dir := t.TempDir()
	mustCaptive(t, ep, fmt.Sprintf(`set -e; for i in $(seq 16); do nbdcopy "$uri" %s/out$i & done; for i in $(seq 16); do wait %%$i; done`, dir))
	for i := 1; i <= 16; i++ {
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("client %d: copy differs", i)
		}
	}
}

func TestTCP(t *testing.T) {
	need(t, "nbdinfo", "nbdcopy")
	s, want, _ := fileServer(t)
	ep := serve(t, s, ListenConfig{Port: -1})
	if !strings.HasPrefix(ep.URI, "nbd://localhost:") || ep.Port == "" || ep.UnixSocket != "" {
		t.Fatalf("endpoint %+v", ep)
	}
	out := filepath.Join(t.TempDir(), "copy.img")
	mustCaptive(t, ep, `nbdcopy "nbd://localhost:$port/disk" `+out)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Error("copy over TCP differs")
	}
}
