package vdi_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/image/vdi"
)

// TestImageOpen reads crafted differencing VDIs through image.Open: the
// parent is found beside the child; moved away, it is found only when
// the user allows it (Options.AllowBacking, --allow-backing); a
// differencing child cannot reach a parent through a symbolic link that
// leads out of its directory.
func TestImageOpen(t *testing.T) {
	dir := t.TempDir()
	base, child, grand, wantChild, wantGrand := vdi.DiffChain(t, dir)
	read := func(path string, opt image.Options) ([]byte, error) {
		img, err := image.OpenOptions(path, opt)
		if err != nil {
			return nil, err
		}
		defer img.Close()
		if img.Format() != image.VDI {
			t.Errorf("%s: format %v", path, img.Format())
		}
		b := make([]byte, img.Size())
		if _, err := img.ReadAt(b, 0); err != nil {
			return nil, err
		}
		return b, nil
	}
	for path, want := range map[string][]byte{child: wantChild, grand: wantGrand} {
		got, err := read(path, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: image.Open reads differently from the qemu oracle", filepath.Base(path))
		}
	}
	moved := filepath.Join(t.TempDir(), "base.vdi")
	if err := os.Rename(base, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := read(grand, image.Options{}); !errors.Is(err, vdi.ErrNoParent) {
		t.Fatalf("parent moved away: %v, want vdi.ErrNoParent", err)
	}
	os.Symlink(moved, filepath.Join(dir, "base-link.vdi"))
	if _, err := read(grand, image.Options{}); !errors.Is(err, vdi.ErrNoParent) {
		t.Fatalf("parent behind a symbolic link leading out: %v, want vdi.ErrNoParent", err)
	}
	got, err := read(grand, image.Options{AllowBacking: []string{moved}})
	if err != nil {
		t.Fatalf("parent allowed: %v", err)
	}
	if !bytes.Equal(got, wantGrand) {
		t.Error("with the parent allowed, image.Open reads differently from the qemu oracle")
	}
	// --format vdi.
	if _, err := read(child, image.Options{Format: "vdi", AllowBacking: []string{moved}}); err != nil {
		t.Errorf("--format vdi: %v", err)
	}
}

// TestImageOpenLoop: two differencing VDIs that are each other's parent
// are refused by image.Open's tracker.
func TestImageOpenLoop(t *testing.T) {
	dir := t.TempDir()
	_, child, _, _, _ := vdi.DiffChain(t, dir)
	c, err := os.ReadFile(child)
	if err != nil {
		t.Fatal(err)
	}
	loop := t.TempDir()
	x, y := bytes.Clone(c), bytes.Clone(c)
	const uuid, modify, link, parentMod = 0x188, 0x198, 0x1a8, 0x1b8
	copy(x[uuid:], bytes.Repeat([]byte{1}, 16))
	copy(y[uuid:], bytes.Repeat([]byte{2}, 16))
	copy(x[link:], y[uuid:uuid+16])
	copy(y[link:], x[uuid:uuid+16])
	copy(x[parentMod:], y[modify:modify+16])
	copy(y[parentMod:], x[modify:modify+16])
	os.WriteFile(filepath.Join(loop, "x.vdi"), x, 0o644)
	os.WriteFile(filepath.Join(loop, "y.vdi"), y, 0o644)
	img, err := image.Open(filepath.Join(loop, "x.vdi"))
	if err == nil {
		img.Close()
		t.Fatal("loop not detected")
	}
	if !errors.Is(err, chain.ErrLoop) {
		t.Fatalf("%v; want chain.ErrLoop", err)
	}
}
