package vdi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// Differencing VDIs are made by VirtualBox (VBoxManage snapshot), which is
// not installed here and has no Debian package; qemu-img cannot make
// them. So they are crafted from qemu-made VDIs, and checked against qemu
// doing the same writes in a qcow2 overlay:
//
//   - the oracle: a qcow2 overlay over the parent's raw disk, written with
//     qemu-io; qemu-img convert -O raw of it is what the child must read;
//   - the child: a raw disk holding the oracle's bytes in the blocks the
//     child has (whole 1 MiB blocks, as VirtualBox copies a block up from
//     its parent on first write), holes elsewhere, converted to VDI by
//     qemu-img (which leaves the hole blocks free); then its header is
//     patched as VirtualBox writes a differencing image's: image type 4,
//     link UUID = the parent's image UUID, parent modification UUID = the
//     parent's modification UUID, and the blocks the overlay zeroed are
//     marked 0xfffffffe (zero) in the block map.

// craft makes the child VDI at out over the VDI parent, holding the
// oracle's bytes in blocks have and zeros (0xfffffffe) in blocks zero.
func craft(t testing.TB, parent, oracleRaw, out string, have, zero []int) {
	t.Helper()
	oracle, err := os.ReadFile(oracleRaw)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 1 << 20
	delta := filepath.Join(t.TempDir(), "delta.raw")
	f, err := os.Create(delta)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(int64(len(oracle)))
	for _, b := range have {
		if !bytes.ContainsFunc(oracle[b*bs:(b+1)*bs], func(r rune) bool { return r != 0 }) {
			t.Fatalf("block %d of the oracle is all zeros: qemu-img would not allocate it", b)
		}
		f.WriteAt(oracle[b*bs:(b+1)*bs], int64(b*bs))
	}
	f.Close()
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", delta, out)
	c, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.ReadFile(parent)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	le.PutUint32(c[offType:], TypeDiff)
	copy(c[offLink:offLink+16], p[offUUID:offUUID+16])
	copy(c[offParentMod:offParentMod+16], p[offModify:offModify+16])
	bmap := int(le.Uint32(c[offBlocksMap:]))
	for _, b := range zero {
		le.PutUint32(c[bmap+4*b:], blockZero)
	}
	if err := os.WriteFile(out, c, 0o644); err != nil {
		t.Fatal(err)
	}
}

// oracleRaw converts a qcow2 image (with its chain) to raw.
func oracleRaw(t testing.TB, qcow2 string) string {
	t.Helper()
	out := qcow2 + ".raw"
	imagetest.QemuImg(t, "convert", "-U", "-f", "qcow2", "-O", "raw", qcow2, out)
	return out
}

func qemuIO(t testing.TB, path string, cmds ...string) {
	t.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	testutil.Run(t, "", "qemu-io", append(args, path)...)
}

