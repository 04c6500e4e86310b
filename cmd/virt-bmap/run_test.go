package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no IMAGE given"},
		{[]string{"--format", "xml", "x.img"}, `--format "xml"`},
		{[]string{"--bogus", "x.img"}, "flag provided but not defined"},
	} {
		code, _, stderr := runCmd(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if code, out, _ := runCmd("-h"); code != 0 || !strings.Contains(out, "usage: virt-bmap") {
		t.Errorf("-h: exit %d, %q", code, out)
	}
}

func TestMissingImageWritesNoMap(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "bmap")
	img := filepath.Join(dir, "nope.img")
	code, _, stderr := runCmd("-q", "-o", out, img)
	if code != 1 || !strings.Contains(stderr, img) {
		t.Fatalf("exit %d, stderr %q; want 1 naming %s", code, stderr, img)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a map was written for a missing image: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left files behind: %v", ents)
	}
}

func TestUnsupportedFormatRefused(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	img := filepath.Join(dir, "d.vmdk")
	testutil.Run(t, "", "qemu-img", "create", "-f", "vmdk", img, "16M")
	code, _, stderr := runCmd("-q", "-o", filepath.Join(dir, "m"), img)
	if code != 1 || !strings.Contains(stderr, "vmdk") || !strings.Contains(stderr, "qemu-img convert") {
		t.Fatalf("exit %d, stderr %q; want 1 with a vmdk hint", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "m")); !os.IsNotExist(err) {
		t.Fatalf("a map was written for a refused image: %v", err)
	}
}

// TestQCOW2OverlayMapped maps an empty qcow2 overlay of a raw disk holding
// an ext4 filesystem: the map comes from the backing file, found by the
// relative name the overlay stores, and a missing backing file is an
// error naming it.
func TestQCOW2OverlayMapped(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "mkfs.ext4")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	testutil.Run(t, "", "truncate", "-s", "8M", base)
	testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-L", "under", base)
	top := filepath.Join(dir, "top.qcow2")
	testutil.Run(t, "", "sh", "-c", "cd "+dir+" && qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2")
	code, stdout, stderr := runCmd("-q", "-o", "-", top)
	if code != 0 || !strings.Contains(stdout, " d /dev/sda /lost+found\n") {
		t.Fatalf("exit %d, stderr %q; want a map with /lost+found:\n%.300s", code, stderr, stdout)
	}
	if err := os.Rename(base, base+".moved"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd("-q", "-o", "-", top)
	if code != 1 || !strings.Contains(stderr, "base.raw") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the missing backing file", code, stderr)
	}
}

// TestBlankDisk maps a disk with nothing on it: the map holds the disk
// alone and the table says nothing was recognised.
func TestBlankDisk(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "blank.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd("-o", "-", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "1 0 100000 v /dev/sda\n" {
		t.Fatalf("map = %q", stdout)
	}
	if !strings.Contains(stderr, "/dev/sda") || !strings.Contains(stderr, "no filesystem recognised") {
		t.Fatalf("summary table on stderr = %q", stderr)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 10 << 20: "10M", 3 << 30: "3.0G"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestOutputToDevice writes the map to a character device and a FIFO: they
// must be written to, not replaced by a regular file.
func TestOutputToDevice(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "blank.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod (needs root): %v", err)
	}
	if code, _, stderr := runCmd("-q", "-o", null, img); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(null); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", null, st.Mode(), err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if code, _, stderr := runCmd("-q", "-o", fifo, img); code != 0 {
		t.Fatalf("fifo: exit %d: %s", code, stderr)
	}
	if m := <-got; m != "1 0 100000 v /dev/sda\n" {
		t.Fatalf("read from the fifo %q", m)
	}
}

// TestSeveralDisks: -a IMAGE (repeatable) and positional images give the
// same map, disks numbered 1, 2, ... in order, -a ones first.
func TestSeveralDisks(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	if err := os.WriteFile(a, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "1 0 100000 v /dev/sda\n2 0 200000 v /dev/sdb\n"
	for _, args := range [][]string{{a, b}, {"-a", a, "-a", b}, {"-a", a, b}} {
		code, stdout, stderr := runCmd(append([]string{"-q", "-o", "-"}, args...)...)
		if code != 0 || stdout != want {
			t.Errorf("%q: exit %d, map %q (stderr %q), want %q", args, code, stdout, stderr, want)
		}
	}
}
