package ufs

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// buildTree writes the test tree under dir: nested directories, a
// 500-entry directory, a 255-byte name, short and long symbolic links,
// empty, tiny and fragment-sized files, and a file large enough for
// double indirect blocks at the image's block size (big bytes).
func buildTree(t testing.TB, dir string, big int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/b/c/tiny", []byte("hello\n"))
	write("empty", nil)
	write("frag", data(3000))
	write("a/twelve", data(12*4096+100))
	write("large", data(big))
	for i := range 500 {
		write("many/entry_"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
	}
	write(strings.Repeat("L", 255), []byte("long name\n"))
	for _, l := range []struct{ target, name string }{
		{"a/b/c/tiny", "short"},
		{"/" + strings.Repeat("x", 200) + "/target", "longlink"},
		{"../../frag", "a/b/up"},
		{strings.Repeat("y", 119), "link119"},
		{strings.Repeat("z", 120), "link120"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
}

// makeImage builds a UFS image of src with NetBSD's makefs (Debian
// package makefs), options as makefs -o takes them.
func makeImage(t testing.TB, src, opts, size string) string {
	t.Helper()
	if _, err := exec.LookPath("makefs"); err != nil {
		t.Skip("makefs not installed (Debian package makefs)")
	}
	img := filepath.Join(t.TempDir(), "ufs.img")
	out, err := exec.Command("makefs", "-t", "ffs", "-o", opts, "-s", size, img, src).CombinedOutput()
	if err != nil {
		t.Fatalf("makefs: %v\n%s", err, out)
	}
	return img
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, _ := fh.Stat()
	f, err := New(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tskEntry is one line of fls -r -p: the type letters and inode.
type tskEntry struct {
	typ string
	ino uint64
}

// fls lists img with The Sleuth Kit, path -> entry.
func fls(t *testing.T, img, typ string) map[string]tskEntry {
	t.Helper()
	out, err := exec.Command("fls", "-f", typ, "-r", "-p", img).Output()
	if err != nil {
		t.Fatalf("fls: %v", err)
	}
	m := map[string]tskEntry{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "r/r 4:\tname" ; deleted entries carry a '*'.
		line := sc.Text()
		head, name, ok := strings.Cut(line, ":\t")
		if !ok || strings.Contains(head, "*") || strings.HasPrefix(head, "V/V") {
			// Deleted entries and TSK's virtual $OrphanFiles.
			continue
		}
		f := strings.Fields(head)
		ino, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("fls line %q", line)
		}
		m[name] = tskEntry{typ: f[0], ino: ino}
	}
	return m
}

func typeLetters(m iofs.FileMode) string {
	switch {
	case m.IsDir():
		return "d/d"
	case m&iofs.ModeSymlink != 0:
		return "l/l"
	}
	return "r/r"
}

// checkImage compares our view of img with the source tree src, and with
// The Sleuth Kit's when tskType is set: every path with its inode and
// type, every file's bytes, every link's target.
func checkImage(t *testing.T, img, src, tskType string) {
	f := openImage(t, img)
	ours := map[string]tskEntry{}
	err := iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		ours[p] = tskEntry{typ: typeLetters(info.Mode()), ino: info.Sys().(uint64)}
		sp := filepath.Join(src, p)
		switch {
		case info.Mode()&iofs.ModeSymlink != 0:
			got, err := f.ReadLink(p)
			if err != nil {
				return err
			}
			want, err := os.Readlink(sp)
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("%s: link target %q, want %q", p, got, want)
			}
		case info.Mode().IsRegular():
			got, err := iofs.ReadFile(f, p)
			if err != nil {
				return err
			}
			want, err := os.ReadFile(sp)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes differ from the source's %d", p, len(got), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The source tree, entry for entry.
	n := 0
	filepath.WalkDir(src, func(p string, d iofs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(src, p); rel != "." {
			n++
			if _, ok := ours[rel]; !ok {
				t.Errorf("%s in the source tree, not found by us", rel)
			}
		}
		return err
	})
	if n != len(ours) {
		t.Errorf("we list %d entries, the source tree has %d", len(ours), n)
	}
	if tskType == "" {
		return
	}
	if _, err := exec.LookPath("fls"); err != nil {
		t.Skip("fls not installed (Debian package sleuthkit)")
	}
	tsk := fls(t, img, tskType)
	if len(tsk) != len(ours) {
		t.Errorf("fls lists %d entries, we list %d", len(tsk), len(ours))
	}
	for p, e := range tsk {
		if ours[p] != e {
			t.Errorf("%s: fls says %v, we say %v", p, e, ours[p])
		}
	}
	// icat on the files that are not the 500 small ones.
	for p, e := range tsk {
		if e.typ != "r/r" || strings.HasPrefix(p, "many/") {
			continue
		}
		want, err := exec.Command("icat", "-f", tskType, img, strconv.FormatUint(e.ino, 10)).Output()
		if err != nil {
			t.Fatalf("icat %s: %v", p, err)
		}
		got, err := iofs.ReadFile(f, p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: our %d bytes differ from icat's %d", p, len(got), len(want))
		}
	}
}

// The images: TSK reads UFS2 only from a superblock at 64 KiB, where
// makefs leaves a copy only when the cylinder group's superblock slot
// lands there (64 KiB blocks of 8 KiB fragments); makefs' own UFS2
// superblock is at 8 KiB, which FreeBSD accepts and TSK does not, so the
// 4 KiB-block UFS2 image is checked against the source tree only.
func TestImages(t *testing.T) {
	for _, c := range []struct {
		name, opts, size, tsk string
		big                   int
	}{
		{"ufs2-64k", "version=2,bsize=65536,fsize=8192", "96m", "ufs2", 2 << 20},
		{"ufs1-4k", "version=1,bsize=4096,fsize=512", "64m", "ufs1", 40 << 20},
		{"ufs2-4k", "version=2,bsize=4096,fsize=512", "64m", "", 40 << 20},
		{"ufs1-8k", "version=1,bsize=8192,fsize=1024", "64m", "ufs1", 40 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			buildTree(t, src, c.big)
			img := makeImage(t, src, c.opts, c.size)
			checkImage(t, img, src, c.tsk)
		})
	}
}

func TestPaths(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	buildTree(t, src, 1000)
	f := openImage(t, makeImage(t, src, "version=2", "8m"))
	if b, err := iofs.ReadFile(f, "a/b/up"); err != nil || len(b) != 3000 {
		t.Errorf("a/b/up through ../../frag: %d bytes, %v", len(b), err)
	}
	if b, err := iofs.ReadFile(f, "short"); err != nil || string(b) != "hello\n" {
		t.Errorf("short: %q, %v", b, err)
	}
	if _, err := f.Open("nothere"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("nothere: %v", err)
	}
	if _, err := f.ReadDir("frag"); err == nil {
		t.Error("ReadDir of a file worked")
	}
	es, err := f.ReadDir("many")
	if err != nil || len(es) != 500 {
		t.Fatalf("many: %d entries, %v", len(es), err)
	}
	fh, _ := f.Open("frag")
	if _, err := fh.(io.Seeker).Seek(2990, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(fh)
	if len(rest) != 10 {
		t.Errorf("read %d bytes after seeking to 2990 of 3000", len(rest))
	}
	if info := f.Info(); info.Type != "ufs2" || info.Size != 8<<20 {
		t.Errorf("Info %+v", info)
	}
}
