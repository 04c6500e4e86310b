package ext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The regression corpus: e2fsprogs' own test images (testdata/e2fsprogs,
// see its README), most of them damaged on purpose. For every image the
// walk must not panic or hang, must keep its warnings few, and must hold
// every file that debugfs lists (with the backup superblock the walk
// chose, if it chose one), unless a warning names that file or a
// directory above it, and must map every inode no warning names exactly
// as debugfs stat does (damage stays with what it touches). The images
// e2fsck -fn finds clean are compared exactly: no warning, paths with
// fls, extents with debugfs stat and istat.

// corpusImages is the table of images. clean: e2fsck -fn exits 0 (checked
// again by the test); backup: the group of the backup superblock the walk
// must use; noFS: neither we nor e2fsck find a filesystem; rootLost: the
// root directory cannot be read (e2fsck would recreate it); noTSK and
// noDebugfs: why that oracle is not asked.
var corpusImages = []struct {
	name      string
	clean     bool
	backup    uint64
	noFS      bool
	rootLost  bool
	noTSK     string
	noDebugfs string
}{
	{name: "d_inline_dump", clean: true, noTSK: "fls misses an inline directory's entries in system.data"},
	{name: "f_16384_block", clean: true},
	{name: "f_8192_block", clean: true},
	{name: "f_bad_bbitmap"},
	{name: "f_bad_gdt_csum", clean: true},
	{name: "f_bad_inode_csum"},
	{name: "f_badcluster"},
	{name: "f_baddir"},
	{name: "f_baddir2"},
	{name: "f_badinode"},
	{name: "f_badprimary"},
	{name: "f_badroot", rootLost: true},
	{name: "f_badsymlinks"},
	{name: "f_bigalloc_symlink_with_xattr", clean: true},
	{name: "f_collapse_extent_tree", clean: true},
	{name: "f_compress_extent_tree_level", clean: true, noTSK: "istat: fs_attr_add_run: no filler entry"},
	{name: "f_convert_bmap", clean: true},
	{name: "f_convert_bmap_and_extent", clean: true},
	{name: "f_corrupt_dirent_tail"},
	{name: "f_crashdisk", noFS: true},
	{name: "f_desc_size_128", clean: true},
	{name: "f_desc_size_zero", noFS: true},
	{name: "f_dir_bad_csum"},
	{name: "f_dirlink"},
	{name: "f_ea_inode"},
	{name: "f_extent_bad_node"},
	{name: "f_extent_int_bad_csum"},
	{name: "f_extent_int_bad_magic"},
	{name: "f_extent_leaf_bad_magic"},
	{name: "f_extent_too_deep"},
	{name: "f_extents"},
	{name: "f_fast_symlink_extents"},
	{name: "f_first_meta_bg_too_big", clean: true, noDebugfs: "debugfs refuses s_first_meta_bg beyond the descriptor blocks; e2fsck and the kernel read it"},
	{name: "f_htree_bad_csum"},
	{name: "f_illbbitmap"},
	{name: "f_illibitmap"},
	{name: "f_illitable", rootLost: true},
	{name: "f_illitable_flexbg"},
	{name: "f_ind_inode_collision"},
	{name: "f_inlinedata_repair"},
	{name: "f_itable_collision"},
	{name: "f_lotsbad"},
	{name: "f_messy_inode"},
	{name: "f_miss_blk_bmap"},
	{name: "f_misstable"},
	{name: "f_noroot"},
	{name: "f_okgroup", clean: true, noTSK: "TSK reads the root inode as mode 0, size 0 (debugfs and e2fsck read a directory)"},
	{name: "f_quota_extent_opt", clean: true, noTSK: "istat: fs_attr_add_run: no filler entry"},
	{name: "f_rehash_dir", clean: true},
	{name: "f_resize_inode_meta_bg"},
	{name: "f_selinux", clean: true},
	{name: "f_trunc_dirent_header"},
	{name: "f_uninit_ext_past_eof", clean: true},
	{name: "f_valid_ea_in_inode", clean: true},
	{name: "f_verity", clean: true},
	{name: "f_zero_group"},
	{name: "f_zero_super", backup: 1},
	{name: "f_zeroed_ext_header"},
	{name: "i_zero_super", backup: 1},
	{name: "r_min_itable", clean: true},
}

// corpusMaxWarnings bounds the warnings of one image: one per damaged
// structure, at most maxInodeWarns+1 per inode.
const corpusMaxWarnings = 64

// corpusTimeout bounds the walk of one image (they are all under 64 MiB
// and most under 1 MiB): a hang fails the test instead of the run.
const corpusTimeout = 30 * time.Second

