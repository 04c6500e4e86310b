package fat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The fixtures are made by testdata/mkfixtures.sh (mkfs.fat + mtools).
var fixtures = []string{"fat12", "fat16", "fat32"}

// loadFixture returns a fresh copy of the unpacked fixture (unpacked once
// per test binary).
func loadFixture(t testing.TB, name string) []byte {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	b, ok := fixtureCache[name]
	if !ok {
		b = testutil.Gunzip(t, filepath.Join("testdata", name+".img.gz"))
		fixtureCache[name] = b
	}
	return bytes.Clone(b)
}

var (
	fixtureMu    sync.Mutex
	fixtureCache = map[string][]byte{}
)

// fixtureFile writes a fixture unpacked into a temporary file, for the
// external tools.
func fixtureFile(t testing.TB, name string) (string, []byte) {
	t.Helper()
	b := loadFixture(t, name)
	p := filepath.Join(t.TempDir(), name+".img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// walked is the result of walking an image.
type walked struct {
	f       *FS
	entries []fs.Entry
	warns   []error
}

func walkBytes(t testing.TB, b []byte) *walked {
	t.Helper()
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w := &walked{f: f}
	f.SetWarn(func(err error) { w.warns = append(w.warns, err) })
	if err := f.Walk(func(e fs.Entry) error {
		e.Extents = slices.Clone(e.Extents) // valid only during the call
		w.entries = append(w.entries, e)
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return w
}

func (w *walked) byPath(t testing.TB, p string) fs.Entry {
	t.Helper()
	e, ok := w.find(p)
	if !ok {
		t.Fatalf("no entry %q", p)
	}
	return e
}

func (w *walked) find(p string) (fs.Entry, bool) {
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta && e.Path == p {
			return e, true
		}
	}
	return fs.Entry{}, false
}

func (w *walked) meta(name string) (fs.Entry, bool) {
	for _, e := range w.entries {
		if e.Kind == bmap.KindMeta && e.Path == name {
			return e, true
		}
	}
	return fs.Entry{}, false
}

// clusters lists the cluster numbers an entry's data extents cover, in
// file order.
func (w *walked) clusters(t testing.TB, e fs.Entry) []uint32 {
	t.Helper()
	p := w.f.p
	var cs []uint32
	for _, x := range e.Extents {
		if x.Off < p.dataOff || (x.Off-p.dataOff)%p.clusterSize != 0 || x.Len%p.clusterSize != 0 {
			t.Fatalf("%s: extent %+v not made of whole clusters", e.Path, x)
		}
		c := uint32((x.Off-p.dataOff)/p.clusterSize) + 2
		for i := range uint32(x.Len / p.clusterSize) {
			cs = append(cs, c+i)
		}
	}
	return cs
}

// mtools runs an mtools command on img with a reproducible environment.
func mtools(t testing.TB, name string, args ...string) string {
	t.Helper()
	testutil.NeedTools(t, name)
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8", "TZ=UTC", "SOURCE_DATE_EPOCH=1700000000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return string(out)
}

var reRun = regexp.MustCompile(`<(\d+)(?:-(\d+))?>`)

// mshowfat returns the clusters of path as mtools' mshowfat lists them
// (nil for an empty file).
func mshowfat(t testing.TB, img, path string) []uint32 {
	t.Helper()
	out := mtools(t, "mshowfat", "-i", img, "::"+path)
	var cs []uint32
	for _, m := range reRun.FindAllStringSubmatch(out, -1) {
		a, _ := strconv.ParseUint(m[1], 10, 32)
		b := a
		if m[2] != "" {
			b, _ = strconv.ParseUint(m[2], 10, 32)
		}
		for c := a; c <= b; c++ {
			cs = append(cs, uint32(c))
		}
	}
	if cs == nil && !strings.Contains(out, "empty file") {
		t.Fatalf("mshowfat %s: unexpected output %q", path, out)
	}
	return cs
}
