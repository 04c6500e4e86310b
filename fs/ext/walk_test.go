package ext

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// writeFile writes n pseudo-random bytes (seeded by name) to dir/name.
func writeFile(t testing.TB, dir, name string, n int) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(len(name)), uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sparseFile makes dir/name of size bytes with small written pieces at
// the given offsets.
func sparseFile(t testing.TB, dir, name string, size int64, at ...int64) {
	t.Helper()
	fh, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range at {
		if _, err := fh.WriteAt(bytes.Repeat([]byte{byte('A' + i)}, 3000), off); err != nil {
			t.Fatal(err)
		}
	}
}

// commonTree is the source tree shared by the images: small and larger
// files, a nested directory, fast and slow symlinks, hard links, a sparse
// file, a FIFO and a character device.
func commonTree(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	writeFile(t, src, "small.txt", 100)
	writeFile(t, src, "tiny", 10)
	writeFile(t, src, "empty", 0)
	writeFile(t, src, "etc/passwd", 2000)
	writeFile(t, src, "usr/lib/deep/er/still/file.bin", 70000)
	writeFile(t, src, "big.bin", 600<<10)
	sparseFile(t, src, "sparse", 5<<20, 0, 2<<20, 5<<20-3000)
	must(t, os.Symlink("small.txt", filepath.Join(src, "fastlink")))
	must(t, os.Symlink(strings.Repeat("long/path/component/", 8)+"target", filepath.Join(src, "slowlink")))
	must(t, os.Link(filepath.Join(src, "etc/passwd"), filepath.Join(src, "hardlink1")))
	must(t, os.Link(filepath.Join(src, "etc/passwd"), filepath.Join(src, "usr/hardlink2")))
	must(t, syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644))
	if err := syscall.Mknod(filepath.Join(src, "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Logf("mknod: %v (no device node in the tree)", err)
	}
	for i := range 30 {
		writeFile(t, src, fmt.Sprintf("many/f%03d", i), i*300)
	}
	return src
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkAll runs every independent comparison on an image.
func checkAll(t *testing.T, img, src string) *walked {
	t.Helper()
	w := walkImage(t, img)
	w.noWarnings(t)
	if w.f.sb.hasBigalloc() {
		t.Log("The Sleuth Kit does not read bigalloc: fls comparison skipped")
	} else {
		w.checkAgainstFls(t, img)
	}
	w.checkAgainstDebugfsLs(t, img)
	w.checkAgainstDebugfs(t, img)
	w.checkAgainstDumpe2fs(t, img)
	if src != "" {
		if n := w.checkContents(t, src); n == 0 {
			t.Error("no file contents checked")
		}
	}
	return w
}

func TestExt4Features(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	// Fragmentation: 200 4 KiB files, every other one deleted after
	// mkfs, then a 1 MiB file written into the holes -> an extent tree
	// with an index level.
	for i := range 200 {
		writeFile(t, src, fmt.Sprintf("frag/%03d", i), 4096)
	}
	for i := range 400 {
		writeFile(t, src, fmt.Sprintf("wide/a-twenty-char-name-%03d", i), 0)
	}
	img := mkfs(t, "ext4", src, "32M", "-b", "4096")
	host := t.TempDir()
	writeFile(t, host, "fragmented", 1<<20)
	writeFile(t, host, "xattr", 600) // too big for the inode: an xattr block
	cmds := []string{}
	for i := 0; i < 200; i += 2 {
		cmds = append(cmds, fmt.Sprintf("rm /frag/%03d", i))
	}
	cmds = append(cmds, "write "+filepath.Join(host, "fragmented")+" /fragmented",
		"write "+filepath.Join(host, "fragmented")+" /falloc", "fallocate /falloc 300 400",
		"write /dev/null /prealloc", "fallocate /prealloc 0 20",
		"ea_set -f "+filepath.Join(host, "xattr")+" /small.txt user.big",
		"ea_set -f "+filepath.Join(host, "xattr")+" /many/f002 user.big")
	// e2fsck -D rebuilds every directory of more than one block as an
	// htree, with metadata_csum dx tails.
	runAllowExit(t, []int{0, 1}, "e2fsck", "-fyD", img)
	if out := debugfsOut(t, img, "stat /wide"); !strings.Contains(out, "Flags: 0x81000") {
		t.Fatalf("/wide is not an htree directory:\n%s", out)
	}
	debugfsW(t, img, cmds...)
	w := checkAll(t, img, src)
	if n := w.checkContents(t, host); n != 1 {
		t.Errorf("checked %d files against the host copy, want 1", n)
	}
	if got := w.f.Info(); got.Type != "ext4" || got.UUID != testUUID || got.Label != "test-ext4" || got.BlockSize != 4096 || got.Size != 32<<20 {
		t.Errorf("Info = %+v", got)
	}
	w.checkAgainstIstat(t, img, 20)
	frag := w.byPath(t, "/fragmented")
	var idx, data int
	for _, x := range frag.Extents {
		switch x.Role {
		case bmap.RoleExtentIndex:
			idx++
		case bmap.RoleData:
			data++
		}
	}
	if idx == 0 || data < 5 {
		t.Errorf("/fragmented: %d index blocks, %d data extents; want a tree of depth >= 1", idx, data)
	}
	var unwritten bool
	for _, x := range w.byPath(t, "/falloc").Extents {
		unwritten = unwritten || x.Unwritten
	}
	if !unwritten {
		t.Error("/falloc has no unwritten extent")
	}
	// Hard links: the same inode and extents under every path.
	a, b := w.byPath(t, "/hardlink1"), w.byPath(t, "/usr/hardlink2")
	if a.Inode != b.Inode || fmt.Sprint(a.Extents) != fmt.Sprint(b.Extents) || len(a.Extents) == 0 {
		t.Errorf("hard links differ: %+v vs %+v", a, b)
	}
	if e := w.byPath(t, "/fastlink"); !e.Symlink || len(e.Extents) != 1 || e.Extents[0].Role != bmap.RoleInline {
		t.Errorf("/fastlink = %+v", e)
	}
	if e := w.byPath(t, "/slowlink"); !e.Symlink || len(e.Extents) != 1 || e.Extents[0].Role != bmap.RoleData {
		t.Errorf("/slowlink = %+v", e)
	}
	var xattr int
	for _, e := range w.entries {
		for _, x := range e.Extents {
			if x.Role == bmap.RoleXattr {
				xattr++
			}
		}
	}
	if xattr != 2 {
		t.Errorf("%d xattr blocks, want 2", xattr)
	}
	for _, p := range []string{"/fifo", "/null"} {
		if e := w.byPath(t, p); e.Kind != bmap.KindFile || len(e.Extents) != 0 || e.Symlink {
			t.Errorf("%s = %+v, want a file entry without extents", p, e)
		}
	}
	if !w.f.SuperblockChecksumOK() {
		t.Error("superblock checksum does not match")
	}
}

func TestExt2TripleIndirect(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext2", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	// With 1 KiB blocks the triple indirect tree starts at file block
	// 12 + 256 + 65536 = 65804: write blocks on both sides of it.
	sparseFile(t, src, "tind", 70<<20, 0, 65803<<10, 65804<<10, 68<<20)
	img := mkfs(t, "ext2", src, "16M", "-b", "1024")
	w := checkAll(t, img, src)
	if got := w.f.Info(); got.Type != "ext2" || got.BlockSize != 1024 {
		t.Errorf("Info = %+v", got)
	}
	w.checkAgainstIstat(t, img, 20)
	roles := map[bmap.Role]int{}
	for _, x := range w.byPath(t, "/tind").Extents {
		roles[x.Role]++
	}
	if roles[bmap.RoleTIndirect] != 1 || roles[bmap.RoleDIndirect] < 2 || roles[bmap.RoleIndirect] < 3 {
		t.Errorf("/tind roles %v: want a triple indirect tree", roles)
	}
}

func TestExt3TwoKiB(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext3", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	writeFile(t, src, "dind.bin", 3<<20) // past 12 + 512 blocks of 2 KiB: double indirect
	img := mkfs(t, "ext3", src, "24M", "-b", "2048")
	w := checkAll(t, img, src)
	if got := w.f.Info(); got.Type != "ext3" || got.BlockSize != 2048 {
		t.Errorf("Info = %+v", got)
	}
	var journal bool
	for _, e := range w.entries {
		journal = journal || e.Kind == bmap.KindMeta && e.Path == "journal" && len(e.Extents) > 0
	}
	if !journal {
		t.Error("no journal entry")
	}
}

func TestExt4InlineData(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	writeFile(t, src, "inl/a40", 40)   // in i_block only
	writeFile(t, src, "inl/b100", 100) // i_block and system.data
	writeFile(t, src, "inl/c150", 150)
	writeFile(t, src, "smalldir/x", 5) // a directory small enough to be inline
	writeFile(t, src, "smalldir/y", 5)
	writeFile(t, src, "xattrdir/a", 5)
	writeFile(t, src, "other/c", 5)
	img := mkfs(t, "ext4", src, "16M", "-O", "inline_data", "-I", "256")
	// libext2fs moves a full inline directory to a block; the kernel
	// continues it in the system.data attribute. Make such a directory:
	// a second entry, "c" (a hard link to /other/c), in system.data.
	dent := make([]byte, 16)
	binary.LittleEndian.PutUint32(dent, statInode(t, img, "/other/c"))
	binary.LittleEndian.PutUint16(dent[4:], 16)
	dent[6], dent[7], dent[8] = 1, 1, 'c'
	df := filepath.Join(t.TempDir(), "dent")
	must(t, os.WriteFile(df, dent, 0o644))
	debugfsW(t, img, "ea_set -f "+df+" /xattrdir system.data", "sif /xattrdir size 76")
	w := checkAll(t, img, src)
	if a, b := w.byPath(t, "/xattrdir/c"), w.byPath(t, "/other/c"); a.Inode != b.Inode {
		t.Errorf("/xattrdir/c is inode %d, /other/c %d", a.Inode, b.Inode)
	}
	var xattrPart, dirInline bool
	for _, e := range w.entries {
		for _, x := range e.Extents {
			if x.Role == bmap.RoleInline && x.FileOff == iBlockLen {
				xattrPart = true
			}
			if x.Role == bmap.RoleInline && e.Kind == bmap.KindDir {
				dirInline = true
			}
		}
	}
	if !xattrPart || !dirInline {
		t.Errorf("inline data in system.data: %v, inline directory: %v", xattrPart, dirInline)
	}
	w.byPath(t, "/smalldir/y")
	var parts int
	for _, x := range w.byPath(t, "/xattrdir").Extents {
		if x.Role == bmap.RoleInline {
			parts++
		}
	}
	if parts != 2 {
		t.Errorf("/xattrdir has %d inline extents, want 2 (i_block and system.data)", parts)
	}
}

func TestExt4Bigalloc(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	img := mkfs(t, "ext4", src, "64M", "-O", "bigalloc", "-C", "16384")
	checkAll(t, img, src)
}

func TestExt4MetaBG(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	src := commonTree(t)
	// 1 KiB blocks and 256 blocks per group: 96 groups, 16 descriptors a
	// block with 64bit, so 6 meta groups.
	img := mkfs(t, "ext4", src, "24M", "-b", "1024", "-g", "256", "-N", "3072", "-O", "meta_bg,^resize_inode")
	w := checkAll(t, img, src)
	var backups int
	for _, e := range w.entries {
		if strings.HasPrefix(e.Path, "group descriptors backup") {
			backups++
		}
	}
	if backups < 10 {
		t.Errorf("%d group descriptor backups, want two per meta group", backups)
	}
}

func TestExt4HtreeDir(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs", "e2fsck")
	t.Parallel()
	src := t.TempDir()
	for i := range 10000 {
		fh, err := os.Create(filepath.Join(src, "big", fmt.Sprintf("f%05d", i)))
		if os.IsNotExist(err) {
			must(t, os.Mkdir(filepath.Join(src, "big"), 0o755))
			fh, err = os.Create(filepath.Join(src, "big", fmt.Sprintf("f%05d", i)))
		}
		must(t, err)
		fh.Close()
	}
	// Without metadata_csum libext2fs adds the 10,000 entries more than
	// twice as fast; TestExt4Features has htrees with checksums.
	img := mkfs(t, "ext4", src, "64M", "-b", "4096", "-O", "^metadata_csum")
	// e2fsck -D rebuilds directories as htrees (dir_index).
	runAllowExit(t, []int{0, 1}, "e2fsck", "-fyD", img)
	flags := string(run(t, "debugfs", "-R", "stat /big", img))
	if !strings.Contains(flags, "Flags: 0x81000") && !strings.Contains(flags, "Flags: 0x1000") {
		t.Fatalf("/big is not an htree directory:\n%s", flags[:200])
	}
	w := checkAll(t, img, "")
	n := 0
	for _, e := range w.entries {
		if strings.HasPrefix(e.Path, "/big/") {
			n++
		}
	}
	if n != 10000 {
		t.Errorf("%d entries under /big, want 10000", n)
	}
}

// TestLayoutVariants checks the metadata layout (and the walk) of
// multi-group filesystems whose superblock backups and descriptors sit in
// different places.
func TestLayoutVariants(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	t.Parallel()
	cases := []struct {
		name, typ, size string
		opts            []string
	}{
		{"no sparse_super", "ext2", "40M", []string{"-b", "1024", "-O", "^sparse_super,^resize_inode"}},
		{"sparse_super2", "ext4", "40M", []string{"-b", "1024", "-O", "sparse_super2"}},
		{"no flex_bg 4k", "ext4", "300M", []string{"-b", "4096", "-O", "^flex_bg"}},
		{"32-bit descriptors", "ext4", "300M", []string{"-b", "4096", "-O", "^64bit,^metadata_csum"}},
		{"1k bigalloc", "ext4", "200M", []string{"-b", "1024", "-O", "bigalloc", "-C", "8192"}},
		{"ext3 4k resize", "ext3", "300M", []string{"-b", "4096"}},
		{"64k blocks", "ext4", "200M", []string{"-b", "65536", "-g", "1024"}},
		{"casefold and large_dir", "ext4", "40M", []string{"-O", "casefold,large_dir"}},
		{"quota and orphan_file", "ext4", "300M", []string{"-b", "4096", "-O", "quota,project,orphan_file", "-I", "256"}},
	}
	src := commonTree(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := mkfs(t, c.typ, src, c.size, c.opts...)
			w := checkAll(t, img, src)
			if w.f.ngroups < 3 {
				t.Errorf("%d groups, want several", w.f.ngroups)
			}
			if c.name == "quota and orphan_file" {
				names := map[string]bool{}
				for _, e := range w.entries {
					names[e.Path] = e.Kind == bmap.KindMeta && len(e.Extents) > 0
				}
				for _, n := range []string{"quota (user)", "quota (group)", "quota (project)", "orphan file", "journal"} {
					if !names[n] {
						t.Errorf("no %s entry", n)
					}
				}
			}
		})
	}
}