func TestE2fsprogsCorpus(t *testing.T) {
	testutil.NeedTools(t, "debugfs", "e2fsck", "fls", "istat")
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "e2fsprogs", "*.img.gz"))
	must(t, err)
	if len(files) != len(corpusImages) {
		t.Errorf("%d images in testdata/e2fsprogs, %d in the table", len(files), len(corpusImages))
	}
	// The subtests mostly wait for debugfs, e2fsck and TSK: a few run at
	// once whatever -parallel says (t.Run may be called from several
	// goroutines).
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range corpusWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				corpusImage(t, i)
			}
		}()
	}
	for i := range corpusImages {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// corpusWorkers is how many images are checked at once.
const corpusWorkers = 6

// corpusImage checks corpusImages[i] in a subtest.
func corpusImage(t *testing.T, i int) {
	c := corpusImages[i]
	t.Run(c.name, func(t *testing.T) {
		b := testutil.Gunzip(t, filepath.Join("testdata", "e2fsprogs", c.name+".img.gz"))
		img := filepath.Join(t.TempDir(), c.name+".img")
		must(t, os.WriteFile(img, b, 0o644))
		w, newErr := walkTimeout(t, b)
		if c.noFS {
			if newErr == nil {
				t.Fatalf("New found a filesystem; e2fsck finds none")
			}
			if code := exitCode(t, 20*time.Second, "e2fsck", "-fn", img); code != 8 {
				t.Errorf("New: %v; but e2fsck -fn exits %d (not 8: it found a superblock)", newErr, code)
			}
			return
		}
		if newErr != nil {
			t.Fatalf("New: %v", newErr)
		}
		d := w.f.Damage()
		if len(w.warns) > corpusMaxWarnings {
			t.Errorf("%d warnings, want at most %d", len(w.warns), corpusMaxWarnings)
		}
		for _, err := range w.warns {
			t.Logf("warning: %v", err)
		}
		if c.rootLost != d.RootLost {
			t.Errorf("Damage().RootLost = %v, want %v", d.RootLost, c.rootLost)
		}
		var args []string
		if d.PrimarySuperblock != nil {
			if d.BackupGroup != c.backup {
				t.Errorf("backup superblock of group %d used, want %d", d.BackupGroup, c.backup)
			}
			args = append(args, "-s", strconv.FormatInt(d.BackupOff/w.f.bs, 10), "-b", strconv.FormatInt(w.f.bs, 10))
		} else if c.backup != 0 {
			t.Errorf("primary superblock used, want the backup in group %d", c.backup)
		} else if d.GroupsRecovered > 0 && w.f.ngroups > 1 {
			// The walk took descriptors from a backup copy:
			// debugfs reads them with group 1's superblock,
			// as e2fsck falls back on it.
			args = append(args, "-s", strconv.FormatUint(w.f.groupFirstBlock(1), 10), "-b", strconv.FormatInt(w.f.bs, 10))
		}
		if c.noDebugfs == "" {
			w.holdsDebugfsTree(t, img, args)
		} else {
			t.Logf("debugfs not asked: %s", c.noDebugfs)
		}
		// Every inode mapped without a warning is mapped as debugfs
		// maps it: damage stays with the inodes it touches.
		if c.noDebugfs == "" {
			w.unwarned().checkAgainstDebugfsArgs(t, img, append([]string{"-n"}, args...))
		}
		if !c.clean {
			return
		}
		if code := exitCode(t, 20*time.Second, "e2fsck", "-fn", img); code != 0 {
			t.Errorf("e2fsck -fn exits %d on an image marked clean", code)
		}
		if !d.Complete() {
			t.Errorf("Damage() = %+v on a clean image", d)
		}
		// e2fsck ignores the checksum errors it is told to fix
		// later; the walk still warns about what it met.
		if c.name != "f_bad_gdt_csum" {
			w.noWarnings(t)
		}
		switch {
		case w.f.sb.hasBigalloc():
			t.Log("The Sleuth Kit does not read bigalloc: fls and istat skipped")
		case c.noTSK != "":
			t.Logf("The Sleuth Kit not asked: %s", c.noTSK)
		default:
			w.checkAgainstFls(t, img)
			if w.hasDataFile() {
				w.checkAgainstIstat(t, img, 4) // one istat process each: a few suffice
			}
		}
		if c.noDebugfs == "" {
			w.checkAgainstDebugfs(t, img)
		}
	})
}

// walkTimeout opens and walks image b, failing the test if that takes
// longer than corpusTimeout. A New error is returned, a Walk error logged
// (Damage says why).
func walkTimeout(t *testing.T, b []byte) (*walked, error) {
	t.Helper()
	type result struct {
		w   *walked
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := New(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			done <- result{err: err}
			return
		}
		w := &walked{f: f, img: b}
		f.SetWarn(func(err error) { w.warns = append(w.warns, err) })
		if err := f.Walk(func(e fs.Entry) error {
			e.Extents = slices.Clone(e.Extents)
			w.entries = append(w.entries, e)
			return nil
		}); err != nil {
			t.Logf("Walk: %v", err)
		}
		done <- result{w: w}
	}()
	select {
	case r := <-done:
		return r.w, r.err
	case <-time.After(corpusTimeout):
		t.Fatalf("walk still running after %v", corpusTimeout)
	}
	return nil, nil
}

// exitCode runs a command with a timeout and returns its exit status (-1
// when it timed out).
func exitCode(t *testing.T, timeout time.Duration, name string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := exec.CommandContext(ctx, name, args...).Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		t.Logf("%s %q: timed out after %v", name, args, timeout)
		return -1
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("%s %q: %v", name, args, err)
	return 0
}

// debugfsTree lists the tree debugfs sees from the root, breadth first,
// one debugfs process per level (-n: checksums not verified, so that it
// reads all it can): path -> inode. Directories debugfs cannot list are
// left out, each directory is listed once (a hard-linked or looping
// directory is not followed twice).
func debugfsTree(t *testing.T, img string, args []string) map[string]uint64 {
	t.Helper()
	res := map[string]uint64{}
	seen := map[uint64]bool{2: true}
	level := []string{"/"}
	for depth := 0; len(level) > 0 && depth < 64; depth++ {
		var cmds strings.Builder
		for _, d := range level {
			fmt.Fprintf(&cmds, "ls -p \"%s\"\n", d)
		}
		cf := filepath.Join(t.TempDir(), "cmds")
		must(t, os.WriteFile(cf, []byte(cmds.String()), 0o644))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "debugfs", append(append([]string{"-n"}, args...), "-f", cf, img)...).Output()
		cancel()
		if err != nil {
			t.Fatalf("debugfs: %v", err)
		}
		var next []string
		cur := ""
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
				cur = strings.Trim(rest, `"`)
				continue
			}
			if !strings.HasPrefix(line, "/") {
				continue
			}
			f := strings.Split(line, "/")
			if len(f) < 8 {
				continue
			}
			name := strings.Join(f[5:len(f)-2], "/")
			ino, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil || ino == 0 || name == "." || name == ".." || name == "" || strings.ContainsAny(name, "\"\n") {
				continue
			}
			p := "/" + name
			if cur != "/" {
				p = cur + "/" + name
			}
			res[p] = ino
			if strings.HasPrefix(f[2], "04") && !seen[ino] {
				seen[ino] = true
				next = append(next, p)
			}
		}
		level = next
	}
	return res
}

