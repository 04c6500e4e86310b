package image

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// serveNBD runs nbdkit read-only on a Unix socket in t.TempDir() with
// args until the end of the test and returns its URI.
func serveNBD(t *testing.T, args ...string) string {
	t.Helper()
	testutil.NeedTools(t, "nbdkit")
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	cmd := exec.Command("nbdkit", append([]string{"-r", "-f", "-U", sock}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("nbdkit exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nbdkit did not listen: %s", out.String())
		}
	}
	return "nbd://?socket=" + sock
}

// nbdDisk writes a small raw disk with a pattern and a hole.
func nbdDisk(t *testing.T) (string, []byte) {
	t.Helper()
	want := make([]byte, 2<<20)
	for i := range want[:512<<10] {
		want[i] = byte(i*31 + i>>9)
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// TestOpenNBD opens exports whose bytes are raw, qcow2 and xz: each is
// detected by content and read as the guest sees it.
func TestOpenNBD(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "xz")
	path, want := nbdDisk(t)
	qcow := filepath.Join(t.TempDir(), "disk.qcow2")
	testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", path, qcow)
	testutil.Run(t, "", "xz", "-k", "--block-size=256KiB", path)
	for _, tc := range []struct {
		file   string
		format Format
	}{{path, Raw}, {qcow, QCOW2}, {path + ".xz", XZ}} {
		uri := serveNBD(t, "file", tc.file)
		img, err := Open(uri)
		if err != nil {
			t.Fatal(err)
		}
		if img.Format() != tc.format {
			t.Errorf("%s: format %v, want %v", tc.file, img.Format(), tc.format)
		}
		if !bytes.Equal(readAllImage(t, img), want) {
			t.Errorf("%s over NBD: bytes differ", tc.file)
		}
		if err := img.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	// --format raw reads a qcow2 export as its bytes.
	uri := serveNBD(t, "file", qcow)
	img, err := OpenOptions(uri, Options{Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if b, _ := os.ReadFile(qcow); !bytes.Equal(readAllImage(t, img), b) {
		t.Error("qcow2 export read as raw: bytes differ from the file")
	}
}

// TestOpenNBDBacking: a qcow2 image read over NBD may not open its
// backing file, which has no directory to be relative to, unless the
// user allows it.
func TestOpenNBDBacking(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	path, want := nbdDisk(t)
	dir := filepath.Dir(path)
	top := filepath.Join(dir, "top.qcow2")
	testutil.Run(t, "", "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "disk.img", top)
	uri := serveNBD(t, "file", top)
	_, err := Open(uri)
	if err == nil {
		t.Fatal("qcow2 with a backing file over NBD opened")
	}
	var o opener
	if _, _, err := o.OpenFile(uri, "disk.img"); !errors.Is(err, chain.ErrOutside) || !strings.Contains(err.Error(), "--allow-backing") {
		t.Errorf("relative name inside a remote image: %v", err)
	}
	o.policy.Allow = []string{path}
	f, got, err := o.OpenFile(uri, path)
	if err != nil || got != path {
		t.Fatalf("allowed absolute name: %q, %v", got, err)
	}
	defer f.Close()
	b := make([]byte, len(want))
	if _, err := f.ReadAt(b, 0); err != nil || !bytes.Equal(b, want) {
		t.Errorf("allowed file: %v", err)
	}
}

func TestOpenNBDErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := Open("nbd+unix:///?socket=" + sock)
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("no server: %v", err)
	}
	if _, err := Open("nbd://host:notaport"); err == nil {
		t.Error("bad URI opened")
	}
}
