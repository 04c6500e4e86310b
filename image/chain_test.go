package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// qemuImgIn runs qemu-img in dir (relative names are relative to it).
func qemuImgIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	testutil.Run(t, "", "sh", append([]string{"-c", `cd "$0" && exec qemu-img "$@"`, dir}, args...)...)
}

// readAllImage reads the whole image.
func readAllImage(t *testing.T, img *Image) []byte {
	t.Helper()
	b := make([]byte, img.Size())
	if n, err := img.ReadAt(b, 0); n != len(b) {
		t.Fatalf("read %d of %d bytes: %v", n, len(b), err)
	}
	return b
}

// TestBackingOutsideRefused is issue 14's attack: a qcow2 image naming a
// host file (absolute, through "..", through a symbolic link, or as its
// external data file) must not make image.Open read it, unless the user
// allowed that file (--allow-backing). Allowed, the image reads what
// qemu-img reads.
func TestBackingOutsideRefused(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	root := t.TempDir()
	imgs := filepath.Join(root, "images")
	if err := os.Mkdir(imgs, 0o755); err != nil {
		t.Fatal(err)
	}
	// secret is the host file the images try to read.
	secret := filepath.Join(root, "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("host secret\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(imgs, "link.raw")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file string // file: the image, in imgs
		args       []string
		allow      string // the file the user must name to allow it
	}{
		{"absolute", "abs.qcow2", []string{"-F", "raw", "-b", secret}, secret},
		{"etc-hostname", "host.qcow2", []string{"-F", "raw", "-b", "/etc/hostname"}, "/etc/hostname"},
		{"dotdot", "dotdot.qcow2", []string{"-F", "raw", "-b", "../secret"}, secret},
		{"symlink", "sym.qcow2", []string{"-F", "raw", "-b", "link.raw"}, secret},
		{"no-format", "nofmt.qcow2", []string{"-u", "-F", "raw", "-b", "../secret"}, secret},
		{"data-file", "df.qcow2", []string{"-o", "data_file=" + secret}, secret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "etc-hostname" {
				if _, err := os.Stat("/etc/hostname"); err != nil {
					t.Skip("no /etc/hostname on this machine")
				}
			}
			p := filepath.Join(imgs, c.file)
			args := append([]string{"create", "-q", "-f", "qcow2"}, c.args...)
			if c.name == "data-file" {
				// qemu-img create would truncate the data file: make it
				// on a copy, then point the image at the secret.
				cp := filepath.Join(root, "secreT") // as long as secret's name
				os.WriteFile(cp, nil, 0o600)
				args = []string{"create", "-q", "-f", "qcow2", "-o", "data_file=" + cp}
				qemuImgIn(t, imgs, append(args, p, "1M")...)
				b, _ := os.ReadFile(p)
				i := bytes.Index(b, []byte(cp))
				if i < 0 {
					t.Fatal("data file name not found in the header")
				}
				copy(b[i:], secret)
				os.WriteFile(p, b, 0o644)
			} else {
				qemuImgIn(t, imgs, append(args, p, "1M")...)
			}
			img, err := Open(p)
			if err == nil {
				img.Close()
				t.Fatalf("Open(%s) read a file outside its directory", c.file)
			}
			if !errors.Is(err, chain.ErrOutside) {
				t.Fatalf("Open: %v; want an error wrapping chain.ErrOutside", err)
			}
			if !strings.Contains(err.Error(), "--allow-backing") {
				t.Errorf("error %q does not say how to allow the file", err)
			}
			img, err = OpenOptions(p, Options{AllowBacking: []string{c.allow}})
			if err != nil {
				t.Fatalf("with AllowBacking %s: %v", c.allow, err)
			}
			defer img.Close()
			got := readAllImage(t, img)
			testutil.NeedTools(t, "qemu-img")
			want := filepath.Join(t.TempDir(), "want.raw")
			testutil.Run(t, "", "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", p, want)
			w, _ := os.ReadFile(want)
			if !bytes.Equal(got, w) {
				t.Fatal("allowed chain reads differently from qemu-img convert")
			}
		})
	}
}

