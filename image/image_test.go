package image

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeRaw writes a 1 MiB raw disk with an MBR boot signature and a marker.
func makeRaw(t *testing.T, dir string) string {
	t.Helper()
	b := make([]byte, 1<<20)
	copy(b[4096:], "marker")
	b[510], b[511] = 0x55, 0xaa
	p := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a tool to make a test image, skipping the test when the tool
// is missing.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	testutil.NeedTools(t, name)
	testutil.Run(t, "", name, args...)
}

func TestOpenRaw(t *testing.T) {
	dir := t.TempDir()
	p := makeRaw(t, dir)
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Format() != Raw || img.Size() != 1<<20 {
		t.Fatalf("format %v size %d, want raw 1MiB", img.Format(), img.Size())
	}
	buf := make([]byte, 6)
	if _, err := img.ReadAt(buf, 4096); err != nil || string(buf) != "marker" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
}

// TestDetectRealFormats makes images with the real tools and checks each is
// recognised, refused with a hint, or (fixed VHD) read as the raw disk.
func TestDetectRealFormats(t *testing.T) {
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	want, _ := os.ReadFile(raw)
	cases := []struct {
		name   string
		make   func(out string)
		format string
		ok     bool
	}{
		{"qcow2", func(o string) { run(t, "qemu-img", "convert", "-O", "qcow2", raw, o) }, "qcow2", true},
		{"qcow2-compressed", func(o string) { run(t, "qemu-img", "convert", "-c", "-O", "qcow2", raw, o) }, "qcow2", true},
		{"vmdk", func(o string) { run(t, "qemu-img", "convert", "-O", "vmdk", raw, o) }, "vmdk", true},
		{"vhdx", func(o string) { run(t, "qemu-img", "convert", "-O", "vhdx", raw, o) }, "vhdx", true},
		{"vdi", func(o string) { run(t, "qemu-img", "convert", "-O", "vdi", raw, o) }, "vdi", true},
		{"vdi-static", func(o string) { run(t, "qemu-img", "convert", "-O", "vdi", "-o", "static=on", raw, o) }, "vdi", true},
		{"vpc-dynamic", func(o string) {
			run(t, "qemu-img", "convert", "-O", "vpc", "-o", "subformat=dynamic,force_size=on", raw, o)
		}, "vhd", true},
		{"vpc-fixed", func(o string) {
			run(t, "qemu-img", "convert", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, o)
		}, "vhd-fixed", true},
		{"xz", func(o string) { run(t, "sh", "-c", "xz -c "+raw+" > "+o) }, "xz", true},
		{"xz-blocks", func(o string) { run(t, "sh", "-c", "xz -T2 --block-size=64KiB -c "+raw+" > "+o) }, "xz", true},
		{"gzip", func(o string) { run(t, "sh", "-c", "gzip -c "+raw+" > "+o) }, "gzip", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			c.make(out)
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			defer f.Close()
			if got := Detect(f, st.Size()); got.Name != c.format {
				t.Fatalf("Detect = %q, want %q", got.Name, c.format)
			}
			img, err := Open(out)
			if !c.ok {
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.format) || !strings.Contains(err.Error(), out) {
					t.Fatalf("Open error = %v; want ErrUnsupported naming %s and the file", err, c.format)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			got := make([]byte, img.Size())
			if _, err := img.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s contents differ from the raw disk (size %d want %d)", c.name, len(got), len(want))
			}
		})
	}
}

// TestOpenQCOW2Chain opens an overlay whose backing file is named by a
// relative path: Open finds it beside the overlay, New (which has no path)
// refuses it and says why.
func TestOpenQCOW2Chain(t *testing.T) {
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	want, _ := os.ReadFile(raw)
	copy(want[8192:], "overlay!")
	run(t, "qemu-img", "convert", "-O", "qcow2", raw, filepath.Join(dir, "base.qcow2"))
	run(t, "sh", "-c", "cd "+dir+" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2")
	run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0 8192 512", filepath.Join(dir, "top.qcow2"))
	run(t, "sh", "-c", "printf overlay! > "+dir+"/w && qemu-io -f qcow2 -c 'write -s "+dir+"/w 8192 8' "+dir+"/top.qcow2")
	img, err := Open(filepath.Join(dir, "top.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	got := make([]byte, img.Size())
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want[8192+8] = 0 // write -P 0 zeroed the rest of the 512 bytes
	for i := 8192 + 8; i < 8192+512; i++ {
		want[i] = 0
	}
	if !bytes.Equal(got, want) {
		t.Fatal("overlay contents differ from what qemu-io wrote over the base")
	}
	f, _ := os.Open(filepath.Join(dir, "top.qcow2"))
	defer f.Close()
	st, _ := f.Stat()
	if _, err := New(f, st.Size()); err == nil || !strings.Contains(err.Error(), "backing") {
		t.Fatalf("New on an overlay: %v; want an error about the backing file", err)
	}
}

// TestOpenXZOneBlockWarns: a file plain xz made is one block; Open says
// once that random access will be slow and how to recompress.
func TestOpenXZOneBlockWarns(t *testing.T) {
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	big := filepath.Join(dir, "big.raw")
	// Bigger than a quarter of the smallest cache, so it is one huge block.
	run(t, "sh", "-c", "head -c 80000000 /dev/zero | cat "+raw+" - > "+big+" && xz -0 -T1 -c "+big+" > "+big+".xz")
	var msgs []string
	img, err := OpenOptions(big+".xz", Options{CacheSize: 64 << 20, Warn: func(m string) { msgs = append(msgs, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	buf := make([]byte, 6)
	if _, err := img.ReadAt(buf, 4096); err != nil || string(buf) != "marker" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	img.ReadAt(buf, 0)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "xz -T0 --block-size=16MiB") {
		t.Fatalf("notices %q; want one advising xz -T0 --block-size=16MiB", msgs)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing.img")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("directory: %v", err)
	}
	// An empty file and a tiny one are raw disks of that size, not errors:
	// what is on them is for the partition and filesystem probes to say.
	for _, n := range []int{0, 3} {
		p := filepath.Join(t.TempDir(), "small")
		os.WriteFile(p, make([]byte, n), 0o644)
		img, err := Open(p)
		if err != nil || img.Size() != int64(n) {
			t.Fatalf("size %d: %v", n, err)
		}
		img.Close()
	}
}

// TestOpenNeverWrites checks that opening and reading leave the file
// byte-for-byte and time-for-time as it was.
func TestOpenNeverWrites(t *testing.T) {
	p := makeRaw(t, t.TempDir())
	before, _ := os.ReadFile(p)
	st0, _ := os.Stat(p)
	os.Chmod(p, 0o444)
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	img.ReadAt(buf, 0)
	img.Close()
	after, _ := os.ReadFile(p)
	st1, _ := os.Stat(p)
	if sha256.Sum256(before) != sha256.Sum256(after) || !st0.ModTime().Equal(st1.ModTime()) {
		t.Fatal("image changed")
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Add(append(make([]byte, 600), []byte("conectix")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := New(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer img.Close()
		switch img.Format().Name {
		case Raw.Name, VHDFixed.Name:
			if img.Size() > int64(len(b)) {
				t.Fatalf("size %d beyond data %d", img.Size(), len(b))
			}
		default: // xz, qcow2: a read must not panic
			buf := make([]byte, 4096)
			img.ReadAt(buf, 0)
			img.ReadAt(buf, img.Size()-1)
		}
	})
}