// TestExt4DeepExtentTree builds a file of more than 4 x 84 extents on a
// 1 KiB-block filesystem, which needs an extent tree of depth 2.
func TestExt4DeepExtentTree(t *testing.T) {
	t.Parallel()
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls", "dumpe2fs")
	src := t.TempDir()
	for i := range 900 {
		writeFile(t, src, fmt.Sprintf("d%d/%03d", i/100, i), 1024)
	}
	img := mkfs(t, "ext4", src, "8M", "-b", "1024", "-O", "^has_journal", "-N", "1200")
	host := t.TempDir()
	writeFile(t, host, "deep", 600<<10)
	var cmds []string
	for i := 0; i < 900; i += 2 {
		cmds = append(cmds, fmt.Sprintf("rm /d%d/%03d", i/100, i))
	}
	debugfsW(t, img, append(cmds, "write "+filepath.Join(host, "deep")+" /deep")...)
	w := checkAll(t, img, src)
	if n := w.checkContents(t, host); n != 1 {
		t.Errorf("checked %d files against the host copy, want 1", n)
	}
	b, err := os.ReadFile(img)
	must(t, err)
	off := inodeOffset(t, img, "/deep", 1024)
	if d := binary.LittleEndian.Uint16(b[off+iBlockOff+6:]); d < 2 {
		t.Errorf("/deep has extent depth %d, want 2", d)
	}
}