// TestChainLoop: a backing chain that comes back to itself is refused
// with chain.ErrLoop, whether the backing format is given or detected.
func TestChainLoop(t *testing.T) {
	dir := t.TempDir()
	qemuImgIn(t, dir, "create", "-q", "-f", "qcow2", "a.qcow2", "1M")
	qemuImgIn(t, dir, "create", "-q", "-f", "qcow2", "b.qcow2", "1M")
	qemuImgIn(t, dir, "create", "-q", "-f", "raw", "r.raw", "1M")
	qemuImgIn(t, dir, "rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2")
	qemuImgIn(t, dir, "rebase", "-u", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2")
	// c names itself with no backing format: the opener detects qcow2.
	qemuImgIn(t, dir, "create", "-q", "-f", "qcow2", "c.qcow2", "1M")
	qemuImgIn(t, dir, "rebase", "-u", "-f", "qcow2", "-b", "c.qcow2", "-F", "qcow2", "c.qcow2")
	c := filepath.Join(dir, "c.qcow2")
	b, _ := os.ReadFile(c)
	// Rename the backing format extension (0xe2792aca) to an unknown one,
	// which readers skip: qemu-img 7 no longer makes such images.
	i := bytes.Index(b[:4096], []byte{0xe2, 0x79, 0x2a, 0xca})
	if i < 0 {
		t.Fatal("no backing format extension")
	}
	copy(b[i:], []byte{0x7e, 0x57, 0x00, 0x01})
	os.WriteFile(c, b, 0o644)
	for _, p := range []string{"a.qcow2", "b.qcow2", "c.qcow2"} {
		img, err := Open(filepath.Join(dir, p))
		if err == nil {
			img.Close()
			t.Fatalf("%s: loop not detected", p)
		}
		if !errors.Is(err, chain.ErrLoop) {
			t.Errorf("%s: %v; want chain.ErrLoop", p, err)
		}
	}
}

// TestBackingFIFO: a backing file that is a FIFO in the image's directory
// is refused at once; opening it would block until a writer came.
func TestBackingFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	qemuImgIn(t, dir, "create", "-q", "-f", "qcow2", "-u", "-b", "fifo", "-F", "raw", "top.qcow2", "1M")
	done := make(chan error, 1)
	go func() {
		img, err := Open(filepath.Join(dir, "top.qcow2"))
		if err == nil {
			img.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("FIFO backing file: %v; want an error saying it is not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open hangs on a FIFO backing file")
	}
}

// TestQCOW2OverVDI: a qcow2 backing file may be any format image reads,
// here a VDI: the bytes and the allocation of the overlay are qemu's.
func TestQCOW2OverVDI(t *testing.T) {
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	qemuImgIn(t, dir, "convert", "-q", "-f", "raw", "-O", "vdi", raw, "base.vdi")
	qemuImgIn(t, dir, "create", "-q", "-f", "qcow2", "-b", "base.vdi", "-F", "vdi", "top.qcow2", "3M")
	testutil.NeedTools(t, "qemu-io")
	top := filepath.Join(dir, "top.qcow2")
	testutil.Run(t, "", "qemu-io", "-f", "qcow2", "-c", "write -P 0x61 512k 64k", "-c", "write -z 0 4k", top)
	img, err := Open(top)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	want := filepath.Join(dir, "want.raw")
	testutil.Run(t, "", "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", top, want)
	w, _ := os.ReadFile(want)
	if !bytes.Equal(readAllImage(t, img), w) {
		t.Fatal("qcow2 over VDI reads differently from qemu-img convert")
	}
	// Data against holes, byte for byte, as qemu-img map says.
	out := testutil.Run(t, "", "qemu-img", "map", "-U", "-f", "qcow2", "--output=json", top)
	var m []struct {
		Start, Length int64
		Data          bool
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	qemuData := make([]bool, img.Size())
	for _, e := range m {
		for i := e.Start; i < e.Start+e.Length; i++ {
			qemuData[i] = e.Data
		}
	}
	for pos := int64(0); pos < img.Size(); {
		exts, err := img.Extents(pos, img.Size()-pos)
		if err != nil || len(exts) == 0 {
			t.Fatalf("Extents(%#x): %v, %v", pos, exts, err)
		}
		for _, e := range exts {
			for i := e.Off; i < e.End(); i++ {
				if qemuData[i] == e.Hole {
					t.Fatalf("byte %#x: ours %+v, qemu-img map data=%v", i, e, qemuData[i])
				}
			}
			pos = e.End()
		}
	}
}
