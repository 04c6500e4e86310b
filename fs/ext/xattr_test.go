package ext

import (
	"encoding/binary"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// ibody builds an inode's bytes past 128 with i_extra_isize 32 and the
// given entries (index, name, value offset, value inode, value size).
type testXattr struct {
	index       uint8
	name        string
	voff, vsize int
	vinum       uint32
}

func ibody(magic uint32, ents ...testXattr) []byte {
	x := make([]byte, 256-128)
	le := binary.LittleEndian
	le.PutUint16(x[0:], 32)
	le.PutUint32(x[32:], magic)
	p := 36
	for _, e := range ents {
		x[p] = byte(len(e.name))
		x[p+1] = e.index
		le.PutUint16(x[p+2:], uint16(e.voff))
		le.PutUint32(x[p+4:], e.vinum)
		le.PutUint32(x[p+8:], uint32(e.vsize))
		copy(x[p+16:], e.name)
		p += (16 + len(e.name) + 3) &^ 3
	}
	return x
}

func TestIbodyXattr(t *testing.T) {
	tests := []struct {
		name    string
		extra   []byte
		off, n  int
		ok, bad bool
	}{
		{"system.data after user.x", ibody(xattrMagic, testXattr{1, "x", 60, 4, 0}, testXattr{xattrIndexSystem, "data", 64, 20, 0}), 128 + 36 + 64, 20, true, false},
		{"empty system.data", ibody(xattrMagic, testXattr{xattrIndexSystem, "data", 0, 0, 0}), 128 + 36, 0, true, false},
		{"other index", ibody(xattrMagic, testXattr{1, "data", 64, 20, 0}), 0, 0, false, false},
		{"no magic", ibody(0, testXattr{xattrIndexSystem, "data", 64, 20, 0}), 0, 0, false, false},
		{"value past the inode", ibody(xattrMagic, testXattr{xattrIndexSystem, "data", 80, 200, 0}), 0, 0, false, true},
		{"value in an EA inode", ibody(xattrMagic, testXattr{xattrIndexSystem, "data", 0, 20, 77}), 0, 0, false, true},
		{"name past the inode", func() []byte {
			x := ibody(xattrMagic)
			x[len(x)-16] = 200 // an entry near the end with a long name
			x[len(x)-15] = 7
			for i := 36; i < len(x)-16; i++ {
				x[i] = 0
			}
			x[36] = 1 // first entry: name length 1, so the walk goes on
			x[37] = 1
			return x
		}(), 0, 0, false, false},
		{"bad i_extra_isize", func() []byte { x := ibody(xattrMagic); x[0] = 3; return x }(), 0, 0, false, true},
		{"no extra space", nil, 0, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inode{Num: 12, extra: tc.extra, extraOff: 128}
			off, n, ok, msg := ibodyXattr(in, xattrIndexSystem, inlineDataName)
			if ok != tc.ok || (msg != "") != tc.bad || ok && (off != tc.off || n != tc.n) {
				t.Errorf("got off %d n %d ok %v msg %q; want off %d n %d ok %v bad %v", off, n, ok, msg, tc.off, tc.n, tc.ok, tc.bad)
			}
		})
	}
}

// TestEAInode: with ea_inode, a large xattr value lives in an inode of its
// own, reachable only through the xattr entry: its blocks are mapped as
// RoleXattr of the file. debugfs icheck names the owner of each block and
// debugfs stat lists that inode's blocks.
func TestEAInode(t *testing.T) {
	t.Parallel()
	testutil.NeedTools(t, "mkfs.ext4", "debugfs")
	src := t.TempDir()
	writeFile(t, src, "file", 100)
	writeFile(t, src, "other", 100)
	img := mkfs(t, "ext4", src, "16M", "-O", "ea_inode", "-I", "256")
	host := t.TempDir()
	writeFile(t, host, "value", 1024)
	debugfsW(t, img, "ea_set -f "+filepath.Join(host, "value")+" /file user.big")
	w := walkImage(t, img)
	w.noWarnings(t)
	w.checkAgainstDebugfs(t, img)
	var blocks []string
	for _, x := range w.byPath(t, "/file").Extents {
		if x.Role == bmap.RoleXattr {
			for b := x.Off / w.f.bs; b < x.End()/w.f.bs; b++ {
				blocks = append(blocks, strconv.FormatInt(b, 10))
			}
		}
	}
	if len(blocks) == 0 {
		t.Fatal("no xattr value blocks mapped for /file")
	}
	out := debugfsOut(t, img, "icheck "+strings.Join(blocks, " "))
	owners := map[string]bool{}
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) == 2 {
			owners[f[1]] = true
		}
	}
	if len(owners) != 1 {
		t.Fatalf("icheck owners %v of %v, want one EA inode:\n%s", owners, blocks, out)
	}
	for o := range owners {
		n, err := strconv.ParseUint(o, 10, 64)
		must(t, err)
		st := debugfsOut(t, img, "stat <"+o+">")
		if !strings.Contains(st, "Flags: 0x280000") && !strings.Contains(st, "Flags: 0x200000") {
			t.Errorf("owner inode %s is not an EA inode:\n%s", o, st)
		}
		var want []string
		for _, r := range debugfsStat(t, img, []uint64{n})[n].data {
			for i := uint64(0); i < r.n; i++ {
				want = append(want, strconv.FormatUint(r.pblk+i, 10))
			}
		}
		if strings.Join(want, " ") != strings.Join(blocks, " ") {
			t.Errorf("xattr value blocks %v, debugfs stat <%s> %v", blocks, o, want)
		}
	}
	if e := w.byPath(t, "/other"); len(e.Extents) != 1 {
		t.Errorf("/other: %+v", e)
	}
}
