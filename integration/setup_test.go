package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The images and the binary are built once per test run into workDir and
// shared by every test; TestMain removes the directory at the end.
// VIRT_BMAP_TESTIMAGES=DIR reuses images already built there by
// testimages/build.sh DIR (they are rebuilt if missing).
var (
	workDir   string
	setupOnce sync.Once
	setupErr  error
	imagesDir string
	binPath   string
	repoRoot  string

	mapsMu sync.Mutex
	maps   = map[string]*jsonMap{}
)

// tools the end-to-end tests need (testutil.NeedTools names the Debian
// package providing each).
var tools = []string{
	"fls", "istat",
	"debugfs", "dumpe2fs", "mkfs.ext4", "e2fsck",
	"sfdisk", "sgdisk", "dd", "xz",
	"mkfs.fat", "mcopy", "mshowfat", "fsstat", "icat",
	"mkntfs", "ntfscluster", "gcc",
	"qemu-img", "qemu-io",
}

func TestMain(m *testing.M) {
	// debugfs, dumpe2fs, sfdisk live in /sbin for non-root users.
	os.Setenv("PATH", os.Getenv("PATH")+":/sbin:/usr/sbin")
	os.Setenv("DEBUGFS_PAGER", "__none__")
	os.Setenv("PAGER", "cat")
	os.Setenv("LC_ALL", "C")
	code := m.Run()
	if workDir != "" {
		os.RemoveAll(workDir)
	}
	os.Exit(code)
}

// setup skips the test if a tool is missing, else builds the images and
// the binary (once) and fails the test if that failed.
func setup(t *testing.T) {
	t.Helper()
	testutil.NeedTools(t, tools...)
	setupOnce.Do(func() { setupErr = doSetup() })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

func doSetup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	repoRoot = filepath.Dir(wd) // the tests run in integration/
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		return fmt.Errorf("repository root not found above %s: %w", wd, err)
	}
	workDir, err = os.MkdirTemp("", "virt-bmap-integration-")
	if err != nil {
		return err
	}
	binPath = filepath.Join(workDir, "virt-bmap")
	cmd := exec.Command("go", "build", "-o", binPath, "./cmd/virt-bmap")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/virt-bmap: %v\n%s", err, out)
	}
	imagesDir = os.Getenv("VIRT_BMAP_TESTIMAGES")
	if imagesDir != "" && haveImages(imagesDir) {
		return nil
	}
	if imagesDir == "" {
		imagesDir = filepath.Join(workDir, "images")
	}
	start := time.Now()
	cmd = exec.Command("bash", filepath.Join(repoRoot, "testimages", "build.sh"), imagesDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testimages/build.sh %s: %v\n%s", imagesDir, err, out)
	}
	fmt.Fprintf(os.Stderr, "integration: built test images in %s (%.1fs)\n", imagesDir, time.Since(start).Seconds())
	return nil
}

func haveImages(dir string) bool {
	for _, n := range []string{"mbr-ext.img", "gpt-ext.img", "sample.img", "fat.img", "ntfs.img"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// jsonMap is virt-bmap's --json output.
type jsonMap struct {
	Version int           `json:"version"`
	Disks   []bmap.Disk   `json:"disks"`
	Volumes []bmap.Volume `json:"volumes"`
	Objects []bmap.Object `json:"objects"`
}

// runMap runs virt-bmap --json on an image (once per image) and
// decodes the map.
func runMap(t *testing.T, image string) *jsonMap {
	t.Helper()
	mapsMu.Lock()
	defer mapsMu.Unlock()
	if m, ok := maps[image]; ok {
		return m
	}
	out := filepath.Join(workDir, filepath.Base(image)+".json")
	stdout, stderr, code := runBin(t, "-q", "--json", "-o", out, image)
	if code != 0 {
		t.Fatalf("virt-bmap --json %s: exit status %d\nstdout: %s\nstderr: %s", image, code, stdout, stderr)
	}
	if stderr != "" {
		t.Logf("virt-bmap %s warnings:\n%s", filepath.Base(image), stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Fields added later are ignored: the test relies on the documented ones.
	m := new(jsonMap)
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if m.Version != 1 {
		t.Fatalf("%s: version %d, want 1", out, m.Version)
	}
	maps[image] = m
	return m
}

// runBin runs the built virt-bmap and returns its output and exit status.
func runBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(binPath, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if x, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), x.ExitCode()
		}
		t.Fatalf("running virt-bmap %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), 0
}

// runTool runs an external tool and returns its stdout; a failure includes
// its stderr.
func runTool(name string, args ...string) ([]byte, error) {
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.Bytes(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(e.String()))
	}
	return o.Bytes(), nil
}

// diffs collects mismatches and reports the first few.
type diffs struct {
	list []string
}

func (d *diffs) add(format string, args ...any) {
	d.list = append(d.list, fmt.Sprintf(format, args...))
}

func (d *diffs) report(t *testing.T, what string) {
	t.Helper()
	if len(d.list) == 0 {
		return
	}
	const max = 25
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d differences", what, len(d.list))
	for i, s := range d.list {
		if i == max {
			fmt.Fprintf(&b, "\n  ... and %d more", len(d.list)-max)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(s)
	}
	t.Error(b.String())
}
