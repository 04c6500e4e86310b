package ext

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The read API is checked against debugfs: every directory's names, modes
// and sizes (ls -p), every regular file's bytes (dump), every symbolic
// link's target (stat's "Fast link dest", or the link's dumped blocks),
// and fstest.TestFS for the io/fs contracts.

// openImage opens an image file with New.
func openImage(t testing.TB, img string) *FS {
	t.Helper()
	b, err := os.ReadFile(img)
	must(t, err)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// lsEntry is one line of debugfs "ls -p".
type lsEntry struct {
	ino  uint64
	mode uint64
	size int64
}

// debugfsLsFull lists dirs with "ls -p" in one debugfs run: dir -> name ->
// entry.
func debugfsLsFull(t testing.TB, img string, dirs []string) map[string]map[string]lsEntry {
	t.Helper()
	var cmds strings.Builder
	for _, d := range dirs {
		fmt.Fprintf(&cmds, "ls -p \"%s\"\n", d)
	}
	cf := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(cf, []byte(cmds.String()), 0o644))
	out := run(t, "debugfs", "-f", cf, img)
	res := map[string]map[string]lsEntry{}
	var cur map[string]lsEntry
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
			cur = map[string]lsEntry{}
			res[strings.Trim(rest, `"`)] = cur
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "/") {
			continue
		}
		f := strings.Split(line, "/")
		name := strings.Join(f[5:len(f)-2], "/")
		ino, err1 := strconv.ParseUint(f[1], 10, 64)
		mode, err2 := strconv.ParseUint(f[2], 8, 32)
		size, _ := strconv.ParseInt(f[len(f)-2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("debugfs ls -p: cannot parse %q", line)
		}
		if name == "." || name == ".." || ino == 0 {
			continue
		}
		cur[name] = lsEntry{ino: ino, mode: mode, size: size}
	}
	return res
}

// debugfsDump dumps the named inodes' contents into files of a temporary
// directory, in one debugfs run, and returns path -> bytes.
func debugfsDump(t testing.TB, img string, paths []string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	var cmds strings.Builder
	for i, p := range paths {
		fmt.Fprintf(&cmds, "dump \"/%s\" %s/%d\n", p, dir, i)
	}
	cf := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(cf, []byte(cmds.String()), 0o644))
	run(t, "debugfs", "-f", cf, img)
	res := map[string][]byte{}
	for i, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		must(t, err)
		res[p] = b
	}
	return res
}

var fastLinkRe = regexp.MustCompile(`Fast link dest: "(.*)"`)

