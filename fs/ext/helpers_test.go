package ext

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// Tests build real filesystems with e2fsprogs and compare the walk with
// independent tools: debugfs (stat: block and extent lists), The Sleuth
// Kit (fls: the path tree) and dumpe2fs (group layout).

const testUUID = "6a1f0c3e-2b7d-4c59-9e0a-5d3b8f1c2e47"

// run runs a command with reproducible e2fsprogs settings and returns its
// standard output.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000", "MKE2FS_CONFIG=/etc/mke2fs.conf", "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

// mkfs builds an image of the given size with mkfs.<typ>, populated from
// src if it is not empty.
func mkfs(t testing.TB, typ, src, size string, opts ...string) string {
	t.Helper()
	testutil.NeedTools(t, "mkfs."+typ)
	img := filepath.Join(t.TempDir(), typ+".img")
	args := []string{"-q", "-F", "-U", testUUID, "-L", "test-" + typ, "-E", "root_owner=0:0"}
	args = append(args, opts...)
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img, size)
	run(t, "mkfs."+typ, args...)
	return img
}

// debugfsW runs debugfs commands that change the image.
func debugfsW(t testing.TB, img string, cmds ...string) {
	t.Helper()
	testutil.NeedTools(t, "debugfs")
	cf := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(cf, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-w", "-f", cf, img)
}

// walked is the result of walking an image.
type walked struct {
	f       *FS
	entries []fs.Entry
	warns   []error
	img     []byte
}

func walkImage(t testing.TB, img string) *walked {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w := &walked{f: f, img: b}
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

func (w *walked) noWarnings(t testing.TB) {
	t.Helper()
	for _, err := range w.warns {
		t.Errorf("warning: %v", err)
	}
}

func (w *walked) byPath(t testing.TB, p string) fs.Entry {
	t.Helper()
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta && e.Path == p {
			return e
		}
	}
	t.Fatalf("no entry %q", p)
	return fs.Entry{}
}

// run is one mapped run in blocks, as debugfs prints it.
type blockRun struct {
	lblk, pblk, n uint64
	unwritten     bool
}

// statInfo is what debugfs stat says of one inode.
type statInfo struct {
	typ      string
	size     int64
	data     []blockRun
	other    map[uint64]bmap.Role // index or indirect block -> role
	inline   int64                // "Size of inline data", -1 if absent
	fileACL  uint64               // "File ACL": the xattr block
	fastLink bool
}

var (
	statHdr  = regexp.MustCompile(`^Inode: (\d+)\s+Type: (\S+)`)
	statSize = regexp.MustCompile(`Size: (\d+)\s*$`)
	statRun  = regexp.MustCompile(`^\((\d+)(?:-(\d+))?(\[u\])?\):(\d+)(?:-(\d+))?$`)
	statMeta = regexp.MustCompile(`^\((IND|DIND|TIND|ETB\d+)\):(\d+)$`)
)

// debugfsStat runs "stat <ino>" for every inode in one debugfs process.
func debugfsStat(t testing.TB, img string, inos []uint64) map[uint64]*statInfo {
	t.Helper()
	return debugfsStatArgs(t, img, nil, inos)
}

// debugfsStatArgs is debugfsStat with more debugfs options (-s, -b, -n).
func debugfsStatArgs(t testing.TB, img string, args []string, inos []uint64) map[uint64]*statInfo {
	t.Helper()
	testutil.NeedTools(t, "debugfs")
	var cmds strings.Builder
	for _, n := range inos {
		fmt.Fprintf(&cmds, "stat <%d>\n", n)
	}
	cf := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(cf, []byte(cmds.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, "debugfs", append(append(slices.Clone(args), "-f", cf), img)...)
	res := make(map[uint64]*statInfo)
	var cur *statInfo
	inBlocks := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := statHdr.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			cur = &statInfo{typ: m[2], other: map[uint64]bmap.Role{}, inline: -1}
			res[n] = cur
			inBlocks = false
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "User:"):
			if m := statSize.FindStringSubmatch(line); m != nil {
				cur.size, _ = strconv.ParseInt(m[1], 10, 64)
			}
		case strings.HasPrefix(line, "File ACL:"):
			cur.fileACL, _ = strconv.ParseUint(strings.Fields(line)[2], 10, 64)
		case strings.HasPrefix(line, "Size of inline data:"):
			cur.inline, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Size of inline data:")), 10, 64)
		case strings.HasPrefix(line, "Fast link dest:"):
			cur.fastLink = true
		case line == "BLOCKS:" || line == "EXTENTS:":
			inBlocks = true
		case inBlocks && strings.HasPrefix(line, "("):
			for _, item := range strings.Split(line, ", ") {
				if m := statMeta.FindStringSubmatch(item); m != nil {
					b, _ := strconv.ParseUint(m[2], 10, 64)
					role := map[string]bmap.Role{"IND": bmap.RoleIndirect, "DIND": bmap.RoleDIndirect, "TIND": bmap.RoleTIndirect}[m[1]]
					if role == "" {
						role = bmap.RoleExtentIndex
					}
					cur.other[b] = role
					continue
				}
				m := statRun.FindStringSubmatch(item)
				if m == nil {
					t.Fatalf("debugfs stat: cannot parse %q", item)
				}
				l1, _ := strconv.ParseUint(m[1], 10, 64)
				l2 := l1
				if m[2] != "" {
					l2, _ = strconv.ParseUint(m[2], 10, 64)
				}
				p1, _ := strconv.ParseUint(m[4], 10, 64)
				cur.data = append(cur.data, blockRun{lblk: l1, pblk: p1, n: l2 - l1 + 1, unwritten: m[3] != ""})
			}
		default:
			inBlocks = false
		}
	}
	return res
}

