package integration

// Every test image in every container form virt-bmap reads: xz with many
// blocks, xz in one block (plain `xz`), qcow2, qcow2 with compressed
// clusters, a qcow2 overlay whose first MiB is its own and the rest
// comes from a qcow2 backing file, and dynamic and static VDI. The oracles are the real tools that
// made them (xz, qemu-img, qemu-io): the raw image is the truth, and each
// form must give the same bytes through image.Open and the same map
// through the virt-bmap command.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/image/xz"
)

// form makes one container form of a raw image in dir and returns its
// path.
type form struct {
	name string
	tool string
	make func(raw, dir string) (string, error)
}

var forms = []form{
	{"xz-1MiB-blocks", "xz", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".xz")
		_, err := runTool("sh", "-c", fmt.Sprintf("xz -0 -T2 --block-size=1MiB -c '%s' > '%s'", raw, out))
		return out, err
	}},
	{"xz-one-block", "xz", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".1.xz")
		_, err := runTool("sh", "-c", fmt.Sprintf("xz -0 -T1 -c '%s' > '%s'", raw, out))
		return out, err
	}},
	{"qcow2", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".qcow2")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out)
		return out, err
	}},
	{"qcow2-compressed", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".c.qcow2")
		_, err := runTool("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=16k", raw, out)
		return out, err
	}},
	{"qcow2-overlay", "qemu-io", func(raw, dir string) (string, error) {
		// base.qcow2 holds the whole image; top.qcow2 names it by a
		// relative path and holds its own copy of the first MiB (the
		// partition tables and the first filesystem's start), written
		// with qemu-io from the raw image's own bytes.
		base := filepath.Base(raw) + ".base.qcow2"
		if _, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, filepath.Join(dir, base)); err != nil {
			return "", err
		}
		top := filepath.Join(dir, filepath.Base(raw)+".top.qcow2")
		if _, err := runTool("sh", "-c", fmt.Sprintf("cd '%s' && qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s'", dir, base, filepath.Base(top))); err != nil {
			return "", err
		}
		head := filepath.Join(dir, "head.bin")
		if _, err := runTool("dd", "if="+raw, "of="+head, "bs=1M", "count=1", "status=none"); err != nil {
			return "", err
		}
		if _, err := runTool("qemu-io", "-f", "qcow2", "-c", "write -s "+head+" 0 1M", top); err != nil {
			return "", err
		}
		// The overlay must really hold the first MiB, or the test would
		// only read the base through it.
		out, err := runTool("qemu-img", "map", "--output=json", "-f", "qcow2", top)
		if err != nil {
			return "", err
		}
		if !bytes.Contains(out, []byte(`"depth": 0`)) {
			return "", fmt.Errorf("qemu-img map %s: no cluster allocated in the overlay:\n%s", top, out)
		}
		return top, nil
	}},
	{"vdi", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".vdi")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "vdi", raw, out)
		return out, err
	}},
	{"vmdk-streamOptimized", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".stream.vmdk")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, out)
		return out, err
	}},
	{"vhd-dynamic", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".vhd")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on", raw, out)
		return out, err
	}},
	{"vhdx", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".vhdx")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "vhdx", raw, out)
		return out, err
	}},
	{"vdi-static", "qemu-img", func(raw, dir string) (string, error) {
		out := filepath.Join(dir, filepath.Base(raw)+".static.vdi")
		_, err := runTool("qemu-img", "convert", "-f", "raw", "-O", "vdi", "-o", "static=on", raw, out)
		return out, err
	}},
}

// rawImages are the images every form is made of.
func rawImages(t *testing.T) []string {
	t.Helper()
	var imgs []string
	for _, n := range []string{"sample.img", "mbr-ext.img", "gpt-ext.img", "fat.img", "ntfs.img"} {
		p := filepath.Join(imagesDir, n)
		if _, err := os.Stat(p); err == nil {
			imgs = append(imgs, p)
		}
	}
	if len(imgs) < 3 {
		t.Fatalf("only %d test images in %s", len(imgs), imagesDir)
	}
	return imgs
}

func TestFormatsSameBytesAndMap(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	for _, raw := range rawImages(t) {
		want, stderr, code := runBin(t, "-q", "-o", "-", raw)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", raw, code, stderr)
		}
		for _, f := range forms {
			t.Run(filepath.Base(raw)+"/"+f.name, func(t *testing.T) {
				if _, err := runTool("sh", "-c", "command -v "+f.tool); err != nil {
					t.Skipf("%s not installed", f.tool)
				}
				img, err := f.make(raw, dir)
				if err != nil {
					t.Fatal(err)
				}
				sameBytes(t, raw, img)
				got, stderr, code := runUntouched(t, []string{img}, "-q", "-o", "-", img)
				if code != 0 {
					t.Fatalf("virt-bmap %s: exit %d: %s", filepath.Base(img), code, stderr)
				}
				// A block up to a quarter of the default cache is decoded
				// whole; a bigger one is decoded forward, and the user is
				// told once how to make random access fast.
				if f.name == "xz-one-block" {
					st, _ := os.Stat(raw)
					advised := strings.Count(stderr, "xz -T0 --block-size=16MiB")
					if big := st.Size() > xz.DefaultCacheSize/4; big && advised != 1 || !big && advised != 0 {
						t.Errorf("%d-byte image in one xz block: advice to recompress given %d times on stderr: %q", st.Size(), advised, stderr)
					}
				}
				if got != want {
					t.Errorf("the map of %s differs from the map of the raw image:\n%s", filepath.Base(img), firstDiff(want, got))
				}
			})
		}
	}
}

// sameBytes reads the whole image through image.Open and compares its
// hash with the raw file's, then compares random reads (concurrent, of
// random lengths, some across the end) with the raw file's bytes.
func sameBytes(t *testing.T, rawPath, imgPath string) {
	t.Helper()
	raw, err := os.ReadFile(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Size() != int64(len(raw)) {
		t.Fatalf("%s: size %d, raw image %d", imgPath, img.Size(), len(raw))
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(img, 0, img.Size())); err != nil {
		t.Fatalf("%s: full read: %v", imgPath, err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(raw); !bytes.Equal(got, want[:]) {
		t.Fatalf("%s: full read differs from the raw image", imgPath)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			buf := make([]byte, 256<<10)
			for range 200 {
				off := rng.Int64N(int64(len(raw)))
				n := 1 + rng.IntN(len(buf))
				got, err := img.ReadAt(buf[:n], off)
				want := raw[off:min(off+int64(n), int64(len(raw)))]
				if got != len(want) || (got < n) != (err != nil) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x) = %d, %v; want %d bytes", n, off, got, err, len(want))
					return
				}
				if !bytes.Equal(buf[:got], want) {
					errs <- fmt.Errorf("ReadAt(%d bytes at %#x): bytes differ from the raw image", n, off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("%s: %v", filepath.Base(imgPath), err)
	}
}

// firstDiff shows the first line where two maps differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: raw %q, this form %q", i+1, x, y)
		}
	}
	return "(no line differs)"
}
