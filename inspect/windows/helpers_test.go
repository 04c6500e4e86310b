package windows

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}

// images runs testimages/windows.sh once into a temporary directory and
// returns it; it skips the test when a tool it needs is missing.
func images(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"hivexregedit", "hivexget", "mkntfs", "sfdisk", "gcc", "file"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
		t.Skip("libntfs-3g headers (ntfs-3g-dev) not installed")
	}
	imagesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "virt-bmap-windows-test")
		if err != nil {
			imagesErr = err.Error()
			return
		}
		imagesDir = dir
		out, err := exec.Command("bash", filepath.Join("..", "..", "testimages", "windows.sh"), dir).CombinedOutput()
		if err != nil {
			imagesErr = "testimages/windows.sh: " + err.Error() + "\n" + string(out)
		}
	})
	if imagesErr != "" {
		t.Fatal(imagesErr)
	}
	return imagesDir
}

// hiveFile opens OUTDIR/NAME made by windows.sh ("win10-software").
func hiveFile(t testing.TB, name string) *hive {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(images(t), name))
	if err != nil {
		t.Fatal(err)
	}
	h, err := openHive(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h
}

// hivexget runs hivexget HIVE KEY VALUE on a hive windows.sh made.
func hivexget(t testing.TB, name, key, value string) string {
	t.Helper()
	out, err := exec.Command("hivexget", filepath.Join(images(t), name), key, value).Output()
	if err != nil {
		t.Fatalf("hivexget %s %s %s: %v", name, key, value, err)
	}
	s := string(out)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
