package nbd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// mapBlock is the unit of scrambled's layout.
const mapBlock = 64 << 10

// scrambled is a Source whose 64 KiB blocks sit in a file in another
// order (an alloc.FileMapper, as a format reader is): block i is, by
// i%5, in the file (0, 1, 4), zeros (2) or only readable through ReadAt
// (3: say, compressed); block bad is mapped past the end of the file and
// fails to read, as a table entry pointing out of the file would; block
// stale is mapped past the end of the file too, but ReadAt reads it (as
// if the file had been cut short under the server): sendfile fails, and
// the rest must come from ReadAt at the guest offset.
type scrambled struct {
	f          *os.File
	data       []byte // the guest's bytes
	bad, stale int
}

func (s *scrambled) Size() int64 { return int64(len(s.data)) }

// slot is where block i sits in the file.
func (s *scrambled) slot(i int) int64 {
	if i == s.bad || i == s.stale {
		return int64(len(s.data))*4 + int64(i)*mapBlock
	}
	return int64((i*7)%(len(s.data)/mapBlock)) * mapBlock
}

func (s *scrambled) ReadAt(p []byte, off int64) (int, error) {
	for done := 0; done < len(p); {
		at := off + int64(done)
		if at >= int64(len(s.data)) {
			return done, errors.New("past the end")
		}
		i := int(at / mapBlock)
		if i == s.bad {
			return done, fmt.Errorf("block %d: in the file at %#x, past its end", i, s.slot(i))
		}
		done += copy(p[done:], s.data[at:min(int64(len(s.data)), int64(i+1)*mapBlock)])
	}
	return len(p), nil
}

func (s *scrambled) MapFile(off, n int64) (alloc.FileRun, error) {
	i := int(off / mapBlock)
	n = min(n, int64(i+1)*mapBlock-off)
	switch i % 5 {
	case 2:
		return alloc.FileRun{Len: n, Zero: true}, nil
	case 3:
		return alloc.FileRun{Len: n}, nil
	}
	return alloc.FileRun{Len: n, File: s.f, FileOff: s.slot(i) + off%mapBlock}, nil
}

// newScrambled writes a 4 MiB scrambled source's file in dir.
func newScrambled(t *testing.T, dir string) (*scrambled, string) {
	const size = 4 << 20
	s := &scrambled{data: make([]byte, size), bad: 40, stale: 51}
	file := make([]byte, size)
	for i := 0; i < size/mapBlock; i++ {
		b := s.data[i*mapBlock : (i+1)*mapBlock]
		if i%5 != 2 {
			for j := range b {
				b[j] = pattern(int64(i*mapBlock+j)) ^ byte(i)
			}
		}
		if i != s.bad && i != s.stale {
			copy(file[s.slot(i):], b)
		}
	}
	path := filepath.Join(dir, "scrambled.img")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "want.raw")
	if err := os.WriteFile(want, s.data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s.f = f
	return s, want
}

// TestMapFileSource serves a source mapped to a file (scrambled) to nbdsh:
// pipelined READs, large and small, aligned and not, across blocks of
// every kind, with and without DF, must each carry the guest's bytes,
// with sendfile used (the stale block's through ReadAt when sendfile
// finds the file short); the READs touching the bad block must fail with
// EIO while the connection goes on; every READ is traced once, in the
// order of the replies, with an error exactly when the client got one.
func TestMapFileSource(t *testing.T) {
	need(t, "nbdsh")
	dir := t.TempDir()
	src, want := newScrambled(t, dir)
	logs := &logTo{}
	trace := &readLog{}
	s := &Server{Exports: []Export{{Source: src}}, Logf: logs.logf, OnRead: trace.onRead}
	ep := serve(t, s, ListenConfig{Unix: "-"})
	bad := int64(src.bad) * mapBlock
	script := filepath.Join(dir, "mapped.py")
	// The server does not advertise NBD_FLAG_SEND_DF but honours DF:
	// libnbd is told not to check the flag.
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_FLAGS)
bad = %d
stale = %d
reqs = [(0, 262144, 0), (0, 4096, 0), (5, 100000, 0), (131072, 65536, 0), (131072 + 700, 300080, 0),
        (196608 - 1000, 70001, 0), (1, 3 << 20, 0), (4096, 65535, 0), (65536 * 3, 65536, 0),
        (300 << 10, 500 << 10, 0), (5, 1000000, 1), (196608, 131072, 1), (65536 * 2, 65536, 1),
        (bad - 100, 65636, 0), (bad, 65536, 0), (bad + 65536, 65536, 0), (bad - 65536, 262144, 1),
        ((4 << 20) - 200000, 200000, 0), (stale - 1000, 70000, 0), (stale - 70000, 200000, 1),
        (stale, 65536, 0)] * 3
done = []
bufs = []
def completed(off, n):
    def cb(err):
        done.append((off, n, err.value))
        return 1
    return cb
for off, n, df in reqs:
    b = nbd.Buffer(n)
    h.aio_pread(b, off, completion=completed(off, n), flags=nbd.CMD_FLAG_DF if df else 0)
    bufs.append((off, n, b))
while h.aio_in_flight() > 0:
    h.poll(-1)
f = open("%s", "rb").read()
for off, n, b in bufs:
    if off + n > bad and off < bad + 65536:
        continue
    if b.to_bytearray() != f[off:off + n]:
        print("differs at", off, n)
for off, n, err in done:
    print(off, n, err)
`, bad, int64(src.stale)*mapBlock, want)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustCaptive(t, ep, nbdsh+` -u "$uri" -c "exec(open('`+script+`').read())"`)
	shutdown(t, s)
	var order []Read
	var errs int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var off int64
		var n uint32
		var errno int
		if _, err := fmt.Sscan(line, &off, &n, &errno); err != nil {
			t.Fatalf("nbdsh: %q: %v\n%s", line, err, out)
		}
		touches := off+int64(n) > bad && off < bad+mapBlock
		if touches != (errno != 0) {
			t.Errorf("nbdsh: READ %d+%d: error %d", off, n, errno)
		}
		if errno != 0 {
			errs++
			if errno != 5 { // EIO
				t.Errorf("READ %d+%d: errno %d, want EIO", off, n, errno)
			}
		}
		order = append(order, Read{Off: off, Len: n})
	}
	if len(order) != 63 || errs != 12 {
		t.Fatalf("nbdsh completed %d READs (%d failed), want 63 (12):\n%s", len(order), errs, out)
	}
	got := trace.all()
	if len(got) != len(order) {
		t.Fatalf("%d READs traced, %d made", len(got), len(order))
	}
	for i, r := range got {
		if r.Off != order[i].Off || r.Len != order[i].Len {
			t.Fatalf("trace entry %d: READ %d+%d, the reply was %d+%d's (out of order or lost)", i, r.Off, r.Len, order[i].Off, order[i].Len)
		}
		if touches := r.Off+int64(r.Len) > bad && r.Off < bad+mapBlock; touches != (r.Err != nil) {
			t.Errorf("trace entry %d: READ %d+%d: error %v", i, r.Off, r.Len, r.Err)
		}
	}
	if s.fileSends.Load() == 0 {
		t.Error("no READ was sent with sendfile")
	}
	if !strings.Contains(logs.String(), "past its end") {
		t.Errorf("server log lacks the bad block's reads:\n%s", logs.String())
	}
}
