package xfs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// Test images are made by mkfs.xfs from a protofile (-p), which fills the
// new filesystem from a tree of files without mounting it. mkfs.xfs 6.1
// refuses filesystems under 300 MB unless it believes it runs under
// fstests; the three variables below are what it checks.
var mkfsEnv = []string{"TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=1"}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// longLink is a symbolic link target longer than any inode's literal
// area, so it is stored in a block ("remote").
var longLink = "/" + strings.Repeat("long-target-component/", 30) + "end"

// makeTree builds the source tree of the test images under dir: nested
// directories, a block-sized and a leaf/node-sized directory, names up to
// 255 bytes, short and long symbolic links, empty, small, multi-block and
// large files, a FIFO and device nodes (in the protofile only).
func makeTree(t testing.TB, dir string, bigDir int) {
	t.Helper()
	w := func(p string, b []byte) {
		full := filepath.Join(dir, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, b, 0o644))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	w("hello.txt", []byte("hello, xfs\n"))
	w("empty", nil)
	w("etc/os-release", []byte("NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\n"))
	w("etc/hostname", []byte("xfsguest\n"))
	w("dir/sub/deep/deeper/file.bin", rnd(5000))
	w("dir/sub/three-blocks", rnd(3*4096+17))
	w("large.bin", rnd(3<<20+123))
	w(strings.Repeat("n", 255), []byte("longest name\n"))
	for i := range 20 {
		w(fmt.Sprintf("small/f%02d", i), rnd(i*100))
	}
	for i := range bigDir {
		w(fmt.Sprintf("bigdir/entry-with-a-fairly-long-name-%05d", i), rnd(i%7*300))
	}
	must(t, os.Symlink("hello.txt", filepath.Join(dir, "short-link")))
	must(t, os.Symlink(longLink, filepath.Join(dir, "dir/long-link")))
	must(t, os.Symlink("../hello.txt", filepath.Join(dir, "dir/sub/up-link")))
}

