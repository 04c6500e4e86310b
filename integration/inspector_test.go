package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The virt-inspector end-to-end test: the built binary on the phony
// guests of testimages/guests.sh and windows.sh, raw and xz, must print the same
// document, and the document must hold what the script put in the guest.
var (
	inspOnce sync.Once
	inspDir  string // guests and binary, removed at the end of TestInspectorRawXZ
	inspBin  string
	inspErr  error
	inspWin  string // why the Windows guests were not built, if they were not
	inspWinE error  // windows.sh failed
)

func setupInspector(t *testing.T) {
	t.Helper()
	inspOnce.Do(func() {
		for _, tool := range []string{"mkfs.ext4", "sfdisk", "xz"} {
			if _, err := exec.LookPath(tool); err != nil {
				if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
					inspErr = fmt.Errorf("%s not found (Debian e2fsprogs, fdisk, xz-utils)", tool)
					return
				}
			}
		}
		if inspDir, inspErr = os.MkdirTemp("", "virt-bmap-inspector"); inspErr != nil {
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			inspErr = err
			return
		}
		inspBin = filepath.Join(inspDir, "virt-inspector")
		cmd := exec.Command("go", "build", "-o", inspBin, "./cmd/virt-inspector")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			inspErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		if out, err := exec.Command("bash", filepath.Join(root, "testimages/guests.sh"), inspDir).CombinedOutput(); err != nil {
			inspErr = fmt.Errorf("guests.sh: %v\n%s", err, out)
			return
		}
		inspWin, inspWinE = buildWindowsGuests(root, inspDir)
	})
	if inspErr != nil {
		t.Skip(inspErr)
	}
}

func runInspector(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(inspBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("virt-inspector %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func TestInspectorRawXZ(t *testing.T) {
	setupInspector(t)
	defer os.RemoveAll(inspDir)
	for _, g := range lgGuests {
		t.Run(g, func(t *testing.T) {
			if windowsGuests[g] && inspWinE != nil {
				t.Fatal(inspWinE)
			}
			if windowsGuests[g] && inspWin != "" {
				t.Skip(inspWin)
			}
			if why := guestSkip(inspDir, g); why != "" {
				t.Skip(why)
			}
			facts, err := os.ReadFile(filepath.Join(inspDir, g+".facts"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"--xml", "--json", "--table"} {
				raw := runInspector(t, "-q", f, "-a", filepath.Join(inspDir, g+".img"))
				xz := runInspector(t, "-q", f, "--format", "xz", "-a", filepath.Join(inspDir, g+".img.xz"))
				if raw != xz {
					t.Errorf("%s: raw and xz outputs differ:\n%s\n---\n%s", f, raw, xz)
				}
				if f != "--xml" {
					continue
				}
				for _, line := range strings.Split(string(facts), "\n") {
					k, v, _ := strings.Cut(line, "=")
					var want string
					switch k {
					case "distro", "hostname", "osinfo", "root":
						want = "<" + k + ">" + v + "</" + k + ">"
					case "major":
						want = "<major_version>" + v + "</major_version>"
					case "minor":
						want = "<minor_version>" + v + "</minor_version>"
					case "packages":
						if n := strings.Count(raw, "<application>"); fmt.Sprint(n) != v {
							t.Errorf("%d applications, guests.sh wrote %s", n, v)
						}
					}
					if want != "" && !strings.Contains(raw, want) {
						t.Errorf("XML lacks %s", want)
					}
				}
			}
		})
	}
}