// normRuns sorts and merges runs that are contiguous both logically and
// physically, so that two descriptions of one mapping compare equal.
func normRuns(rs []blockRun) []blockRun {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b blockRun) int { return int(int64(a.lblk) - int64(b.lblk)) })
	var out []blockRun
	for _, r := range rs {
		if k := len(out); k > 0 {
			l := &out[k-1]
			if l.lblk+l.n == r.lblk && l.pblk+l.n == r.pblk && l.unwritten == r.unwritten {
				l.n += r.n
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// entryRuns converts an entry's RoleData extents to block runs and its
// index/indirect extents to a block -> role map.
func entryRuns(t testing.TB, e fs.Entry, bs int64) ([]blockRun, map[uint64]bmap.Role) {
	t.Helper()
	var runs []blockRun
	other := map[uint64]bmap.Role{}
	for _, x := range e.Extents {
		switch x.Role {
		case bmap.RoleData:
			if x.Off%bs != 0 || x.Len%bs != 0 || x.FileOff%bs != 0 {
				t.Errorf("%s: extent %+v not block aligned", e.Path, x)
			}
			runs = append(runs, blockRun{lblk: uint64(x.FileOff / bs), pblk: uint64(x.Off / bs), n: uint64(x.Len / bs), unwritten: x.Unwritten})
		case bmap.RoleIndirect, bmap.RoleDIndirect, bmap.RoleTIndirect, bmap.RoleExtentIndex:
			if x.FileOff != -1 {
				t.Errorf("%s: %s extent with FileOff %d", e.Path, x.Role, x.FileOff)
			}
			for b := x.Off / bs; b < x.End()/bs; b++ {
				if _, dup := other[uint64(b)]; dup {
					t.Errorf("%s: block %d reported twice", e.Path, b)
				}
				other[uint64(b)] = x.Role
			}
		}
	}
	return runs, other
}

// checkAgainstDebugfs compares every file and directory entry with
// debugfs stat of its inode.
func (w *walked) checkAgainstDebugfs(t testing.TB, img string) {
	t.Helper()
	w.checkAgainstDebugfsArgs(t, img, nil)
}

// checkAgainstDebugfsArgs is checkAgainstDebugfs with more debugfs
// options (-s, -b, -n).
func (w *walked) checkAgainstDebugfsArgs(t testing.TB, img string, args []string) {
	t.Helper()
	var inos []uint64
	seen := map[uint64]bool{}
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta && !seen[e.Inode] {
			seen[e.Inode] = true
			inos = append(inos, e.Inode)
		}
	}
	st := debugfsStatArgs(t, img, args, inos)
	bs := w.f.bs
	for _, e := range w.entries {
		if e.Kind == bmap.KindMeta {
			continue
		}
		s := st[e.Inode]
		if s == nil {
			t.Errorf("%s: debugfs knows no inode %d", e.Path, e.Inode)
			continue
		}
		if e.Size != s.size {
			t.Errorf("%s: size %d, debugfs %d", e.Path, e.Size, s.size)
		}
		if (e.Kind == bmap.KindDir) != (s.typ == "directory") {
			t.Errorf("%s: kind %c, debugfs type %s", e.Path, e.Kind, s.typ)
		}
		if e.Symlink != (s.typ == "symlink") {
			t.Errorf("%s: symlink %v, debugfs type %s", e.Path, e.Symlink, s.typ)
		}
		runs, other := entryRuns(t, e, bs)
		if got, want := normRuns(runs), normRuns(s.data); !slices.Equal(got, want) {
			t.Errorf("%s (inode %d): data runs\n got  %v\n want %v (debugfs)", e.Path, e.Inode, got, want)
		}
		if !mapsEqual(other, s.other) {
			t.Errorf("%s (inode %d): index/indirect blocks\n got  %v\n want %v (debugfs)", e.Path, e.Inode, other, s.other)
		}
		var inl int64
		var acl []uint64
		eaInode := w.f.sb.featureIncompat&incompatEAInode != 0
		for _, x := range e.Extents {
			if x.Role == bmap.RoleInline {
				inl += x.Len
			}
			if x.Role == bmap.RoleXattr {
				if x.FileOff != -1 || x.Len%bs != 0 || x.Len != bs && !eaInode {
					t.Errorf("%s: xattr extent %+v", e.Path, x)
				}
				for b := x.Off / bs; b < x.End()/bs; b++ {
					acl = append(acl, uint64(b))
				}
			}
		}
		// The xattr block is debugfs' File ACL; with ea_inode, the
		// blocks of value inodes follow (checked by TestEAInode).
		if s.fileACL != 0 && (len(acl) == 0 || acl[0] != s.fileACL) || len(acl) > 1 && !eaInode || s.fileACL == 0 && len(acl) != 0 && !eaInode {
			t.Errorf("%s: xattr blocks %v, debugfs File ACL %d", e.Path, acl, s.fileACL)
		}
		switch {
		case s.inline >= 0:
			if inl != min(s.inline, e.Size) {
				t.Errorf("%s: %d inline bytes, debugfs inline data size %d", e.Path, inl, s.inline)
			}
		case s.fastLink:
			if inl != e.Size {
				t.Errorf("%s: fast symlink with %d inline bytes, size %d", e.Path, inl, e.Size)
			}
		default:
			if inl != 0 {
				t.Errorf("%s: %d inline bytes, debugfs shows none", e.Path, inl)
			}
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkAgainstFls compares the set of (path, inode) with TSK's fls -r -p.
func (w *walked) checkAgainstFls(t testing.TB, img string) {
	t.Helper()
	testutil.NeedTools(t, "fls")
	out := run(t, "fls", "-r", "-p", img)
	want := map[string]uint64{}
	fls := map[string]string{} // path -> fls type field
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		tab := strings.IndexByte(line, '\t')
		if tab < 0 {
			t.Fatalf("fls: cannot parse %q", line)
		}
		head, name := line[:tab], line[tab+1:]
		f := strings.Fields(head)
		if len(f) < 2 || f[1] == "*" || strings.HasPrefix(f[0], "V/") || strings.HasPrefix(name, "$OrphanFiles") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(f[1], ":"), 10, 64)
		if err != nil {
			t.Fatalf("fls: cannot parse %q", line)
		}
		want["/"+name] = n
		fls["/"+name] = f[0]
	}
	got := map[string]uint64{}
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta && e.Path != "/" {
			if _, dup := got[e.Path]; dup {
				t.Errorf("path %q reported twice", e.Path)
			}
			got[e.Path] = e.Inode
		}
	}
	for p, n := range want {
		if _, ok := got[p]; !ok && strings.HasPrefix(fls[p], "-/") {
			// fls reads stale bytes of htree index blocks as entries
			// of unknown type that neither the kernel nor debugfs
			// lists; checkAgainstDebugfsLs covers the real entries.
			t.Logf("fls-only entry %q (type %s) ignored", p, fls[p])
			continue
		}
		if got[p] != n {
			t.Errorf("fls has %s = inode %d, walk has %d", p, n, got[p])
		}
	}
	for p, n := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("walk has %s = inode %d, fls has not", p, n)
		}
	}
	if len(want) == 0 {
		t.Error("fls listed nothing")
	}
}