// protofile writes the mkfs.xfs protofile for the tree at src (names
// sorted), with a FIFO and two device nodes added at the root.
func protofile(t testing.TB, src string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("virt-bmap-test\n0 0\nd--755 0 0\n")
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		es, err := os.ReadDir(dir)
		must(t, err)
		for _, e := range es {
			p := filepath.Join(dir, e.Name())
			ind := strings.Repeat(" ", depth)
			switch {
			case e.Type()&os.ModeSymlink != 0:
				tgt, err := os.Readlink(p)
				must(t, err)
				fmt.Fprintf(&b, "%s%s l--777 0 0 %s\n", ind, e.Name(), tgt)
			case e.IsDir():
				fmt.Fprintf(&b, "%s%s d--755 0 0\n", ind, e.Name())
				walk(p, depth+1)
				fmt.Fprintf(&b, "%s$\n", ind)
			default:
				fmt.Fprintf(&b, "%s%s ---644 0 0 %s\n", ind, e.Name(), p)
			}
		}
	}
	walk(src, 1)
	b.WriteString(" fifo p--644 0 0\n null c--666 0 0 1 3\n sda b--660 0 6 8 0\n$\n")
	p := filepath.Join(t.TempDir(), "proto")
	must(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

// mkxfs makes an XFS image of size bytes from the tree at src with the
// extra mkfs.xfs options, and returns its path.
func mkxfs(t testing.TB, src string, size int64, opts ...string) string {
	t.Helper()
	testutil.NeedTools(t, "mkfs.xfs", "xfs_db")
	img := testutil.SparseFile(t, size)
	args := append([]string{"-q", "-f", "-p", protofile(t, src)}, opts...)
	args = append(args, img)
	cmd := exec.Command("mkfs.xfs", args...)
	cmd.Env = append(os.Environ(), mkfsEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return img
}

// xfsDB runs xfs_db read-only with the commands on its standard input.
func xfsDB(t testing.TB, img string, cmds []string) string {
	t.Helper()
	return testutil.Run(t, strings.Join(cmds, "\n")+"\n", "xfs_db", "-r", img)
}

// walked is what a Walk reported.
type walked struct {
	f       *FS
	entries []fs.Entry // copies
	byPath  map[string]fs.Entry
	warns   []error
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	fh, err := os.Open(img)
	must(t, err)
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	must(t, err)
	f, err := New(fh, st.Size())
	must(t, err)
	return f
}

func walkImage(t testing.TB, img string) *walked {
	t.Helper()
	w := &walked{f: openImage(t, img), byPath: map[string]fs.Entry{}}
	w.f.SetWarn(func(err error) { w.warns = append(w.warns, err) })
	must(t, w.f.Walk(func(e fs.Entry) error {
		e.Extents = slices.Clone(e.Extents)
		w.entries = append(w.entries, e)
		if e.Kind != bmap.KindMeta {
			if _, dup := w.byPath[e.Path]; dup {
				t.Errorf("path %s reported twice", e.Path)
			}
			w.byPath[e.Path] = e
		}
		return nil
	}))
	return w
}

func (w *walked) noWarnings(t testing.TB) {
	t.Helper()
	for _, err := range w.warns {
		t.Errorf("warning: %v", err)
	}
}

// dbEntry is one entry of xfs_db's ls.
type dbEntry struct {
	ino uint64
	typ string
}

var (
	lsRe   = regexp.MustCompile(`^\d+\s+(\d+)\s+(\S+)\s+0x[0-9a-f]+\s+\d+\s+(.*) \((good|bad|corrupt)\)$`)
	bmapRe = regexp.MustCompile(`^data offset (\d+) startblock (\d+) \((\d+)/(\d+)\) count (\d+) flag (\d)$`)
)

// checkAgainstXfsDB compares the walk with xfs_db: every directory's
// entries (names, inode numbers, types) as its ls lists them, and every
// file's and directory's extents with its bmap.
func (w *walked) checkAgainstXfsDB(t testing.TB, img string) {
	t.Helper()
	var cmds []string
	var dirs, objs []string
	for _, e := range w.entries {
		if e.Kind == bmap.KindDir {
			dirs = append(dirs, e.Path)
			cmds = append(cmds, "echo @DIR "+e.Path, "ls "+e.Path)
		}
		if e.Kind != bmap.KindMeta {
			objs = append(objs, e.Path)
			cmds = append(cmds, fmt.Sprintf("echo @INO %d", e.Inode), fmt.Sprintf("inode %d", e.Inode), "bmap", "print core.size core.format")
		}
	}
	out := xfsDB(t, img, cmds)
	ls := map[string]map[string]dbEntry{}
	bmaps := map[uint64][][5]uint64{}
	var cur string
	var ino uint64
	mode := ""
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, " ")
		switch {
		case strings.HasPrefix(line, "@DIR "):
			cur, mode = strings.TrimPrefix(line, "@DIR "), "dir"
			ls[cur] = map[string]dbEntry{}
		case strings.HasPrefix(line, "@INO "):
			ino, _ = strconv.ParseUint(strings.TrimPrefix(line, "@INO "), 10, 64)
			mode = "ino"
			bmaps[ino] = [][5]uint64{}
		case mode == "dir":
			if m := lsRe.FindStringSubmatch(line); m != nil {
				if m[4] != "good" {
					t.Errorf("xfs_db ls %s: %s", cur, line)
				}
				if m[3] == "." || m[3] == ".." {
					continue
				}
				n, _ := strconv.ParseUint(m[1], 10, 64)
				ls[cur][m[3]] = dbEntry{n, m[2]}
			}
		case mode == "ino":
			if m := bmapRe.FindStringSubmatch(line); m != nil {
				var r [5]uint64
				for i := range 5 {
					r[i], _ = strconv.ParseUint(m[[]int{1, 3, 4, 5, 6}[i]], 10, 64)
				}
				bmaps[ino] = append(bmaps[ino], r)
			}
		}
	}
	// Directory listings: both ways.
	for _, d := range dirs {
		got := map[string]dbEntry{}
		prefix := d + "/"
		if d == "/" {
			prefix = "/"
		}
		for p, e := range w.byPath {
			if p != "/" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
				got[p[len(prefix):]] = dbEntry{e.Inode, entryType(w.f, e)}
			}
		}
		want := ls[d]
		if len(want) == 0 && len(got) > 0 {
			t.Errorf("xfs_db ls %s: nothing listed", d)
		}
		for n, x := range want {
			if g, ok := got[n]; !ok {
				t.Errorf("%s%s (inode %d): listed by xfs_db, not walked", prefix, n, x.ino)
			} else if g.ino != x.ino || (x.typ != "unknown" || w.f.sb.hasFtype()) && g.typ != x.typ {
				t.Errorf("%s%s: walked %+v, xfs_db %+v", prefix, n, g, x)
			}
		}
		for n := range got {
			if _, ok := want[n]; !ok {
				t.Errorf("%s%s: walked, not listed by xfs_db", prefix, n)
			}
		}
	}
	// Extent maps.
	bs := w.f.bs
	agb := int64(w.f.sb.agBlocks)
	checked := 0
	for _, p := range objs {
		e := w.byPath[p]
		var got [][5]uint64
		for _, x := range e.Extents {
			if x.Role != bmap.RoleData {
				continue
			}
			lin := x.Off / bs
			flag := uint64(0)
			if x.Unwritten {
				flag = 1
			}
			got = append(got, [5]uint64{uint64(x.FileOff / bs), uint64(lin / agb), uint64(lin % agb), uint64(x.Len / bs), flag})
		}
		want, ok := bmaps[e.Inode]
		if !ok {
			t.Errorf("%s: no xfs_db output for inode %d", p, e.Inode)
			continue
		}
		if got == nil {
			got = [][5]uint64{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s (inode %d): extents (off, ag, agbno, count, flag)\n walked %v\n xfs_db %v", p, e.Inode, got, want)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d objects checked against xfs_db", checked)
	}
}