// debugfsFastLink returns a fast symlink's target as debugfs stat shows
// it, ok false for a slow link.
func debugfsFastLink(t testing.TB, img, p string) (string, bool) {
	t.Helper()
	out := run(t, "debugfs", "-R", fmt.Sprintf("stat \"/%s\"", p), img)
	m := fastLinkRe.FindSubmatch(out)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// checkAgainstDebugfs compares the whole tree read through the io/fs API
// with debugfs and runs fstest.TestFS.
func checkAgainstDebugfs(t *testing.T, img string) {
	f := openImage(t, img)
	var dirs, files, links []string
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type()&iofs.ModeSymlink != 0:
			links = append(links, p)
		case d.Type().IsRegular():
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WalkDir: %v", err)
	}
	abs := func(p string) string {
		if p == "." {
			return "/"
		}
		return "/" + p
	}
	var absDirs []string
	for _, d := range dirs {
		absDirs = append(absDirs, abs(d))
	}
	ls := debugfsLsFull(t, img, absDirs)
	for _, d := range dirs {
		es, err := f.ReadDir(d)
		if err != nil {
			t.Errorf("ReadDir(%q): %v", d, err)
			continue
		}
		want := ls[abs(d)]
		var got []string
		for _, e := range es {
			got = append(got, e.Name())
			w, ok := want[e.Name()]
			if !ok {
				continue
			}
			info, err := e.Info()
			if err != nil {
				t.Errorf("%s/%s: Info: %v", d, e.Name(), err)
				continue
			}
			if info.Sys().(uint64) != w.ino {
				t.Errorf("%s/%s: inode %d, debugfs %d", d, e.Name(), info.Sys(), w.ino)
			}
			if uint64(info.Mode().Perm()) != w.mode&0o777 {
				t.Errorf("%s/%s: mode %v, debugfs %o", d, e.Name(), info.Mode(), w.mode)
			}
			if (w.mode&0o170000 == 0o40000) != info.IsDir() || (w.mode&0o170000 == 0o120000) != (info.Mode()&iofs.ModeSymlink != 0) {
				t.Errorf("%s/%s: type %v, debugfs mode %o", d, e.Name(), info.Mode().Type(), w.mode)
			}
			if w.mode&0o170000 == 0o100000 && info.Size() != w.size {
				t.Errorf("%s/%s: size %d, debugfs %d", d, e.Name(), info.Size(), w.size)
			}
		}
		var names []string
		for n := range want {
			names = append(names, n)
		}
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("ReadDir(%q) = %q, debugfs ls %q", d, got, names)
		}
	}
	// debugfs dump pads inline-data files to 60 bytes: contents come
	// from The Sleuth Kit's icat by inode number instead.
	dumps := debugfsDump(t, img, links)
	for _, p := range files {
		b, err := iofs.ReadFile(f, p)
		if err != nil {
			t.Errorf("ReadFile(%q): %v", p, err)
			continue
		}
		fi, err := f.Lstat(p)
		must(t, err)
		want := run(t, "icat", img, strconv.FormatUint(fi.Sys().(uint64), 10))
		if !bytes.Equal(b, want) {
			t.Errorf("ReadFile(%q): %d bytes differ from icat's %d", p, len(b), len(want))
		}
	}
	for _, p := range links {
		got, err := f.ReadLink(p)
		if err != nil {
			t.Errorf("ReadLink(%q): %v", p, err)
			continue
		}
		want, fast := debugfsFastLink(t, img, p)
		if !fast {
			want = string(dumps[p])
		}
		if got != want {
			t.Errorf("ReadLink(%q) = %q, debugfs %q", p, got, want)
		}
	}
	if len(files) == 0 {
		t.Fatal("no regular files found")
	}
	if err := fstest.TestFS(hideBroken{f}, files...); err != nil {
		t.Errorf("fstest.TestFS: %v", err)
	}
	t.Logf("%d directories, %d files, %d links checked", len(dirs), len(files), len(links))
}

// hideBroken leaves out of directory listings the symbolic links that do
// not resolve (dangling, looping): fstest.TestFS opens every entry it
// lists, and Open of such a link fails, as it must.
type hideBroken struct{ f *FS }

func (h hideBroken) Open(name string) (iofs.File, error) {
	x, err := h.f.Open(name)
	if d, ok := x.(iofs.ReadDirFile); ok && err == nil {
		return &hiddenDir{ReadDirFile: d, h: h, path: name}, nil
	}
	return x, err
}

func (h hideBroken) ReadDir(name string) ([]iofs.DirEntry, error) {
	es, err := h.f.ReadDir(name)
	return h.filter(name, es), err
}

func (h hideBroken) filter(dir string, es []iofs.DirEntry) []iofs.DirEntry {
	return slices.DeleteFunc(es, func(e iofs.DirEntry) bool {
		if e.Type()&iofs.ModeSymlink == 0 {
			return false
		}
		_, err := h.f.Stat(pathJoin(dir, e.Name()))
		return err != nil
	})
}

func (h hideBroken) Stat(name string) (iofs.FileInfo, error)  { return h.f.Stat(name) }
func (h hideBroken) Lstat(name string) (iofs.FileInfo, error) { return h.f.Lstat(name) }
func (h hideBroken) ReadLink(name string) (string, error)     { return h.f.ReadLink(name) }

type hiddenDir struct {
	iofs.ReadDirFile
	h       hideBroken
	path    string
	entries []iofs.DirEntry
	done    bool
}

func (d *hiddenDir) ReadDir(n int) ([]iofs.DirEntry, error) {
	if !d.done {
		es, err := d.ReadDirFile.ReadDir(-1)
		if err != nil {
			return nil, err
		}
		d.entries, d.done = d.h.filter(d.path, es), true
	}
	if n <= 0 {
		es := d.entries
		d.entries = nil
		return es, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	es := d.entries[:n:n]
	d.entries = d.entries[n:]
	return es, nil
}

func pathJoin(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func TestFilesFixtures(t *testing.T) {
	testutil.NeedTools(t, "debugfs", "icat")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			must(t, os.WriteFile(img, loadFixture(t, name), 0o644))
			checkAgainstDebugfs(t, img)
		})
	}
}

