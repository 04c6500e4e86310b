package nbd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
// nbdsh, comparing byte for byte with the file, with sendfile (no hook)
// and without (an OnRead hook: every READ through a buffer).
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
			if traced {
				s.OnRead = func(Read) {}
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
			sent := s.fileSends.Load()
			if traced && sent != 0 {
				t.Errorf("%d sendfile transfers with an OnRead hook", sent)
			}
			if !traced && sent == 0 {
				t.Error("no READ was sent with sendfile")
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
// mode, pipelined, and through nbdsh.
func TestFileShrunk(t *testing.T) {
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
