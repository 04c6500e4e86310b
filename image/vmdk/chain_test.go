package vmdk

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestChainPolicy: extents and parents an image names outside its
// directory are refused with chain.ErrOutside unless the user allowed
// them; inside, or allowed, they are read.
func TestChainPolicy(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	root := t.TempDir()
	dir := filepath.Join(root, "vm")
	os.Mkdir(dir, 0o755)
	outside := filepath.Join(root, "outside-flat.vmdk")
	makeSource(t, outside, 64<<10, 4)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hdr := "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"
	up := write("up.vmdk", hdr+"RW 128 FLAT \"../outside-flat.vmdk\" 0\n")
	abs := write("abs.vmdk", hdr+"RW 1 FLAT \"/etc/hostname\" 0\n")
	os.Symlink(outside, filepath.Join(dir, "link-flat.vmdk"))
	link := write("link.vmdk", hdr+"RW 128 FLAT \"link-flat.vmdk\" 0\n")
	for _, p := range []string{up, abs, link} {
		d, err := openTest(t, p)
		if !errors.Is(err, chain.ErrOutside) {
			if d != nil {
				d.Close()
			}
			t.Errorf("%s: err = %v, want chain.ErrOutside", filepath.Base(p), err)
		}
	}
	// Allowed by the user: read.
	d, err := openTest(t, up, outside)
	if err != nil {
		t.Fatalf("allowed extent: %v", err)
	}
	want, _ := os.ReadFile(outside)
	checkDisk(t, d.Disk, want)
	d.Close()

	// A parent outside the directory.
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", outside, filepath.Join(root, "base.vmdk"))
	runIn(t, dir, "qemu-img", "create", "-f", "vmdk", "-b", "../base.vmdk", "-F", "vmdk", "snap.vmdk")
	snap := filepath.Join(dir, "snap.vmdk")
	if _, err := openTest(t, snap); !errors.Is(err, chain.ErrOutside) {
		t.Errorf("parent outside: err = %v, want chain.ErrOutside", err)
	}
	d, err = openTest(t, snap, filepath.Join(root, "base.vmdk"))
	if err != nil {
		t.Fatalf("allowed parent: %v", err)
	}
	checkDisk(t, d.Disk, qemuRaw(t, snap))
	d.Close()
}

// TestChainErrors: a missing extent, a parent whose CID changed, a disk
// that is its own parent, a disk opened without an Opener.
func TestChainErrors(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 1<<20, 6)
	base := filepath.Join(dir, "base.vmdk")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", src, base)
	runIn(t, dir, "qemu-img", "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "snap.vmdk")
	snap := filepath.Join(dir, "snap.vmdk")
	if d, err := openTest(t, snap); err != nil {
		t.Fatalf("good chain: %v", err)
	} else {
		d.Close()
	}

	// The parent's CID changes (as when the parent is written to after
	// the snapshot): refused, as qemu fails the reads that reach it.
	b, _ := os.ReadFile(base)
	i := bytes.Index(b, []byte("\nCID="))
	if i < 0 {
		t.Fatal("no CID in base.vmdk")
	}
	changed := bytes.Clone(b)
	for j := i + 5; changed[j] != '\n'; j++ {
		changed[j] = "1234567890abcdef0"[bytes.IndexByte([]byte("0123456789abcdef"), changed[j])+1]
	}
	os.WriteFile(base, changed, 0o644)
	if _, err := openTest(t, snap); !errors.Is(err, ErrParentCID) {
		t.Errorf("parent CID changed: err = %v, want ErrParentCID", err)
	}
	os.WriteFile(base, b, 0o644)

	// A snapshot that names itself as parent.
	s, _ := os.ReadFile(snap)
	self := bytes.Replace(s, []byte(`parentFileNameHint="base.vmdk"`), []byte(`parentFileNameHint="loop.vmdk"`), 1)
	loop := filepath.Join(dir, "loop.vmdk")
	os.WriteFile(loop, self, 0o644)
	if _, err := openTest(t, loop); !errors.Is(err, chain.ErrLoop) {
		t.Errorf("self parent: err = %v, want chain.ErrLoop", err)
	}

	// A missing extent file and a missing parent.
	os.WriteFile(filepath.Join(dir, "missing.vmdk"), []byte("version=1\nCID=1\nRW 8 FLAT \"gone-flat.vmdk\" 0\n"), 0o644)
	if _, err := openTest(t, filepath.Join(dir, "missing.vmdk")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "gone-flat.vmdk") {
		t.Errorf("missing extent: err = %v", err)
	}
	os.Rename(base, base+".moved")
	if _, err := openTest(t, snap); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent: err = %v", err)
	}
	os.Rename(base+".moved", base)

	// Without an Opener, a disk that names files is refused.
	f, _ := os.Open(snap)
	defer f.Close()
	st, _ := f.Stat()
	if _, err := New(f, st.Size(), Config{}); err == nil || !strings.Contains(err.Error(), "no opener") {
		t.Errorf("no opener: err = %v", err)
	}
}
