package nbd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The file-backed path (FileBacked: READs served by the reader with
// preadv2 RWF_NOWAIT, large ones sent with sendfile) against real
// clients, on a file of an odd size with holes at odd places, and on a
// file that became shorter than the export.

// oddImage writes a sparse file of an odd size: data runs starting and
// ending off any block boundary, holes between them, data up to the last
// byte. It returns its path and bytes.
func oddImage(t testing.TB) (string, []byte) {
	t.Helper()
	const size = 3<<20 + 12345
	want := make([]byte, size)
	path := filepath.Join(t.TempDir(), "odd.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, len int64 }{
		{0, 100001},              // first block to past 96 KiB
		{1<<20 + 777, 300000},    // after a hole, unaligned at both ends
		{2<<20 + 5, 3},           // a few bytes in a 4 KiB block
		{2<<20 + 200<<10, 70001}, // over 64 KiB: sent with sendfile
		{size - 5000, 5000},      // up to the odd end
	} {
		b := want[r.off : r.off+r.len]
		for i := range b {
			b[i] = pattern(r.off + int64(i))
		}
		if _, err := f.WriteAt(b, r.off); err != nil {
			t.Fatal(err)
		}
	}
	return path, want
}

// TestFileBackedClients copies a File with nbdcopy (1 and 4 connections,
// requests of 64 KiB to 4 MiB) and qemu-img and reads odd ranges with
// nbdsh, comparing byte for byte with the file, untraced and traced (an
// OnRead hook): both send large READs with sendfile.
func TestFileBackedClients(t *testing.T) {
	need(t, "nbdcopy", "nbdsh", "qemu-img")
	path, want := oddImage(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, traced := range []bool{false, true} {
		name := "sendfile"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) {
			logs := &logTo{}
			s := &Server{Exports: []Export{{Source: f}}, Logf: logs.logf}
			var reads atomic.Int64
			if traced {
				s.OnRead = func(Read) { reads.Add(1) }
			}
			ep := serve(t, s, ListenConfig{Unix: "-"})
			dir := t.TempDir()
			check := func(what, out string) {
				t.Helper()
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				// qemu rounds the size up to 512 bytes (zeroes).
				if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) || strings.Trim(string(got[len(want):]), "\x00") != "" {
					t.Errorf("%s: the copy (%d bytes) differs from the file (%d bytes)", what, len(got), len(want))
				}
			}
			for _, c := range []struct{ name, args string }{
				{"nbdcopy", ``},
				{"nbdcopy-4", `--connections=4 --requests=16`},
				{"nbdcopy-64k", `--request-size=65536`},
				{"nbdcopy-4m", `--request-size=4194304`},
			} {
				out := filepath.Join(dir, c.name+".img")
				mustCaptive(t, ep, `nbdcopy `+c.args+` "$uri" `+out)
				check(c.name, out)
			}
			out := filepath.Join(dir, "qemu-img.img")
			mustCaptive(t, ep, `qemu-img convert -f raw -O raw "$uri" `+out)
			check("qemu-img convert", out)
			// nbdsh reads ranges across data and holes, odd at both
			// ends, and checks them against the file itself.
			script := `
f = open("` + path + `", "rb").read()
for off, n in [(0, 100001), (99999, 1 << 20), (1048577, 300000), (2097152, 4096),
               (2097152 + 204800 - 3, 70005), (3145728, 12345), (3145728 + 12345 - 131072, 131072),
               (5, 3 << 20)]:
    if h.pread(n, off) != f[off:off + n]:
        print("differs at", off, n)
print("done")
`
			scriptPath := filepath.Join(dir, "check.py")
			if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			got := mustCaptive(t, ep, nbdsh+` -u "$uri" -c "exec(open('`+scriptPath+`').read())"`)
			if strings.TrimSpace(got) != "done" {
				t.Errorf("nbdsh:\n%s", got)
			}
			if s.fileSends.Load() == 0 {
				t.Error("no READ was sent with sendfile")
			}
			if traced && reads.Load() == 0 {
				t.Error("OnRead was never called")
			}
			if l := logs.String(); l != "" {
				t.Errorf("server log:\n%s", l)
			}
		})
	}
}

