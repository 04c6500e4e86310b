package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestSeedCommand runs the built virt-inspector under the command this
// project was born from, nbdkit's xz filter serving the sample disk on a
// Unix socket, and checks it finds the same as on the file itself.
func TestSeedCommand(t *testing.T) {
	testutil.NeedTools(t, "nbdkit", "go")
	sample, err := filepath.Abs("../../testimages/sample.img.xz")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	testutil.Run(t, "", "go", "build", "-o", filepath.Join(bin, "virt-inspector"), ".")
	direct := testutil.Run(t, "", filepath.Join(bin, "virt-inspector"), "-a", sample)
	cmd := exec.Command("nbdkit", "-r", "-U", "-", "--filter=xz", "file", sample,
		"--run", "virt-inspector --format=raw -a nbd://?socket=$unixsocket")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	if !strings.Contains(direct, "<distro>debian</distro>") {
		t.Fatalf("no Debian found in the sample itself:\n%s", direct)
	}
	if string(out) != direct {
		t.Errorf("over NBD:\n%s\nfrom the file:\n%s", out, direct)
	}
}
