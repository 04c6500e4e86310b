package integration

// The comparison must be able to fail: each mutation of a correct map
// below is a mistake a walker could make, and the checks must report it.
// The parsers of the tools' outputs are tested on captured outputs.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

func TestCheckerCatchesMistakes(t *testing.T) {
	setup(t)
	img := filepath.Join(imagesDir, "mbr-ext.img")
	m := runMap(t, img)
	parts, ss, err := sfdiskParts(img)
	if err != nil {
		t.Fatal(err)
	}
	var p sfPart
	for _, q := range parts {
		if q.Device == "/dev/sda5" {
			p = q
		}
	}
	partOff := p.Start * ss
	fsImg := filepath.Join(t.TempDir(), "sda5.fs")
	if _, err := runTool("dd", "if="+img, "of="+fsImg, "bs=512", fmt.Sprintf("skip=%d", partOff/512),
		fmt.Sprintf("count=%d", p.Size*ss/512), "conv=sparse", "status=none"); err != nil {
		t.Fatal(err)
	}
	info, err := dumpe2fs(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	bs := info.BlockSize
	var objs []bmap.Object
	byPath := map[string]bmap.Object{}
	for _, o := range m.Objects {
		if o.Device == p.Device {
			objs = append(objs, o)
			if o.Kind != bmap.KindMeta {
				byPath[o.Path] = o
			}
		}
	}
	var inos []uint64
	for _, path := range []string{"/frag/big", "/prealloc", "/etc/passwd", "/links/slow"} {
		o, ok := byPath[path]
		if !ok {
			t.Fatalf("%s not in the map of %s", path, p.Device)
		}
		inos = append(inos, o.Inode)
	}
	for _, o := range objs {
		if o.Kind == bmap.KindMeta && o.Inode != 0 {
			inos = append(inos, o.Inode)
		}
	}
	dfs, err := debugfsInodes(fsImg, bs, inos)
	if err != nil {
		t.Fatal(err)
	}
	ist, err := istatAll(img, partOff/512, inos[:4], 2)
	if err != nil {
		t.Fatal(err)
	}

	check := func(o bmap.Object) (dfsDiffs, istDiffs []string) {
		var d1, d2 diffs
		checkInodeDebugfs(&d1, o, ourView(o, partOff, bs), dfs[o.Inode], partOff, bs, info.InodeSize)
		checkInodeIstat(&d2, o, ourView(o, partOff, bs), ist[o.Inode], bs)
		return d1.list, d2.list
	}
	// The unchanged objects pass: the mutations below are what fails.
	for _, path := range []string{"/frag/big", "/prealloc", "/etc/passwd", "/links/slow"} {
		if a, b := check(byPath[path]); len(a)+len(b) > 0 {
			t.Fatalf("%s: unchanged object differs: %v %v", path, a, b)
		}
	}

	clone := func(o bmap.Object) bmap.Object {
		o.Extents = slices.Clone(o.Extents)
		return o
	}
	firstRole := func(o bmap.Object, r bmap.Role) int {
		for i, e := range o.Extents {
			if e.Role == r {
				return i
			}
		}
		t.Fatalf("%s has no %s extent", o.Path, r)
		return -1
	}
	mutations := []struct {
		name     string
		path     string
		mutate   func(o *bmap.Object)
		istatToo bool // istat sees this mistake too
	}{
		{"data extent one block off", "/frag/big", func(o *bmap.Object) { o.Extents[firstRole(*o, bmap.RoleData)].Off += bs }, true},
		{"data extent one block short", "/frag/big", func(o *bmap.Object) { o.Extents[firstRole(*o, bmap.RoleData)].Len -= bs }, true},
		{"data extent at the wrong file offset", "/frag/big", func(o *bmap.Object) { o.Extents[firstRole(*o, bmap.RoleData)].FileOff += bs }, false},
		{"extent index block missing", "/frag/big", func(o *bmap.Object) {
			o.Extents = slices.Delete(o.Extents, firstRole(*o, bmap.RoleExtentIndex), firstRole(*o, bmap.RoleExtentIndex)+1)
		}, true},
		{"extent index reported as data", "/frag/big", func(o *bmap.Object) { o.Extents[firstRole(*o, bmap.RoleExtentIndex)].Role = bmap.RoleData }, true},
		{"unwritten flag lost", "/prealloc", func(o *bmap.Object) {
			for i := range o.Extents {
				o.Extents[i].Unwritten = false
			}
		}, false},
		{"size wrong", "/etc/passwd", func(o *bmap.Object) { o.Size++ }, false},
		{"xattr block missing", "/etc/passwd", func(o *bmap.Object) {
			o.Extents = slices.DeleteFunc(o.Extents, func(e bmap.Extent) bool { return e.Role == bmap.RoleXattr })
		}, true},
		{"symlink flag lost", "/links/slow", func(o *bmap.Object) { o.Symlink = false }, false},
		{"data extents out of order", "/frag/big", func(o *bmap.Object) {
			i := firstRole(*o, bmap.RoleData)
			o.Extents[i], o.Extents[i+1] = o.Extents[i+1], o.Extents[i]
		}, false},
		{"a data extent listed twice", "/frag/big", func(o *bmap.Object) {
			o.Extents = append(o.Extents, o.Extents[firstRole(*o, bmap.RoleData)])
		}, false},
	}
	for _, mu := range mutations {
		t.Run(strings.ReplaceAll(mu.name, " ", "_"), func(t *testing.T) {
			o := clone(byPath[mu.path])
			mu.mutate(&o)
			a, b := check(o)
			if len(a) == 0 {
				t.Errorf("%s on %s: the debugfs comparison saw nothing", mu.name, mu.path)
			}
			if mu.istatToo && len(b) == 0 {
				t.Errorf("%s on %s: the istat comparison saw nothing", mu.name, mu.path)
			}
			t.Logf("reported: %v %v", a, b)
		})
	}

	// metadata: a missing inode table, a bitmap one block off, a journal block lost
	metaMut := []struct {
		name   string
		mutate func(objs []bmap.Object) []bmap.Object
	}{
		{"inode table missing", func(objs []bmap.Object) []bmap.Object {
			return slices.DeleteFunc(objs, func(o bmap.Object) bool { return o.Kind == bmap.KindMeta && o.Path == "group 0 inode table" })
		}},
		{"block bitmap off by one", func(objs []bmap.Object) []bmap.Object {
			for i, o := range objs {
				if o.Kind == bmap.KindMeta && strings.Contains(o.Path, "block bitmap") {
					objs[i] = clone(o)
					objs[i].Extents[0].Off += bs
					break
				}
			}
			return objs
		}},
		{"journal short", func(objs []bmap.Object) []bmap.Object {
			for i, o := range objs {
				if o.Kind == bmap.KindMeta && o.Inode == 8 {
					objs[i] = clone(o)
					objs[i].Extents[len(o.Extents)-1].Len -= bs
				}
			}
			return objs
		}},
	}
	var base diffs
	checkMeta(&base, objs, info, dfs, partOff, bs)
	if len(base.list) > 0 {
		t.Fatalf("unchanged metadata differs: %v", base.list)
	}
	for _, mu := range metaMut {
		var d diffs
		checkMeta(&d, mu.mutate(slices.Clone(objs)), info, dfs, partOff, bs)
		if len(d.list) == 0 {
			t.Errorf("metadata: %s: the dumpe2fs comparison saw nothing", mu.name)
		}
	}
}

func TestParseFls(t *testing.T) {
	out := "d/d 11:\tlost+found\nr/r 12:\ta b\nr/r * 27(realloc):\tfrag/p000\nr/r * 29:\tfrag/p002\n" +
		"r/r 18:\tnew^line\nl/l 19:\tlinks/fast\nV/V 1025:\t$OrphanFiles\n-/r * 40:\t$OrphanFiles/OrphanFile-40\n"
	got, err := parseFls([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []flsEntry{{"d/d", 11, "lost+found"}, {"r/r", 12, "a b"}, {"r/r", 18, "new^line"}, {"l/l", 19, "links/fast"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parseFls([]byte("garbage line\n")); err == nil {
		t.Error("a line fls never prints was accepted")
	}
	if got := tskName("/names/new\nline\t"); got != "names/new^line^" {
		t.Errorf("tskName: got %q", got)
	}
}

func TestParseDebugfs(t *testing.T) {
	out := `debugfs 1.47.0 (5-Feb-2023)
debugfs: stat <17>
Inode: 17   Type: regular    Mode:  0644   Flags: 0x80000
User:     0   Group:     0   Project:     0   Size: 100000
File ACL: 1988
EXTENTS:
(ETB0):1946, (0-2):1921-1923, (12):1945, (200-260[u]):2186-2246
debugfs: imap <17>
Inode 17 is part of block group 0
	located at block 5, offset 0x0b00
debugfs: stat <14>
Inode: 14   Type: regular    Mode:  0644   Flags: 0x0
User:     0   Group:     0   Size: 307200
BLOCKS:
(0-11):292-303, (IND):304, (12-267):305-560, (DIND):561, (IND):562, (268-299):563-594, (TIND):600
TOTAL: 303

debugfs: stat <152>
Inode: 152   Type: regular    Mode:  0644   Flags: 0x10000000
User:     0   Group:     0   Project:     0   Size: 33
Size of inline data: 60
debugfs: stat <147>
Inode: 147   Type: symlink    Mode:  0777   Flags: 0x0
User:     0   Group:     0   Size: 15
Fast link dest: "../etc/hostname"
`
	got, err := parseDebugfs([]byte(out), 1024)
	if err != nil {
		t.Fatal(err)
	}
	a := got[17]
	if a.Type != "regular" || a.Size != 100000 || a.ACL != 1988 || !slices.Equal(a.ETB, []uint64{1946}) || a.RecordOff != 5*1024+0xb00 {
		t.Errorf("inode 17: %+v", a)
	}
	if want := []blockRun{{0, 1921, 3, false}, {12, 1945, 1, false}, {200, 2186, 61, true}}; !slices.Equal(a.Data, want) {
		t.Errorf("inode 17 data: got %v, want %v", a.Data, want)
	}
	b := got[14]
	if !slices.Equal(b.IND, []uint64{304, 562}) || !slices.Equal(b.DIND, []uint64{561}) || !slices.Equal(b.TIND, []uint64{600}) || len(b.Data) != 3 {
		t.Errorf("inode 14: %+v", b)
	}
	if c := got[152]; c.InlineSize != 60 || c.Size != 33 || len(c.Data) != 0 {
		t.Errorf("inode 152: %+v", c)
	}
	if s := got[147]; !s.FastLink || s.Type != "symlink" {
		t.Errorf("inode 147: %+v", s)
	}
	if _, err := parseDebugfs([]byte("debugfs: stat <3>\nEXTENTS:\n(0-2):10-11\n"), 1024); err == nil {
		t.Error("an extent whose logical and physical lengths differ was accepted")
	}
}

func TestParseIstat(t *testing.T) {
	out := `inode: 179
size: 69206016
Extended Attributes  (Block: 1988)
user.big=0 1 2 3

Direct Blocks:
0 0 0 0 2510 0 0 0 
2513 2514 0 0 0 0 0 0 

Indirect Blocks:
2509 2511 0 0 
2515 

Extent Blocks:
1946 
`
	got := parseIstat([]byte(out))
	if !slices.Equal(got.Direct, []uint64{2510, 2513, 2514}) || !slices.Equal(got.Indirect, []uint64{2509, 2511, 2515}) ||
		!slices.Equal(got.Extent, []uint64{1946}) || got.Xattr != 1988 {
		t.Errorf("got %+v", got)
	}
}

func TestParseDumpe2fs(t *testing.T) {
	out := `Filesystem features:      has_journal ext_attr meta_bg
Inode size:	          256
Block size:               1024
Group 0: (Blocks 1-8192) csum 0x85ec
  Primary superblock at 1, Group descriptor at 2
  Block bitmap at 3 (+2), csum 0x116e612a
  Inode bitmap at 5 (+4), csum 0xea779e92
  Inode table at 7-518 (+6)
Group 1: (Blocks 8193-16383) csum 0xe6fb [INODE_UNINIT]
  Backup superblock at 8193, Group descriptors at 8194-8195
  Reserved GDT blocks at 8196-8197
  Block bitmap at 4 (bg #0 + 3), csum 0x0b505527
  Inode bitmap at 6 (bg #0 + 5), csum 0x00000000
  Inode table at 519-1030 (bg #0 + 518)
`
	e, err := parseDumpe2fs([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if e.BlockSize != 1024 || e.InodeSize != 256 || e.Groups != 2 || !e.has("meta_bg") {
		t.Errorf("header: %+v", e)
	}
	want := map[string][]uint64{
		"superblock 0": {1}, "descriptors 0": {2}, "block-bitmap 0": {3}, "inode-bitmap 0": {5},
		"superblock 1": {8193}, "descriptors 1": {8194, 8195}, "reserved-gdt 1": {8196, 8197},
		"block-bitmap 1": {4}, "inode-bitmap 1": {6},
	}
	for k, w := range want {
		if !slices.Equal(e.Meta[k], w) {
			t.Errorf("%s: got %v, want %v", k, e.Meta[k], w)
		}
	}
	if n := len(e.Meta["inode-table 1"]); n != 512 {
		t.Errorf("inode-table 1: %d blocks, want 512", n)
	}
	if _, err := parseDumpe2fs([]byte("nothing useful\n")); err == nil {
		t.Error("output without a block size was accepted")
	}
}