// nbdsh runs nbdsh with the python3 installed beside it (the one its
// libnbd module was built for), not another earlier in $PATH.
const nbdsh = `PATH="$(dirname "$(command -v nbdsh)"):$PATH" nbdsh`

// fileOnly is a FileBacked source that does not know its holes, so that
// every READ is data from the file.
type fileOnly struct {
	f    *os.File
	size int64
}

func (s fileOnly) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }
func (s fileOnly) Size() int64                             { return s.size }
func (s fileOnly) SourceFile() *os.File                    { return s.f }

// TestFileShrunk serves a file that is then cut short: READs past the new
// end, small (preadv2, then the blocking read) and large (sendfile, which
// has sent the header already), across it and beyond it, must each get an
// EIO error while the connection goes on, in structured and simple reply
// mode, pipelined, and through nbdsh; untraced and traced, where every
// READ must be traced once, with an error exactly when the client got one.
func TestFileShrunk(t *testing.T) {
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		t.Run(name, func(t *testing.T) { testFileShrunk(t, traced) })
	}
}

func testFileShrunk(t *testing.T, traced bool) {
	const size, cut = 2 << 20, 1<<20 + 100
	path := filepath.Join(t.TempDir(), "short.img")
	data := make([]byte, size)
	for i := range data {
		data[i] = pattern(int64(i))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	logs := &logTo{}
	s := &Server{Exports: []Export{{Source: fileOnly{f, size}}}, Logf: logs.logf}
	trace := &readLog{}
	if traced {
		s.OnRead = trace.onRead
	}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	reqs := map[uint64]treq{
		1: {CmdRead, 0, 256 << 10},            // good, sendfile
		2: {CmdRead, cut - 64<<10, 128 << 10}, // across the end, sendfile
		3: {CmdRead, 3 << 19, 256 << 10},      // beyond, sendfile
		4: {CmdRead, 3 << 19, 4096},           // beyond, small
		5: {CmdRead, cut - 50, 4096},          // across, small
		6: {CmdRead, 64 << 10, 4096},          // good, small
		7: {CmdRead, cut - 100, 100},          // good, the last bytes
	}
	for _, structured := range []bool{true, false} {
		r := transClient(t, ep, structured)
		var batch []byte
		for h := uint64(1); h <= uint64(len(reqs)); h++ {
			q := reqs[h]
			batch = append(batch, r.request(q.cmd, h, q.off, q.n)...)
		}
		r.write(batch)
		for range len(reqs) {
			var h uint64
			var res result
			if structured {
				h, res = r.readStructured(t, reqs)
			} else {
				h, res = r.readSimple(t, reqs)
			}
			q := reqs[h]
			if q.off+uint64(q.n) > cut {
				if res.errno != EIO {
					t.Errorf("structured %v: READ %d+%d past the end: errno %v, want EIO", structured, q.off, q.n, res.errno)
				}
				continue
			}
			if res.errno != 0 || !bytes.Equal(res.data, data[q.off:q.off+uint64(q.n)]) {
				t.Errorf("structured %v: READ %d+%d: errno %v, data equal %v", structured, q.off, q.n, res.errno, bytes.Equal(res.data, data[q.off:q.off+uint64(q.n)]))
			}
		}
		// The connection goes on.
		r.write(r.request(CmdRead, 9, 4096, 200<<10))
		more := map[uint64]treq{9: {CmdRead, 4096, 200 << 10}}
		var res result
		if structured {
			_, res = r.readStructured(t, more)
		} else {
			_, res = r.readSimple(t, more)
		}
		if res.errno != 0 || !bytes.Equal(res.data, data[4096:4096+200<<10]) {
			t.Errorf("structured %v: READ after the errors: errno %v", structured, res.errno)
		}
		r.c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if s.fileSends.Load() == 0 {
		t.Error("no READ was sent with sendfile")
	}
	if !strings.Contains(logs.String(), "unexpected EOF") {
		t.Errorf("server log lacks the short reads:\n%s", logs.String())
	}
	need(t, "nbdsh")
	out := mustCaptive(t, ep, nbdsh+` -u "$uri" -c '
for off, n in [(1048576 - 65536, 131072), (1572864, 4096), (0, 262144)]:
    try:
        b = h.pread(n, off)
        print("ok", off, n, len(b))
    except nbd.Error as e:
        print("error", off, n, e.errno)
'`)
	want := "error 983040 131072 EIO\nerror 1572864 4096 EIO\nok 0 262144 262144\n"
	if out != want {
		t.Errorf("nbdsh:\n%s\nwant:\n%s", out, want)
	}
	if !traced {
		return
	}
	shutdown(t, s)
	// Each connection's READs: 7 and 1 per reply mode, 3 from nbdsh.
	got := trace.all()
	if len(got) != 2*(len(reqs)+1)+3 {
		t.Errorf("%d READs traced, want %d", len(got), 2*(len(reqs)+1)+3)
	}
	for _, r := range got {
		if past := r.Off+int64(r.Len) > cut; past != (r.Err != nil) {
			t.Errorf("traced READ %d+%d: error %v", r.Off, r.Len, r.Err)
		}
	}
}

// TestFileColdCache reads a File whose pages were dropped from the page
// cache (POSIX_FADV_DONTNEED after fsync): preadv2 RWF_NOWAIT finds them
// missing, the READs go to goroutines that wait for the disk, and nbdsh
// gets the file's bytes all the same, small reads and large, pipelined.
func TestFileColdCache(t *testing.T) {
	need(t, "nbdsh")
	path, _ := oddImage(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	drop := func() {
		w, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fadvise(int(w.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Skipf("fadvise DONTNEED: %v", err)
		}
	}
	drop()
	s := &Server{Exports: []Export{{Source: f}}}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	script := filepath.Join(t.TempDir(), "cold.py")
	if err := os.WriteFile(script, []byte(`
bufs = []
for off, n in [(0, 4096), (1048576 + 4096, 8192), (2097152 + 204800, 65536 + 4096), (3145728, 12345), (12288, 100)]:
    b = nbd.Buffer(n)
    h.aio_pread(b, off)
    bufs.append((off, n, b))
while h.aio_in_flight() > 0:
    h.poll(-1)
f = open("`+path+`", "rb").read()
for off, n, b in bufs:
    if b.to_bytearray() != f[off:off + n]:
        print("differs at", off, n)
print("done")
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustCaptive(t, ep, nbdsh+` -u "$uri" -c "exec(open('`+script+`').read())"`)
	if strings.TrimSpace(out) != "done" {
		t.Errorf("nbdsh:\n%s", out)
	}
	if s.coldReads.Load() == 0 {
		t.Log("every READ was found in the page cache (DONTNEED dropped nothing)")
	}
}

// readLog records what the OnRead hook is given.
type readLog struct {
	mu    sync.Mutex
	reads []Read
}

func (l *readLog) onRead(r Read) {
	l.mu.Lock()
	l.reads = append(l.reads, r)
	l.mu.Unlock()
}

func (l *readLog) all() []Read {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Read(nil), l.reads...)
}

// shutdown ends the server's connections, after which every READ they
// received has been given to OnRead.
func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestTracedSendfile: with an OnRead hook, large READs of a File still go
// out with sendfile, and the trace is complete and in order. nbdsh sends
// pipelined READs on one connection (large and small, data, holes and
// both, unaligned) and records the order in which their replies
// completed; each must carry the file's bytes, and the hook must have been
// given exactly those READs, each once, in that order, with the time the
// request arrived and, for those of data, a nonzero time spent reading;
// then a CACHE, traced as such.
func TestTracedSendfile(t *testing.T) {
	need(t, "nbdsh")
	path, _ := oddImage(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logs := &logTo{}
	trace := &readLog{}
	s := &Server{Exports: []Export{{Source: f}}, Logf: logs.logf, OnRead: trace.onRead}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	script := filepath.Join(t.TempDir(), "traced.py")
	if err := os.WriteFile(script, []byte(`
reqs = [(0, 262144), (0, 4096), (5, 100000), (1048576, 65536), (1048576 + 700, 300080),
        (2097152 + 204800, 70001), (2097152 + 204800 - 1000, 4096), (3 << 20, 12345),
        (2097152, 8), (1, 3 << 20), (4096, 65535), (65536, 65536), (300 << 10, 500 << 10)] * 3
done = []
bufs = []
def completed(off, n):
    def cb(err):
        done.append((off, n, err.value))
        return 1
    return cb
for off, n in reqs:
    b = nbd.Buffer(n)
    h.aio_pread(b, off, completion=completed(off, n))
    bufs.append((off, n, b))
while h.aio_in_flight() > 0:
    h.poll(-1)
f = open("`+path+`", "rb").read()
for off, n, b in bufs:
    if b.to_bytearray() != f[off:off + n]:
        print("differs at", off, n)
for off, n, err in done:
    print(off, n, err)
h.cache(131072, 4096)
print("cache")
`), 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	out := mustCaptive(t, ep, nbdsh+` -u "$uri" -c "exec(open('`+script+`').read())"`)
	shutdown(t, s)
	var order []Read
	out, ok := strings.CutSuffix(strings.TrimSpace(out), "\ncache")
	if !ok {
		t.Fatalf("nbdsh did not send its CACHE:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		var off int64
		var n uint32
		var errno int
		if _, err := fmt.Sscan(line, &off, &n, &errno); err != nil {
			t.Fatalf("nbdsh: %q: %v\n%s", line, err, out)
		}
		if errno != 0 {
			t.Errorf("nbdsh: READ %d+%d: error %d", off, n, errno)
		}
		order = append(order, Read{Off: off, Len: n})
	}
	if len(order) != 39 {
		t.Fatalf("nbdsh completed %d READs, want 39:\n%s", len(order), out)
	}
	got := trace.all()
	if len(got) != len(order)+1 {
		t.Fatalf("%d requests traced, %d READs and a CACHE made", len(got), len(order))
	}
	if c := got[len(got)-1]; !c.Cache || c.Off != 4096 || c.Len != 131072 || c.Err != nil || c.Conn != got[0].Conn {
		t.Errorf("last trace entry %+v, want the CACHE of 131072 bytes at 4096", c)
	}
	got = got[:len(got)-1]
	for i, r := range got {
		if r.Off != order[i].Off || r.Len != order[i].Len {
			t.Fatalf("trace entry %d: READ %d+%d, the reply was %d+%d's (out of order or lost)", i, r.Off, r.Len, order[i].Off, order[i].Len)
		}
		if r.Conn != got[0].Conn || r.Export != "" || r.Err != nil || r.Cache {
			t.Errorf("trace entry %d: %+v", i, r)
		}
		if r.Start.Before(before) || r.Start.After(time.Now()) {
			t.Errorf("trace entry %d: arrived at %v, not during the run", i, r.Start)
		}
		if r.Off < 100001 && r.Dur <= 0 {
			t.Errorf("trace entry %d: READ %d+%d of data took %v", i, r.Off, r.Len, r.Dur)
		}
	}
	if s.fileSends.Load() == 0 {
		t.Error("no READ was sent with sendfile")
	}
	if l := logs.String(); l != "" {
		t.Errorf("server log:\n%s", l)
	}
}