// holdsDebugfsTree checks that the walk holds every path debugfs lists,
// with the same inode, unless a warning names the path or a directory
// above it (a damaged inode or directory the walk skipped, as e2fsck
// would clear it).
func (w *walked) holdsDebugfsTree(t *testing.T, img string, args []string) {
	t.Helper()
	want := debugfsTree(t, img, args)
	got := map[string]uint64{}
	for _, e := range w.entries {
		if e.Kind != bmap.KindMeta {
			got[e.Path] = e.Inode
		}
	}
	warned := func(p string) bool {
		for {
			for _, err := range w.warns {
				s := err.Error()
				if strings.Contains(s, "("+p+")") || strings.Contains(s, "("+p+" ") || strings.Contains(s, fmt.Sprintf("%q", filepath.Base(p))) {
					return true
				}
			}
			if p == "/" {
				return false
			}
			p = filepath.Dir(p)
		}
	}
	missing, excused := 0, 0
	for p, ino := range want {
		g, ok := got[p]
		switch {
		case ok && g == ino:
		case warned(p):
			excused++
		case !ok:
			missing++
			t.Errorf("debugfs lists %s (inode %d); the walk has not, and no warning names it", p, ino)
		default:
			t.Errorf("debugfs lists %s as inode %d, the walk as %d", p, ino, g)
		}
	}
	t.Logf("debugfs lists %d paths: %d in the walk, %d skipped with a warning, %d missing", len(want), len(want)-excused-missing, excused, missing)
	if len(want) == 0 {
		t.Log("debugfs listed nothing")
	}
}

// unwarned returns the walk without the entries a warning names (by
// path or inode number).
func (w *walked) unwarned() *walked {
	out := &walked{f: w.f, img: w.img}
	for _, e := range w.entries {
		named := false
		for _, err := range w.warns {
			s := err.Error()
			named = named || strings.Contains(s, "("+e.Path+")") || strings.Contains(s, "("+e.Path+" ") ||
				strings.Contains(s, fmt.Sprintf("inode %d ", e.Inode))
		}
		if !named {
			out.entries = append(out.entries, e)
		}
	}
	return out
}

// hasDataFile reports whether the walk found a file with data blocks
// (istat has something to compare).
func (w *walked) hasDataFile() bool {
	for _, e := range w.entries {
		if e.Kind != bmap.KindFile {
			continue
		}
		for _, x := range e.Extents {
			if x.Role == bmap.RoleData && !x.Unwritten && x.FileOff < e.Size {
				return true
			}
		}
	}
	return false
}