// contents reads a file's contents through its data and inline extents.
func (w *walked) contents(e fs.Entry) []byte {
	b := make([]byte, e.Size)
	for _, x := range e.Extents {
		if (x.Role != bmap.RoleData && x.Role != bmap.RoleInline) || x.FileOff >= e.Size || x.Unwritten {
			continue
		}
		n := min(x.Len, e.Size-x.FileOff)
		copy(b[x.FileOff:x.FileOff+n], w.img[x.Off:x.Off+n])
	}
	return b
}

// checkContents compares every regular file and symlink with the source
// tree the image was made from (entries absent from src are skipped).
func (w *walked) checkContents(t testing.TB, src string) int {
	t.Helper()
	checked := 0
	for _, e := range w.entries {
		if e.Kind != bmap.KindFile {
			continue
		}
		p := filepath.Join(src, filepath.FromSlash(e.Path))
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		var want []byte
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			want = []byte(l)
		case fi.Mode().IsRegular():
			if want, err = os.ReadFile(p); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if got := w.contents(e); !bytes.Equal(got, want) {
			t.Errorf("%s: contents read through the extents differ from the source file (%d vs %d bytes)", e.Path, len(got), len(want))
		}
		checked++
	}
	return checked
}

// dumpe2fsLayout parses dumpe2fs: structure name -> blocks.
// dpb is the number of descriptors per block: with meta_bg, the first
// group of each meta group holds a primary descriptor block.
func dumpe2fsLayout(t testing.TB, img string, dpb int) map[string][]uint64 {
	t.Helper()
	testutil.NeedTools(t, "dumpe2fs")
	out := run(t, "dumpe2fs", img)
	res := map[string][]uint64{}
	add := func(name, rng string) {
		rng = strings.TrimSpace(rng)
		a, b, ok := strings.Cut(rng, "-")
		lo, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			t.Fatalf("dumpe2fs: range %q", rng)
		}
		hi := lo
		if ok {
			if hi, err = strconv.ParseUint(b, 10, 64); err != nil {
				t.Fatalf("dumpe2fs: range %q", rng)
			}
		}
		for x := lo; x <= hi; x++ {
			res[name] = append(res[name], x)
		}
	}
	grp := regexp.MustCompile(`^Group (\d+): `)
	num := regexp.MustCompile(`^(\d+(?:-\d+)?)`)
	g := -1
	for _, line := range strings.Split(string(out), "\n") {
		if m := grp.FindStringSubmatch(line); m != nil {
			g, _ = strconv.Atoi(m[1])
			continue
		}
		if g < 0 {
			continue
		}
		for _, part := range strings.Split(strings.TrimSpace(line), ", ") {
			for _, p := range []struct{ prefix, name string }{
				{"Primary superblock at ", "superblock"},
				{"Backup superblock at ", fmt.Sprintf("superblock backup (group %d)", g)},
				{"Group descriptors at ", "GD"},
				{"Group descriptor at ", "GD"},
				{"Reserved GDT blocks at ", "RGDT"},
				{"Block bitmap at ", fmt.Sprintf("group %d block bitmap", g)},
				{"Inode bitmap at ", fmt.Sprintf("group %d inode bitmap", g)},
				{"Inode table at ", fmt.Sprintf("group %d inode table", g)},
			} {
				if !strings.HasPrefix(part, p.prefix) {
					continue
				}
				name := p.name
				if name == "GD" || name == "RGDT" {
					base := map[string]string{"GD": "group descriptors", "RGDT": "reserved GDT blocks"}[name]
					if g == 0 || strings.Contains(line, "Primary") || strings.HasPrefix(part, "Group descriptor at") && g%dpb == 0 {
						name = base
					} else {
						name = fmt.Sprintf("%s backup (group %d)", base, g)
					}
				}
				add(name, num.FindString(strings.TrimPrefix(part, p.prefix)))
			}
		}
	}
	return res
}