// diffChain makes base.vdi <- child.vdi <- grand.vdi in dir and returns
// their paths and the raw bytes the child and the grandchild must read.
func diffChain(t testing.TB, dir string) (base, child, grand string, wantChild, wantGrand []byte) {
	t.Helper()
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	baseRaw := filepath.Join(dir, "base.raw")
	makeSource(t, baseRaw, 5<<20, 99)
	base = filepath.Join(dir, "base.vdi")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", baseRaw, base)
	top := filepath.Join(dir, "top.qcow2")
	imagetest.QemuImg(t, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
	qemuIO(t, top, "write -P 0x33 100k 64k", "write -P 0x5c 1m 1m", "write -z 2m 1m")
	topRaw := oracleRaw(t, top)
	child = filepath.Join(dir, "child.vdi")
	craft(t, base, topRaw, child, []int{0, 1}, []int{2})
	gtop := filepath.Join(dir, "gtop.qcow2")
	imagetest.QemuImg(t, "create", "-q", "-f", "qcow2", "-b", "top.qcow2", "-F", "qcow2", gtop)
	qemuIO(t, gtop, "write -P 0x77 3m 4k", "write -z 1m 1m")
	gRaw := oracleRaw(t, gtop)
	grand = filepath.Join(dir, "grand.vdi")
	craft(t, child, gRaw, grand, []int{3}, []int{1})
	var err error
	if wantChild, err = os.ReadFile(topRaw); err != nil {
		t.Fatal(err)
	}
	if wantGrand, err = os.ReadFile(gRaw); err != nil {
		t.Fatal(err)
	}
	return
}

func TestDifferencing(t *testing.T) {
	dir := t.TempDir()
	base, child, grand, wantChild, wantGrand := diffChain(t, dir)
	for _, c := range []struct {
		path string
		want []byte
	}{{child, wantChild}, {grand, wantGrand}} {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			img, err := Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			checkRead(t, img, c.want)
			info := img.Info()
			if info.Type != TypeDiff || info.Parent == "" || info.ParentUUID.IsZero() {
				t.Errorf("Info = %+v", info)
			}
			// Every run said to be zeros is zeros in the oracle.
			for _, r := range ourMap(t, img) {
				if r.zero && !bytes.Equal(c.want[r.off:r.off+r.len], make([]byte, r.len)) {
					t.Errorf("run %+v reads as zeros, the oracle has data", r)
				}
			}
		})
	}
	// The child's free blocks 3 and 4 show the base's allocation, its
	// zero block 2 is a hole of zeros, its blocks 0 and 1 data.
	img, err := Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const bs = 1 << 20
	for blk, want := range map[int64]bool{0: true, 1: true, 2: false} {
		e, _ := img.Extents(blk*bs, bs)
		if len(e) != 1 || e[0].Len != bs || e[0].Hole == want {
			t.Errorf("block %d: extents %+v, want data=%v", blk, e, want)
		}
	}
	for _, blk := range []int64{3, 4} {
		got, _ := img.Extents(blk*bs, bs)
		want, _ := b.Extents(blk*bs, bs)
		if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
			t.Errorf("free block %d: %+v, the base has %+v", blk, got, want)
		}
	}
}

func TestDifferencingParents(t *testing.T) {
	dir := t.TempDir()
	base, child, _, wantChild, _ := diffChain(t, dir)
	// The parent moved to another directory: not found beside the child,
	// found when the user names it, and not through a symbolic link
	// leading out of the child's directory.
	other := t.TempDir()
	moved := filepath.Join(other, "base.vdi")
	if err := os.Rename(base, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(child); !errors.Is(err, ErrNoParent) {
		t.Fatalf("parent moved away: %v, want ErrNoParent", err)
	}
	if err := os.Symlink(moved, filepath.Join(dir, "link.vdi")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(child); !errors.Is(err, ErrNoParent) {
		t.Fatalf("parent behind a symbolic link leading out: %v, want ErrNoParent", err)
	}
	img, err := Open(child, moved)
	if err != nil {
		t.Fatalf("parent named by the user: %v", err)
	}
	checkRead(t, img, wantChild)
	if img.Info().Parent != moved {
		t.Errorf("Parent = %q, want %q", img.Info().Parent, moved)
	}
	img.Close()
	os.Remove(filepath.Join(dir, "link.vdi"))
	os.Rename(moved, base)

	// A parent changed after the child was made.
	b, _ := os.ReadFile(base)
	saved := bytes.Clone(b)
	b[offModify] ^= 1
	os.WriteFile(base, b, 0o644)
	if _, err := Open(child); !errors.Is(err, ErrParentModified) {
		t.Errorf("modified parent: %v, want ErrParentModified", err)
	}
	os.WriteFile(base, saved, 0o644)

	// Two differencing images that are each other's parent.
	c, _ := os.ReadFile(child)
	loopDir := t.TempDir()
	x, y := bytes.Clone(c), bytes.Clone(c)
	copy(x[offUUID:], bytes.Repeat([]byte{1}, 16))
	copy(y[offUUID:], bytes.Repeat([]byte{2}, 16))
	copy(x[offLink:], y[offUUID:offUUID+16])
	copy(y[offLink:], x[offUUID:offUUID+16])
	copy(x[offParentMod:], y[offModify:offModify+16])
	copy(y[offParentMod:], x[offModify:offModify+16])
	os.WriteFile(filepath.Join(loopDir, "x.vdi"), x, 0o644)
	os.WriteFile(filepath.Join(loopDir, "y.vdi"), y, 0o644)
	if _, err := Open(filepath.Join(loopDir, "x.vdi")); !errors.Is(err, chain.ErrLoop) {
		t.Errorf("parent loop: %v, want chain.ErrLoop", err)
	}
	// New without an opener refuses a differencing image.
	if _, err := New(bytes.NewReader(c), int64(len(c)), nil, ""); err == nil {
		t.Error("New without an opener read a differencing image")
	}
}