// entryType names e's type as xfs_db's ls does.
func entryType(f *FS, e fs.Entry) string {
	var in Inode
	if err := f.readInode(e.Inode, &in, make([]byte, f.sb.inodeSize)); err != nil {
		return "error: " + err.Error()
	}
	switch in.Mode & modeTypeMask {
	case modeReg:
		return "regular"
	case modeDir:
		return "directory"
	case modeSymlink:
		return "symlink"
	case modeChar:
		return "chardev"
	case modeBlock:
		return "blkdev"
	case modeFIFO:
		return "fifo"
	case modeSocket:
		return "socket"
	}
	return "?"
}

// checkContents reads every regular file and symbolic link of the source
// tree src through the io/fs API of f and compares: sha256 of contents,
// link targets, sizes, types. It returns the number of files compared.
func checkContents(t testing.TB, f *FS, src string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(src, func(p string, d iofs.DirEntry, err error) error {
		must(t, err)
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := f.ReadLink(rel)
			if err != nil || got != want {
				t.Errorf("readlink %s: %q, %v; want %q", rel, got, err, want)
			}
			st, err := f.Lstat(rel)
			if err != nil || st.Mode()&iofs.ModeSymlink == 0 || st.Size() != int64(len(want)) {
				t.Errorf("lstat %s: %v, %v", rel, st, err)
			}
			n++
		case d.IsDir():
			want, _ := os.ReadDir(p)
			got, err := f.ReadDir(rel)
			if err != nil {
				t.Errorf("readdir %s: %v", rel, err)
				return nil
			}
			var wn, gn []string
			for _, e := range want {
				wn = append(wn, e.Name())
			}
			for _, e := range got {
				gn = append(gn, e.Name())
			}
			if rel == "." {
				gn = slices.DeleteFunc(gn, func(s string) bool { return s == "fifo" || s == "null" || s == "sda" })
			}
			sort.Strings(wn)
			if !slices.Equal(wn, gn) {
				t.Errorf("readdir %s: %d entries, want %d", rel, len(gn), len(wn))
			}
		default:
			want, _ := os.ReadFile(p)
			fh, err := f.Open(rel)
			if err != nil {
				t.Errorf("open %s: %v", rel, err)
				return nil
			}
			h := sha256.New()
			_, err = io.Copy(h, fh.(io.Reader))
			fh.Close()
			if err != nil {
				t.Errorf("read %s: %v", rel, err)
			}
			if got, w := fmt.Sprintf("%x", h.Sum(nil)), fmt.Sprintf("%x", sha256.Sum256(want)); got != w {
				t.Errorf("%s: sha256 %s, want %s", rel, got, w)
			}
			n++
		}
		return nil
	})
	must(t, err)
	return n
}

// fixRemoteSymlink works around a bug of mkfs.xfs 6.1's protofile code: on
// version 5 it writes a long symbolic link's target into its block without
// the XSLM header the kernel, xfs_repair and xfs_db expect. It rewrites the
// block of the link at path (one block) as the kernel would have written
// it, and checks with xfs_repair -n that the result is sound.
func fixRemoteSymlink(t testing.TB, img, path string) {
	t.Helper()
	out := xfsDB(t, img, []string{"path " + path, "print core.size v3.inumber", "bmap", "sb 0", "print uuid"})
	var size, ino, ag, agbno, count uint64
	var uuid string
	for _, l := range strings.Split(out, "\n") {
		fmt.Sscanf(l, "core.size = %d", &size)
		fmt.Sscanf(l, "v3.inumber = %d", &ino)
		fmt.Sscanf(l, "uuid = %s", &uuid)
		if m := bmapRe.FindStringSubmatch(l); m != nil {
			ag, _ = strconv.ParseUint(m[3], 10, 64)
			agbno, _ = strconv.ParseUint(m[4], 10, 64)
			count, _ = strconv.ParseUint(m[5], 10, 64)
		}
	}
	f := openImage(t, img)
	if count != 1 || size == 0 || ino == 0 || int64(size) > f.bs-xslmHdr {
		t.Fatalf("fixRemoteSymlink %s: unexpected xfs_db output\n%s", path, out)
	}
	off := (int64(ag)*int64(f.sb.agBlocks) + int64(agbno)) * f.bs
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	must(t, err)
	defer fh.Close()
	blk := make([]byte, f.bs)
	_, err = fh.ReadAt(blk, off)
	must(t, err)
	fixed := make([]byte, f.bs)
	be := binary.BigEndian
	be.PutUint32(fixed, xslmMagic)
	be.PutUint32(fixed[8:], uint32(size))
	u, err := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	must(t, err)
	copy(fixed[16:], u)
	be.PutUint64(fixed[32:], ino)
	be.PutUint64(fixed[40:], uint64(off/512))
	copy(fixed[xslmHdr:], blk[:size])
	c := crc32.Checksum(fixed, castagnoli)
	binary.LittleEndian.PutUint32(fixed[xslmCRCOff:], c)
	_, err = fh.WriteAt(fixed, off)
	must(t, err)
	must(t, fh.Close())
	testutil.Run(t, "", "xfs_repair", "-n", img)
}