// metaBlocks turns the walk's metadata entries into name -> blocks.
func (w *walked) metaBlocks() map[string][]uint64 {
	res := map[string][]uint64{}
	bs := w.f.bs
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta {
			continue
		}
		for _, x := range e.Extents {
			for b := x.Off / bs; b < (x.End()+bs-1)/bs; b++ {
				res[e.Path] = append(res[e.Path], uint64(b))
			}
		}
	}
	return res
}

// checkAgainstDumpe2fs compares the group layout with dumpe2fs and the
// journal and resize inode with debugfs.
func (w *walked) checkAgainstDumpe2fs(t testing.TB, img string) {
	t.Helper()
	want := dumpe2fsLayout(t, img, int(w.f.descPerBlock()))
	got := w.metaBlocks()
	for name, blocks := range want {
		g := slices.Sorted(slices.Values(got[name]))
		wb := slices.Sorted(slices.Values(blocks))
		if name == "group descriptors" {
			// dumpe2fs prints the meta_bg descriptor block of each
			// meta group in its first group: the same primary table.
			wb = slices.Compact(wb)
		}
		if !slices.Equal(g, wb) {
			t.Errorf("%s: blocks %v, dumpe2fs %v", name, short(g), short(wb))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !strings.Contains(name, "journal") && !strings.Contains(name, "resize") && !strings.Contains(name, "quota") && !strings.Contains(name, "orphan") {
			t.Errorf("walk reports %s, dumpe2fs does not", name)
		}
	}
	// Journal and resize inode: every block debugfs lists for them.
	var specials []uint64
	names := map[uint64]string{}
	for _, e := range w.entries {
		if e.Kind == bmap.KindMeta && e.Inode != 0 {
			specials = append(specials, e.Inode)
			names[e.Inode] = e.Path
		}
	}
	st := debugfsStat(t, img, specials)
	for _, n := range specials {
		s := st[n]
		var want []uint64
		for _, r := range s.data {
			for i := uint64(0); i < r.n; i++ {
				want = append(want, r.pblk+i)
			}
		}
		for b := range s.other {
			want = append(want, b)
		}
		slices.Sort(want)
		want = slices.Compact(want)
		g := slices.Sorted(slices.Values(got[names[n]]))
		if !slices.Equal(g, want) {
			t.Errorf("%s (inode %d): blocks %v, debugfs %v", names[n], n, short(g), short(want))
		}
	}
}

func short(b []uint64) string {
	if len(b) > 20 {
		return fmt.Sprintf("%v ... %v (%d blocks)", b[:10], b[len(b)-10:], len(b))
	}
	return fmt.Sprint(b)
}

// runAllowExit runs a command whose exit status may be one of ok.
func runAllowExit(t testing.TB, ok []int, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000")
	out, err := cmd.CombinedOutput()
	if ee, isExit := err.(*exec.ExitError); isExit && slices.Contains(ok, ee.ExitCode()) {
		return
	}
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// debugfsLs lists the given directories with "ls -p" in one debugfs
// process: dir path -> name -> inode ("." and ".." left out).
func debugfsLs(t testing.TB, img string, dirs []string) map[string]map[string]uint64 {
	t.Helper()
	var cmds strings.Builder
	for _, d := range dirs {
		fmt.Fprintf(&cmds, "ls -p \"%s\"\n", d)
	}
	cf := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(cf, []byte(cmds.String()), 0o644))
	out := run(t, "debugfs", "-f", cf, img)
	res := map[string]map[string]uint64{}
	var cur map[string]uint64
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
			cur = map[string]uint64{}
			res[strings.Trim(rest, `"`)] = cur
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "/") {
			continue
		}
		f := strings.Split(line, "/")
		if len(f) < 8 {
			t.Fatalf("debugfs ls -p: cannot parse %q", line)
		}
		name := strings.Join(f[5:len(f)-2], "/")
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("debugfs ls -p: cannot parse %q", line)
		}
		if name == "." || name == ".." || n == 0 {
			continue
		}
		cur[name] = n
	}
	return res
}