// randomTree builds a source tree with random contents: a 4 MiB file, a
// sparse file, files of odd sizes, nested directories, relative,
// absolute, dangling and looping symbolic links.
func randomTree(t testing.TB) string {
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	must(t, os.MkdirAll(filepath.Join(src, "etc/deep/er/still"), 0o750))
	must(t, os.MkdirAll(filepath.Join(src, "var/lib/dpkg"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "big"), rnd(4<<20), 0o600))
	must(t, os.WriteFile(filepath.Join(src, "etc/os-release"), []byte("ID=debian\nVERSION_ID=12\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "var/lib/dpkg/status"), rnd(12345), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "etc/deep/er/still/x"), rnd(1), 0o4755))
	for i := range 40 {
		must(t, os.WriteFile(filepath.Join(src, "etc", fmt.Sprintf("f%02d", i)), rnd(i*997), 0o644))
	}
	sp, err := os.Create(filepath.Join(src, "sparse"))
	must(t, err)
	_, err = sp.WriteAt(rnd(5000), 100000)
	must(t, err)
	_, err = sp.WriteAt(rnd(3000), 900000)
	must(t, err)
	must(t, sp.Truncate(1500000))
	must(t, sp.Close())
	must(t, os.Symlink("etc/os-release", filepath.Join(src, "rel")))
	must(t, os.Symlink("/etc/deep/er", filepath.Join(src, "var/abs")))
	must(t, os.Symlink("../../etc", filepath.Join(src, "var/lib/up")))
	must(t, os.Symlink("nowhere", filepath.Join(src, "dangling")))
	must(t, os.Symlink("loop2", filepath.Join(src, "loop1")))
	must(t, os.Symlink("loop1", filepath.Join(src, "loop2")))
	must(t, os.Symlink(strings.Repeat("long/", 60)+"x", filepath.Join(src, "slowlink")))
	return src
}

func TestFilesBuilt(t *testing.T) {
	testutil.NeedTools(t, "debugfs", "icat", "mkfs.ext4", "mkfs.ext2")
	src := randomTree(t)
	for _, c := range []struct {
		typ  string
		opts []string
	}{
		{"ext4", []string{"-b", "4096"}},
		{"ext4", []string{"-b", "1024", "-O", "inline_data", "-I", "256"}},
		{"ext2", []string{"-b", "1024"}},
	} {
		t.Run(c.typ+strings.Join(c.opts, ""), func(t *testing.T) {
			img := mkfs(t, c.typ, src, "32M", c.opts...)
			checkAgainstDebugfs(t, img)
			checkLinks(t, img, src)
		})
	}
}

// checkLinks checks link following against the source tree the image
// was built from (os.Stat follows links the way the kernel does).
func checkLinks(t *testing.T, img, src string) {
	f := openImage(t, img)
	for p, real := range map[string]string{
		"rel":                        "etc/os-release",
		"var/abs/still/x":            "etc/deep/er/still/x",
		"var/lib/up/os-release":      "etc/os-release",
		"var/abs":                    "etc/deep/er",
		"var/lib/up/deep/er/still/x": "etc/deep/er/still/x",
	} {
		got, err := iofs.Stat(f, p)
		if err != nil {
			t.Errorf("Stat(%q): %v", p, err)
			continue
		}
		want, err := os.Stat(filepath.Join(src, real))
		must(t, err)
		if got.Size() != want.Size() && !want.IsDir() || got.IsDir() != want.IsDir() || got.Mode().Perm() != want.Mode().Perm() {
			t.Errorf("Stat(%q): %v %d, source %v %d", p, got.Mode(), got.Size(), want.Mode(), want.Size())
		}
		if got.Name() != filepath.Base(p) {
			t.Errorf("Stat(%q).Name() = %q", p, got.Name())
		}
	}
	for _, p := range []string{"loop1", "dangling", "rel/x", "etc/nope", "etc/os-release/x"} {
		if _, err := f.Open(p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		} else if pe := (*iofs.PathError)(nil); !errors.As(err, &pe) || pe.Path != p {
			t.Errorf("Open(%q): %v, not a PathError for the name", p, err)
		}
	}
	if _, err := f.Open("etc/nope"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("Open(etc/nope): %v, want ErrNotExist", err)
	}
	if fi, err := f.Lstat("loop1"); err != nil || fi.Mode()&iofs.ModeSymlink == 0 {
		t.Errorf("Lstat(loop1) = %v, %v", fi, err)
	}
	for _, p := range []string{"/etc", "etc/", "../etc", "etc//x"} {
		if _, err := f.Open(p); !errors.Is(err, iofs.ErrInvalid) {
			t.Errorf("Open(%q): %v, want ErrInvalid", p, err)
		}
	}
	// ReaderAt and Seeker on an opened file agree with icat. (Not with
	// the source: mke2fs -d cuts a sparse file short on inline_data
	// filesystems; debugfs and icat agree on the shorter size.)
	fi, err := f.Lstat("sparse")
	must(t, err)
	want := run(t, "icat", img, strconv.FormatUint(fi.Sys().(uint64), 10))
	fl, err := f.Open("sparse")
	must(t, err)
	defer fl.Close()
	ra := fl.(io.ReaderAt)
	buf := make([]byte, 7000)
	for _, off := range []int64{0, 99999, 100000, 104999, 899000, 1499000} {
		n, err := ra.ReadAt(buf, off)
		end := max(min(off+int64(len(buf)), int64(len(want))), off)
		if off >= int64(len(want)) {
			if n != 0 || err != io.EOF {
				t.Errorf("ReadAt(%d) past the end = %d, %v", off, n, err)
			}
			continue
		}
		if n != int(end-off) || (err != nil && err != io.EOF) || !bytes.Equal(buf[:n], want[off:end]) {
			t.Errorf("ReadAt(%d) = %d, %v; want %d bytes equal to the source", off, n, err, end-off)
		}
	}
	sk := fl.(io.Seeker)
	if p, err := sk.Seek(-10, io.SeekEnd); err != nil || p != int64(len(want))-10 {
		t.Errorf("Seek(-10, end) = %d, %v", p, err)
	}
	rest, err := io.ReadAll(fl)
	if err != nil || !bytes.Equal(rest, want[len(want)-10:]) {
		t.Errorf("read after Seek: %q, %v", rest, err)
	}
}

// TestFilesCorrupt damages a fixture's root directory and an inode, and
// expects errors wrapping *fs.PathError and *diskerr.FormatError, not panics.
func TestFilesCorrupt(t *testing.T) {
	base := loadFixture(t, "small-ext4.img.gz")
	f0, err := New(bytes.NewReader(base), int64(len(base)))
	must(t, err)
	root, err := f0.Inode(rootIno)
	must(t, err)
	es, err := f0.dataExtents(root)
	must(t, err)
	for _, c := range []struct {
		name string
		off  int64
		b    []byte
	}{
		{"root dir block zeroed rec_len", es[0].Off + 4, []byte{0, 0}},
		{"root inode extent magic", root.Off + iBlockOff, []byte{0, 0}},
		{"root inode not a directory", root.Off + 1, []byte{0x80}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(base)
			copy(b[c.off:], c.b)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			_, err = iofs.ReadFile(f, "etc/conf")
			var pe *iofs.PathError
			if err == nil || !errors.As(err, &pe) {
				t.Fatalf("ReadFile: %v, want a *PathError", err)
			}
			var fe *diskerr.FormatError
			if !errors.As(err, &fe) && !errors.Is(err, errNotDir) {
				t.Errorf("ReadFile: %v, want an *diskerr.FormatError inside", err)
			}
		})
	}
}

func BenchmarkReadFile(b *testing.B) {
	testutil.NeedTools(b, "mkfs.ext4")
	src := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	must(b, os.WriteFile(filepath.Join(src, "big"), data, 0o644))
	img := mkfs(b, "ext4", src, "32M", "-b", "4096")
	f := openImage(b, img)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := iofs.ReadFile(f, "big"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWalkDir(b *testing.B) {
	img := filepath.Join(b.TempDir(), "img")
	must(b, os.WriteFile(img, loadFixture(b, "small-ext4.img.gz"), 0o644))
	f := openImage(b, img)
	for b.Loop() {
		if err := iofs.WalkDir(f, ".", func(string, iofs.DirEntry, error) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
