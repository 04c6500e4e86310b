// Package testutil holds helpers shared by the tests of several packages:
// skipping when an external tool is missing, running a tool, unpacking a
// gzip fixture, making an empty sparse image file and an in-memory sparse
// disk. It is for tests only: no non-test code may import it.
package testutil

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianPackage names the Debian package of the tools the tests use, for
// the skip message.
var debianPackage = map[string]string{
	"blkid":      "util-linux",
	"certtool":   "gnutls-bin",
	"cryptsetup": "cryptsetup-bin",
	"dd":         "coreutils",
	"debugfs":    "e2fsprogs",
	"dumpe2fs":   "e2fsprogs",
	"e2fsck":     "e2fsprogs",
	"fls":        "sleuthkit",
	"ifind":      "sleuthkit",
	"istat":      "sleuthkit",
	"btrfs":      "btrfs-progs",
	"mkfs.btrfs": "btrfs-progs",
	"mkfs.exfat": "exfatprogs",
	"mkfs.ext2":  "e2fsprogs",
	"mkfs.ext3":  "e2fsprogs",
	"mkfs.ext4":  "e2fsprogs",
	"mkfs.vfat":  "dosfstools",
	"makefs":     "makefs",
	"mkfs.xfs":   "xfsprogs",
	"xfs_db":     "xfsprogs",
	"xfs_repair": "xfsprogs",
	"mkntfs":     "ntfs-3g",
	"mkswap":     "util-linux",
	"mmls":       "sleuthkit",
	"nbdcopy":    "libnbd-bin",
	"nbdinfo":    "libnbd-bin",
	"nbdkit":     "nbdkit",
	"qemu-img":   "qemu-utils",
	"qemu-nbd":   "qemu-utils",
	"sfdisk":     "fdisk",
	"sgdisk":     "gdisk",
	"xorriso":    "xorriso",
	"xz":         "xz-utils",
}

// NeedTools skips the test (t.Skipf) when any of the named programs is
// not found in $PATH, naming the first missing one and, when known, its
// Debian package.
func NeedTools(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if pkg := debianPackage[name]; pkg != "" {
				t.Skipf("%s not installed (Debian package %s): %v", name, pkg, err)
			}
			t.Skipf("%s not installed: %v", name, err)
		}
	}
}

// Run runs name with args, feeding it stdin when that is not empty, and
// returns its combined standard output and error. A failure to start or a
// non-zero exit status fails the test (t.Fatalf) with the command line and
// the output.
func Run(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// MaxGunzip is the most Gunzip unpacks: fixtures are small test images.
const MaxGunzip = 64 << 20

// Gunzip returns the unpacked contents of the gzip file at path. Any error,
// or contents larger than MaxGunzip, fails the test (t.Fatalf).
func Gunzip(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, MaxGunzip+1))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(b) > MaxGunzip {
		t.Fatalf("%s: unpacks to more than %d bytes", path, MaxGunzip)
	}
	return b
}

// SparseFile creates an empty sparse file of size bytes in a new
// t.TempDir() and returns its path.
func SparseFile(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
