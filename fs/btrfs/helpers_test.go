package btrfs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// Tests read real filesystems: the kernel-made images of
// testdata/mkfixtures.sh (subvolumes, snapshots, compression) and images
// mkfs.btrfs --rootdir builds at test time (node sizes, profiles,
// checksums). The oracle is btrfs-progs, which shares no code with this
// package: btrfs restore copies every file out, btrfs inspect-internal
// dump-tree lists the items, and the `btrfs subvolume list` output saved
// beside each fixture names the subvolumes.

const testUUID = "3c9e5b1f-2a4d-4e6b-8f0a-1d2c3b4a5e6f"

// fixtureFile writes the gunzipped fixture to a temporary file (btrfs
// restore wants a file) and returns its path and bytes.
func fixtureFile(t testing.TB, name string) (string, []byte) {
	t.Helper()
	b := gunzip(t, filepath.Join("testdata", name+".img.gz"))
	p := filepath.Join(t.TempDir(), name+".img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func openBytes(t testing.TB, b []byte) *FS {
	t.Helper()
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// populate writes the tree the mkfs-built images hold: nested
// directories, a 600-entry directory, a 255-byte name, symbolic links,
// inline-sized and large files, an empty file and a sparse one.
func populate(t testing.TB, dir string) {
	t.Helper()
	r := rand.New(rand.NewSource(1))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, b []byte) {
		must(os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		must(os.WriteFile(filepath.Join(dir, p), b, 0o644))
	}
	rnd := func(n int) []byte { b := make([]byte, n); r.Read(b); return b }
	write("etc/os-release", []byte("ID=fedora\nVERSION_ID=40\n"))
	write("a/b/c/d/e/f/deep.txt", []byte("deep\n"))
	for i := range 600 {
		write(fmt.Sprintf("big-dir/entry-%04d", i), []byte(fmt.Sprintf("entry %d\n", i)))
	}
	write(strings.Repeat("n", 255), []byte("long name\n"))
	write("small.txt", []byte("small\n"))
	write("inline-2k", bytes.Repeat([]byte("0123456789abcdef"), 128))
	write("random-1m", rnd(1<<20))
	write("odd-size", rnd(300001))
	write("empty", nil)
	must(os.Symlink("../etc/os-release", filepath.Join(dir, "a/rel-link")))
	must(os.Symlink("/etc/os-release", filepath.Join(dir, "abs-link")))
	must(os.Symlink(strings.Repeat("t", 900), filepath.Join(dir, "long-link")))
	sp, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	_, err = sp.WriteAt(rnd(5000), 1<<20)
	must(err)
	must(sp.Truncate(3 << 20))
	must(sp.Close())
}

// mkfs builds an image of the tree populate writes with mkfs.btrfs
// --rootdir and the given options, and returns its path.
func mkfs(t testing.TB, opts ...string) string {
	t.Helper()
	testutil.NeedTools(t, "mkfs.btrfs", "btrfs")
	src := filepath.Join(t.TempDir(), "src")
	populate(t, src)
	img := filepath.Join(t.TempDir(), "btrfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(160 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := append([]string{"-q", "-f", "-U", testUUID, "-L", "test-btrfs", "--rootdir", src}, opts...)
	testutil.Run(t, "", "mkfs.btrfs", append(args, img)...)
	return img
}

// treeEntry is what the comparison knows of one path.
type treeEntry struct {
	kind string // "d", "f", "l"
	sum  string // sha256 of a file, target of a link
	size int64
}

func (e treeEntry) String() string { return fmt.Sprintf("%s %d %s", e.kind, e.size, e.sum) }

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// restoreTree runs btrfs restore on subvolume id of img (snapshots and
// symbolic links included) and lists what it wrote. restore writes only
// directories, regular files and symbolic links.
func restoreTree(t testing.TB, img string, id uint64) map[string]treeEntry {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restore")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Without -s: btrfs-progs 6.2's restore crashes on nested snapshots.
	cmd := exec.Command("btrfs", "restore", "-S", "-r", strconv.FormatUint(id, 10), img, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("btrfs restore -r %d: %v\n%s", id, err, b)
	}
	m := map[string]treeEntry{}
	err := filepath.WalkDir(out, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.Type()&iofs.ModeSymlink != 0:
			tg, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = treeEntry{kind: "l", sum: tg, size: int64(len(tg))}
		case d.IsDir():
			m[rel] = treeEntry{kind: "d"}
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = treeEntry{kind: "f", sum: sum(b), size: int64(len(b))}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ourTree lists the same through our io/fs view, leaving out what
// restore does not write (FIFOs, devices, sockets).
func ourTree(t testing.TB, fsys iofs.FS) (m map[string]treeEntry, placeholders []string) {
	t.Helper()
	m = map[string]treeEntry{}
	err := iofs.WalkDir(fsys, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		switch {
		case d.Type()&iofs.ModeSymlink != 0:
			tg, err := fsys.(iofs.ReadLinkFS).ReadLink(p)
			if err != nil {
				return err
			}
			m[p] = treeEntry{kind: "l", sum: tg, size: int64(len(tg))}
		case d.IsDir():
			m[p] = treeEntry{kind: "d"}
			if fi, err := d.Info(); err == nil && fi.Sys().(*Inode).empty {
				// restore enters the subvolume a snapshot's stale
				// entry names; the kernel shows an empty directory.
				placeholders = append(placeholders, p)
			}
		case d.Type().IsRegular():
			b, err := iofs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			m[p] = treeEntry{kind: "f", sum: sum(b), size: int64(len(b))}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, placeholders
}

// prune drops the nested subvolumes (paths relative to the subvolume
// compared) and everything under them: restore enters some and skips
// snapshots, and each is compared in its own run anyway.
func prune(m map[string]treeEntry, nested []string) {
	for k := range m {
		for _, n := range nested {
			if k == n || strings.HasPrefix(k, n+"/") {
				delete(m, k)
			}
		}
	}
}

// kernelSubvol is a line of `btrfs subvolume list -a -p -u`.
type kernelSubvol struct {
	id, parent uint64
	uuid, path string
}

var subvolLine = regexp.MustCompile(`^ID (\d+) gen \d+ parent (\d+) top level \d+ uuid (\S+) path (?:<FS_TREE>/)?(.*)$`)

// kernelSubvols reads the subvolume list saved beside a fixture.
func kernelSubvols(t testing.TB, name string) []kernelSubvol {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".subvols"))
	if err != nil {
		t.Fatal(err)
	}
	var out []kernelSubvol
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		m := subvolLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s.subvols: cannot parse %q", name, l)
		}
		id, _ := strconv.ParseUint(m[1], 10, 64)
		p, _ := strconv.ParseUint(m[2], 10, 64)
		out = append(out, kernelSubvol{id: id, parent: p, uuid: m[3], path: m[4]})
	}
	return out
}

// nestedIn returns the paths, relative to subvolume id, of the
// subvolumes below it.
func nestedIn(subs []kernelSubvol, id uint64) []string {
	base := ""
	for _, s := range subs {
		if s.id == id {
			base = s.path + "/"
		}
	}
	var out []string
	for _, s := range subs {
		if s.id != id && strings.HasPrefix(s.path, base) {
			out = append(out, strings.TrimPrefix(s.path, base))
		}
	}
	return out
}

// compareTrees fails the test on every difference between restore's
// tree and ours.
func compareTrees(t testing.TB, want, got map[string]treeEntry) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if wok && gok && w == g {
			continue
		}
		if bad++; bad <= 20 {
			t.Errorf("%s: restore %v (%v), ours %v (%v)", k, w, wok, g, gok)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d paths differ", bad, len(keys))
	}
}

// restoreRoots lists the subvolume ids btrfs restore -l reports.
func restoreRoots(t testing.TB, img string) []uint64 {
	t.Helper()
	out := testutil.Run(t, "", "btrfs", "restore", "-l", img)
	var ids []uint64
	for _, m := range regexp.MustCompile(`tree key \((\d+|FS_TREE) ROOT_ITEM`).FindAllStringSubmatch(out, -1) {
		if m[1] == "FS_TREE" {
			ids = append(ids, 5)
			continue
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		if n >= 256 {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids
}

// gunzip reads a gzipped fixture; the kernel-made images are 128 MiB,
// beyond testutil.Gunzip's cap.
func gunzip(t testing.TB, p string) []byte {
	t.Helper()
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 256<<20))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return b
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

func fmtSscan(s string, id *uint64) (int, error) { return fmt.Sscanf(s, "ID %d", id) }