// checkAgainstDebugfsLs lists every directory the walk reported with
// debugfs and compares the children: a directory the walk missed shows
// up as a child in its parent's listing.
func (w *walked) checkAgainstDebugfsLs(t testing.TB, img string) {
	t.Helper()
	children := map[string]map[string]uint64{}
	var dirs []string
	for _, e := range w.entries {
		if e.Kind == bmap.KindDir {
			dirs = append(dirs, e.Path)
			if children[e.Path] == nil {
				children[e.Path] = map[string]uint64{}
			}
		}
	}
	for _, e := range w.entries {
		if e.Kind == bmap.KindMeta || e.Path == "/" {
			continue
		}
		dir, name := filepath.Split(e.Path)
		if dir != "/" {
			dir = strings.TrimSuffix(dir, "/")
		}
		children[dir][name] = e.Inode
	}
	ls := debugfsLs(t, img, dirs)
	for _, d := range dirs {
		if !mapsEqual(children[d], ls[d]) {
			t.Errorf("%s: children differ from debugfs ls:\n got  %v\n want %v", d, children[d], ls[d])
		}
	}
}

// checkAgainstIstat compares, for up to max files with data, the data
// blocks and the index or indirect blocks with The Sleuth Kit's istat
// ("Direct Blocks", "Indirect Blocks", "Extent Blocks"). istat leaves out
// unwritten extents, so they are left out here too, and lists holes as
// block 0, which is left out of its lists.
func (w *walked) checkAgainstIstat(t testing.TB, img string, max int) {
	t.Helper()
	testutil.NeedTools(t, "istat")
	bs := w.f.bs
	done := map[uint64]bool{}
	for _, e := range w.entries {
		if e.Kind != bmap.KindFile || done[e.Inode] || len(done) >= max || e.Size > 8<<20 {
			// istat takes seconds over a large sparse file's holes;
			// debugfs stat covers those.
			continue
		}
		var data, other []uint64
		for _, x := range e.Extents {
			for b := x.Off / bs; b < x.End()/bs; b++ {
				switch {
				case x.Role == bmap.RoleData && !x.Unwritten && x.FileOff+(b-x.Off/bs)*bs >= e.Size:
					// istat lists blocks up to i_size only (fs-verity's
					// Merkle tree, preallocation past the end).
				case x.Role == bmap.RoleData && !x.Unwritten:
					data = append(data, uint64(b))
				case x.Role == bmap.RoleIndirect || x.Role == bmap.RoleDIndirect || x.Role == bmap.RoleTIndirect || x.Role == bmap.RoleExtentIndex:
					other = append(other, uint64(b))
				}
			}
		}
		if len(data) == 0 {
			continue
		}
		done[e.Inode] = true
		out := string(run(t, "istat", img, strconv.FormatUint(e.Inode, 10)))
		var wantData, wantOther []uint64
		var cur *[]uint64
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(line, "Direct Blocks:"):
				cur = &wantData
				continue
			case strings.HasPrefix(line, "Indirect Blocks:"), strings.HasPrefix(line, "Extent Blocks:"):
				cur = &wantOther
				continue
			case strings.TrimSpace(line) == "" || strings.HasSuffix(line, ":"):
				cur = nil
				continue
			}
			if cur == nil {
				continue
			}
			for _, f := range strings.Fields(line) {
				n, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					cur = nil
					break
				}
				if n != 0 { // istat lists holes as block 0
					*cur = append(*cur, n)
				}
			}
		}
		slices.Sort(data)
		slices.Sort(other)
		slices.Sort(wantData)
		slices.Sort(wantOther)
		if !slices.Equal(data, wantData) || !slices.Equal(other, wantOther) {
			t.Errorf("%s (inode %d): data %s, other %s; istat data %s, other %s", e.Path, e.Inode, short(data), short(other), short(wantData), short(wantOther))
		}
	}
	if len(done) == 0 {
		t.Error("istat compared no file")
	}
}