var blockuseRe = regexp.MustCompile(`^block \d+ \((\d+)/(\d+)\) type (\S+)(?: inode (\d+))?`)

// checkAgainstBlockuse compares the owner of every block of the walk with
// xfs_db's blockget/blockuse, which checks the whole filesystem's space
// accounting on its own: superblock and AG headers, each btree, inode
// chunks, log, and each inode's data, directory, symbolic link and bmbt
// blocks. Free blocks and the AGFL's reserve must be unmapped.
func (w *walked) checkAgainstBlockuse(t testing.TB, img string) {
	t.Helper()
	f := w.f
	cmds := []string{"blockget -n"}
	for ag := range f.sb.agCount {
		cmds = append(cmds, fmt.Sprintf("fsblock %d", uint64(ag)<<f.sb.agBlkLog), fmt.Sprintf("blockuse -c %d", f.agLength(ag)))
	}
	out := xfsDB(t, img, cmds)
	// What the walk says of each block: a description per owner.
	owners := map[int64][]string{}
	for _, e := range w.entries {
		for _, x := range e.Extents {
			if x.Role == bmap.RoleInline {
				continue
			}
			for b := x.Off / f.bs; b*f.bs < x.End(); b++ {
				var d string
				switch {
				case e.Kind == bmap.KindMeta:
					d = metaKind(e.Path)
				case x.Role == bmap.RoleExtentIndex:
					d = fmt.Sprintf("bmap %d", e.Inode)
				default:
					d = fmt.Sprintf("%s %d", dataKind(f, e), e.Inode)
				}
				if !slices.Contains(owners[b], d) {
					owners[b] = append(owners[b], d)
				}
			}
		}
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		m := blockuseRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ag, _ := strconv.ParseInt(m[1], 10, 64)
		agbno, _ := strconv.ParseInt(m[2], 10, 64)
		b := ag*int64(f.sb.agBlocks) + agbno
		want := m[3]
		if m[4] != "" {
			want += " " + m[4]
		}
		switch m[3] {
		case "free1", "free2", "freelist", "unknown":
			want = ""
		case "btbmapd", "btbmapa":
			want = "bmap " + m[4]
		case "sb", "agf", "agi", "agfl":
			want = "sb"
		}
		got := owners[b]
		n++
		switch {
		case want == "" && len(got) == 0:
		case want != "" && slices.Contains(got, want):
		case m[3] == "dir" && slices.Contains(got, "bmap "+m[4]):
			// xfs_db's blockget gives a directory's bmbt blocks the
			// directory's type (check.c scans them with the fork's type).
		default:
			t.Errorf("block %d (%d/%d): walked %v, xfs_db %q", b, ag, agbno, got, line)
		}
		delete(owners, b)
	}
	if n < int(f.sb.dblocks) {
		t.Errorf("xfs_db blockuse listed %d of %d blocks", n, f.sb.dblocks)
	}
	for b, o := range owners {
		t.Errorf("block %d: walked %v, not listed by xfs_db", b, o)
	}
}

// metaKind gives xfs_db's block type for a metadata entry's name.
func metaKind(name string) string {
	for _, k := range []struct{ suffix, kind string }{
		{"(by block)", "btbno"}, {"(by size)", "btcnt"}, {"free inode btree", "btfino"}, {"inode btree", "btino"},
		{"reverse map btree", "btrmap"}, {"refcount btree", "btrefcnt"}, {"inodes", "inode"}, {"log", "log"},
		{"(AGF)", "sb"}, {"(AGI)", "sb"}, {"(AGFL)", "sb"},
	} {
		if strings.HasSuffix(name, k.suffix) {
			return k.kind
		}
	}
	if strings.HasPrefix(name, "superblock") {
		return "sb"
	}
	return name
}

// dataKind gives xfs_db's block type for a file's or directory's data.
func dataKind(f *FS, e fs.Entry) string {
	switch {
	case e.Kind == bmap.KindDir:
		return "dir"
	case e.Symlink:
		return "symlink"
	}
	return "data"
}
