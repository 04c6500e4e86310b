package luks

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// makeExt4 makes a size-byte ext4 with 4 KiB blocks (what a LUKS2 volume
// with 4096-byte sectors needs) holding a few files, and returns its bytes.
func makeExt4(t *testing.T, size int64) []byte {
	t.Helper()
	testutil.NeedTools(t, "mkfs.ext4")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, p := range []string{"etc/os-release", "home/user/notes.txt", "var/log/big.log"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(strings.Repeat(p+"\n", 1+len(p)*500))
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(fs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(fs, size); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "", "mkfs.ext4", "-q", "-b", "4096", "-d", root, "-U", "6b8b4567-327b-23c6-643c-986966334873",
		"-E", "lazy_itable_init=0,lazy_journal_init=0", "-F", fs)
	b, err := os.ReadFile(fs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fls lists the filesystem in the image file with The Sleuth Kit.
func fls(t *testing.T, img []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fs.raw")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return testutil.Run(t, "", "fls", "-r", "-p", "-f", "ext4", p)
}

// TestExt4 puts an ext4 in a LUKS1 volume (written by qemu) and in a LUKS2
// volume with 4096-byte sectors (written by cryptsetup), decrypts it with
// this package and lists it with fls, against fls of the original.
func TestExt4(t *testing.T) {
	testutil.NeedTools(t, "cryptsetup", "fls", "mkfs.ext4")
	fsImg := makeExt4(t, 4<<20)
	want := fls(t, fsImg)
	if !strings.Contains(want, "home/user/notes.txt") {
		t.Fatalf("fls of the original does not list the files:\n%s", want)
	}
	read := func(t *testing.T, img string) []byte {
		f, size := openImage(t, img)
		h, err := ReadHeader(f, size)
		if err != nil {
			t.Fatal(err)
		}
		v, err := h.Unlock(f, size, []byte(testPass))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(fsImg))
		if _, err := v.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Run("luks1-qemu", func(t *testing.T) {
		testutil.NeedTools(t, "qemu-img")
		img := filepath.Join(t.TempDir(), "luks1.img")
		luksFormat(t, img, 6<<20, "--type", "luks1", "--pbkdf-force-iterations", "1000", "-c", "aes-xts-plain64", "-s", "512", "--align-payload", "4096")
		qemuWrite(t, img, fsImg)
		got := read(t, img)
		if q := qemuRead(t, img); !bytes.Equal(got, q) {
			t.Fatalf("our plaintext differs from qemu's: %s", firstDiff(got, q))
		}
		if l := fls(t, got); l != want {
			t.Errorf("fls of our plaintext:\n%s\nfls of the original:\n%s", l, want)
		}
	})
	t.Run("luks2-4096-cryptsetup", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "luks2.img")
		src := append(bytes.Clone(fsImg), make([]byte, 2<<20)...)
		luks2Encrypt(t, img, src, 2<<20, "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "960k",
			"-c", "aes-xts-plain64", "-s", "512", "--sector-size", "4096", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
		got := read(t, img)
		if !bytes.Equal(got, fsImg) {
			t.Fatalf("our plaintext differs from the filesystem: %s", firstDiff(got, fsImg))
		}
		if l := fls(t, got); l != want {
			t.Errorf("fls of our plaintext:\n%s\nfls of the original:\n%s", l, want)
		}
	})
}
