package inspect

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	iofs "io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// mkPNG encodes a w x h image with image/png; noisy pixels make a file
// that compresses badly (to exceed a size limit).
func mkPNG(t testing.TB, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewSource(int64(w*7919 + h)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(x), uint8(y), 0x80, 0xff}
			if noisy {
				c = color.NRGBA{uint8(rng.Intn(256)), uint8(rng.Intn(256)), uint8(rng.Intn(256)), 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPNGSize checks the IHDR reading against file(1), which libguestfs
// uses for the same check.
func TestPNGSize(t *testing.T) {
	fileCmd, err := exec.LookPath("file")
	for _, sz := range [][2]int{{16, 16}, {48, 24}, {1024, 3}, {300, 1025}} {
		b := mkPNG(t, sz[0], sz[1], false)
		w, h, ok := pngSize(bytes.NewReader(b))
		if !ok || int(w) != sz[0] || int(h) != sz[1] {
			t.Errorf("%dx%d: pngSize = %d, %d, %v", sz[0], sz[1], w, h, ok)
		}
		if err != nil {
			continue
		}
		p := filepath.Join(t.TempDir(), "x.png")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(fileCmd, "-b", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("PNG image data, %d x %d,", w, h); !bytes.HasPrefix(out, []byte(want)) {
			t.Errorf("file(1) says %q, we read %dx%d", out, w, h)
		}
	}
	for name, b := range map[string][]byte{
		"empty": nil, "short": []byte("\x89PNG\r\n\x1a\n\x00\x00"), "jpeg": []byte("\xff\xd8\xff\xe0" + string(make([]byte, 40))),
		"no IHDR":     append(append([]byte{}, pngSig...), "\x00\x00\x00\x0dtEXt\x00\x00\x00\x10\x00\x00\x00\x10"...),
		"IHDR length": append(append([]byte{}, pngSig...), "\x00\x00\x00\x0cIHDR\x00\x00\x00\x10\x00\x00\x00\x10"...),
	} {
		if _, _, ok := pngSize(bytes.NewReader(b)); ok {
			t.Errorf("%s: taken as a PNG", name)
		}
	}
}

func TestFindIcon(t *testing.T) {
	small, big := mkPNG(t, 32, 32, false), mkPNG(t, 64, 64, true)
	if len(small) > 2048 || len(big) <= 2048 {
		t.Fatalf("fixtures: %d and %d bytes, want <= 2048 and > 2048", len(small), len(big))
	}
	tiny, huge := mkPNG(t, 8, 8, false), mkPNG(t, 2000, 16, false)
	favicon := mkPNG(t, 16, 16, false)
	file := func(b []byte) *fstest.MapFile { return &fstest.MapFile{Data: b, Mode: 0o644} }
	for _, c := range []struct {
		name, osName, distro string
		major                int
		fsys                 fstest.MapFS
		want                 []byte
	}{
		{"debian", "linux", "debian", 12, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": file(small)}, small},
		{"debian over 2048 bytes", "linux", "debian", 12, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": file(big)}, nil},
		{"fedora: 4 bytes a pixel", "linux", "fedora", 40, fstest.MapFS{"usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png": file(big)}, big},
		{"favicon first", "linux", "debian", 12, fstest.MapFS{"etc/favicon.png": file(favicon), "usr/share/pixmaps/debian-logo.png": file(small)}, favicon},
		{"bad favicon falls back", "linux", "debian", 12, fstest.MapFS{"etc/favicon.png": file([]byte("GIF89a")), "usr/share/pixmaps/debian-logo.png": file(small)}, small},
		{"too small", "linux", "debian", 12, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": file(tiny)}, nil},
		{"too wide", "linux", "fedora", 40, fstest.MapFS{"usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png": file(huge)}, nil},
		{"ubuntu second path", "linux", "ubuntu", 22, fstest.MapFS{"usr/share/help/C/ubuntu-help/figures/ubuntu-logo.png": file(small)}, small},
		{"rhel 6 shadowman", "linux", "rhel", 6, fstest.MapFS{"usr/share/pixmaps/redhat/shadowman-transparent.png": file(big), "usr/share/pixmaps/fedora-logo-sprite.png": file(small)}, big},
		{"centos 7 sprite", "linux", "centos", 7, fstest.MapFS{"usr/share/pixmaps/redhat/shadowman-transparent.png": file(big), "usr/share/pixmaps/fedora-logo-sprite.png": file(small)}, small},
		{"sles uses opensuse's", "linux", "sles", 15, fstest.MapFS{"usr/share/icons/hicolor/24x24/apps/distributor.png": file(small)}, small},
		{"a directory", "linux", "debian", 12, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": &fstest.MapFile{Mode: iofs.ModeDir | 0o755}}, nil},
		{"no rule for arch", "linux", "archlinux", 0, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": file(small)}, nil},
		{"windows favicon only", "windows", "windows", 10, fstest.MapFS{"etc/favicon.png": file(favicon)}, favicon},
		{"windows: no logo rule", "windows", "windows", 10, fstest.MapFS{"usr/share/pixmaps/debian-logo.png": file(small)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := findIcon(c.fsys, c.osName, c.distro, c.major)
			if !bytes.Equal(got, c.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(c.want))
			}
		})
	}
}

func FuzzPNGSize(f *testing.F) {
	f.Add(mkPNG(f, 16, 16, false))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := fstest.MapFS{"etc/favicon.png": &fstest.MapFile{Data: b}}
		if got := findIcon(fsys, "linux", "", 0); got != nil && !bytes.Equal(got, b) {
			t.Fatal("icon differs from the file")
		}
	})
}
