package main

import (
	"bytes"
	"fmt"
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
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "virt-bmap: no disk image given"},
		{[]string{"--bogus", "x.img"}, "virt-bmap: unrecognized option '--bogus'"},
		{[]string{"x.img", "-z"}, "virt-bmap: invalid option -- 'z'"},
		{[]string{"x.img", "-o"}, "virt-bmap: option requires an argument -- 'o'"},
		{[]string{"--output"}, "virt-bmap: option '--output' requires an argument"},
		{[]string{"--json", "--text", "x.img"}, "virt-bmap: --json and --text are exclusive"},
		{[]string{"--key", "secret", "x.img"}, "virt-bmap: --key"},
	} {
		code, _, stderr := runCmd(c.args...)
		first, _, _ := strings.Cut(stderr, "\n")
		if code != 1 || !strings.HasPrefix(first, c.want) || !strings.Contains(stderr, "Try 'virt-bmap --help' for more information.") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "secret") {
			t.Errorf("%q: the passphrase is in the error: %q", c.args, stderr)
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
	testutil.NeedTools(t, "gzip")
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img.gz")
	if err := os.WriteFile(filepath.Join(dir, "d.img"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "", "gzip", filepath.Join(dir, "d.img"))
	code, _, stderr := runCmd("-q", "-o", filepath.Join(dir, "m"), img)
	if code != 1 || !strings.Contains(stderr, "gzip") || !strings.Contains(stderr, "gunzip -k") {
		t.Fatalf("exit %d, stderr %q; want 1 with a gzip hint", code, stderr)
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

// ext4Disk makes an 8 MiB ext4 with a few files by mkfs.ext4 -d.
func ext4Disk(t *testing.T, dir string) string {
	t.Helper()
	testutil.NeedTools(t, "mkfs.ext4")
	src := filepath.Join(dir, "src")
	for i := range 40 {
		p := filepath.Join(src, "d", fmt.Sprintf("f%02d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 5000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "ext4.img")
	testutil.Run(t, "", "truncate", "-s", "8M", img)
	testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-b", "1024", "-O", "^metadata_csum", "-d", src, img)
	return img
}

// TestGNUCommandLines: options after the image, --opt=value, bundles and
// "--", as the virt tools' getopt takes them.
func TestGNUCommandLines(t *testing.T) {
	dir := t.TempDir()
	img := ext4Disk(t, dir)
	for _, args := range [][]string{
		{img, "-q", "-o", filepath.Join(dir, "m1")},
		{"-qo", filepath.Join(dir, "m1"), img},
		{"--output=" + filepath.Join(dir, "m1"), "--quiet", "--", img},
		{"-a", img, "--format=raw", "-q", "--output", filepath.Join(dir, "m1")},
		{"--format", "raw", "-a", img, "-q", "-o", filepath.Join(dir, "m1")},
	} {
		os.Remove(filepath.Join(dir, "m1"))
		code, _, stderr := runCmd(args...)
		b, _ := os.ReadFile(filepath.Join(dir, "m1"))
		if code != 0 || !strings.Contains(string(b), " f /dev/sda /d/f07\n") {
			t.Errorf("%q: exit %d, stderr %q, map %.100q", args, code, stderr, b)
		}
	}
	// The output form: --json, the -o extension, the old --format json.
	for _, c := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--json", "-o", filepath.Join(dir, "a")}, false},
		{[]string{"-o", filepath.Join(dir, "a.json")}, false},
		{[]string{"--format", "json", "-o", filepath.Join(dir, "a")}, true},
	} {
		code, _, stderr := runCmd(append(c.args, "-q", img)...)
		b, _ := os.ReadFile(c.args[len(c.args)-1])
		if code != 0 || !bytes.HasPrefix(b, []byte(`{"version":1`)) || strings.Contains(stderr, "--format json names the output form") != c.warn {
			t.Errorf("%q: exit %d, stderr %q, map %.40q", c.args, code, stderr, b)
		}
	}
	// --format with an input format the image is not.
	if code, _, stderr := runCmd("-q", "--format=qcow2", "-o", filepath.Join(dir, "q"), img); code != 1 || !strings.Contains(stderr, "qcow2") {
		t.Errorf("--format=qcow2 on a raw image: exit %d, %q", code, stderr)
	}
}

// TestBadPaths: an output directory that does not exist is named as given;
// a FIFO as the image is refused at once instead of blocking.
func TestBadPaths(t *testing.T) {
	dir := t.TempDir()
	img := ext4Disk(t, dir)
	out := filepath.Join(dir, "nonexistent", "dir", "x")
	code, _, stderr := runCmd("-q", "-o", out, img)
	if code != 1 || !strings.Contains(stderr, "cannot create "+out+": no such file or directory") {
		t.Errorf("exit %d, stderr %q; want 1 naming %s", code, stderr, out)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	code, _, stderr = runCmd("-q", "-o", filepath.Join(dir, "m"), fifo)
	if code != 1 || !strings.Contains(stderr, "not a regular file or block device") {
		t.Errorf("FIFO: exit %d, stderr %q", code, stderr)
	}
}

// TestDamagedExitStatus: a filesystem that cannot be opened (its
// superblock's inode count zeroed, the magic kept) leaves the map written,
// the summary of what was lost on stderr even with -q, and exit status 4;
// the JSON map holds the status.
func TestDamagedExitStatus(t *testing.T) {
	testutil.NeedTools(t, "sfdisk")
	dir := t.TempDir()
	fsImg := ext4Disk(t, dir)
	fsb, _ := os.ReadFile(fsImg)
	disk := filepath.Join(dir, "disk.img")
	testutil.Run(t, "", "truncate", "-s", "20M", disk)
	testutil.Run(t, "label: dos\nstart=2048, size=16384\nstart=18432\n", "sfdisk", "-q", disk)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(fsb, 2048*512)
	f.WriteAt(fsb, 18432*512)
	f.WriteAt([]byte{0, 0, 0, 0}, 18432*512+1024+0x28) // sda2: s_inodes_per_group = 0
	f.Close()
	jsonOut := filepath.Join(dir, "m.json")
	code, _, stderr := runCmd("-q", "-o", jsonOut, disk)
	if code != 4 {
		t.Fatalf("exit %d, want 4; stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "1 of 2 volumes not fully mapped") || !strings.Contains(stderr, "/dev/sda2 (ext4): unreadable") {
		t.Errorf("stderr with -q = %q", stderr)
	}
	b, _ := os.ReadFile(jsonOut)
	if !strings.Contains(string(b), `"device":"/dev/sda2","disk":1,"filesystem":"ext4","status":"unreadable"`) ||
		!strings.Contains(string(b), `"device":"/dev/sda1","disk":1,"filesystem":"ext4","status":"complete"`) {
		t.Errorf("JSON map volumes:\n%.600s", b)
	}
}

// TestOVA maps an appliance of two disks (streamOptimized VMDKs made by
// qemu-img from two ext4 filesystems, in a tar with its OVF): each disk of
// the OVA is a disk of the guest, mapped as its raw form is.
func TestOVA(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "tar")
	dir := t.TempDir()
	one := ext4Disk(t, dir)
	two := filepath.Join(dir, "two.img")
	testutil.Run(t, "", "cp", one, two)
	for _, n := range []string{"one", "two"} {
		src := one
		if n == "two" {
			src = two
		}
		testutil.Run(t, "", "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", src, filepath.Join(dir, n+".vmdk"))
	}
	ovf := `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:id="file1" ovf:href="one.vmdk"/>
    <File ovf:id="file2" ovf:href="two.vmdk"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:capacity="8388608" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="8388608" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="vm"><Info>A virtual machine</Info></VirtualSystem>
</Envelope>
`
	if err := os.WriteFile(filepath.Join(dir, "vm.ovf"), []byte(ovf), 0o644); err != nil {
		t.Fatal(err)
	}
	ova := filepath.Join(dir, "vm.ova")
	testutil.Run(t, "", "tar", "-C", dir, "-cf", ova, "vm.ovf", "one.vmdk", "two.vmdk")
	code, raw, stderr := runCmd("-q", "-o", "-", one, two)
	if code != 0 {
		t.Fatalf("raw disks: exit %d %s", code, stderr)
	}
	code, got, stderr := runCmd("-q", "-o", "-", ova)
	if code != 0 || got != raw || !strings.Contains(got, "2 ") {
		t.Errorf("OVA: exit %d, stderr %q; map equals the raw disks' %v", code, stderr, got == raw)
	}
}
