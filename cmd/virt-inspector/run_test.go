package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/inspect"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var guestNames = []string{"debian12", "ubuntu2204", "alpine319", "arch", "fedora40", "fedora40btrfs", "freebsd13", "centos7", "win10", "win2k19"}

// windowsGuests are built by testimages/windows.sh, the others by
// guests.sh.
var windowsGuests = map[string]bool{"win10": true, "win2k19": true}

var (
	guestsOnce sync.Once
	guestsDir  string
	guestsErr  error
	winOnce    sync.Once
	winSkip    string // why windows.sh cannot run here
	winErr     error
)

// guestImage is the directory holding guest g's image, built once by
// guests.sh or windows.sh (then its tools missing skip the test).
func guestImage(t *testing.T, g string) string {
	t.Helper()
	dir := guests(t)
	if why, err := os.ReadFile(filepath.Join(dir, g+".skip")); err == nil {
		t.Skipf("guests.sh did not build %s: %s", g, bytes.TrimSpace(why))
	}
	if !windowsGuests[g] {
		return dir
	}
	winOnce.Do(func() {
		for _, tool := range []string{"hivexregedit", "hivexget", "mkntfs", "file", "blkid"} {
			if _, err := exec.LookPath(tool); err != nil {
				if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
					winSkip = tool + " not found (Debian libwin-hivex-perl, libhivex-bin, ntfs-3g, file, util-linux)"
					return
				}
			}
		}
		if os.Getenv("MKNTFSTREE") == "" {
			if _, err := exec.LookPath("gcc"); err != nil {
				winSkip = "gcc not found, to build mkntfstree (or set MKNTFSTREE)"
				return
			}
			if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
				winSkip = "libntfs-3g headers not found (Debian ntfs-3g-dev; or set MKNTFSTREE)"
				return
			}
		}
		cmd := exec.Command("bash", "../../testimages/windows.sh", dir)
		cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if out, err := cmd.CombinedOutput(); err != nil {
			winErr = fmt.Errorf("windows.sh: %v\n%s", err, out)
		}
	})
	if winErr != nil {
		t.Fatal(winErr)
	}
	if winSkip != "" {
		t.Skip(winSkip)
	}
	return dir
}

// guests builds the phony Linux guests once with testimages/guests.sh.
func guests(t *testing.T) string {
	t.Helper()
	guestsOnce.Do(func() {
		for _, tool := range []string{"mkfs.ext4", "sfdisk", "xz"} {
			if _, err := exec.LookPath(tool); err != nil {
				if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
					guestsErr = fmt.Errorf("%s not found: %w", tool, err)
					return
				}
			}
		}
		guestsDir, guestsErr = os.MkdirTemp("", "virt-inspector-guests")
		if guestsErr != nil {
			return
		}
		out, err := exec.Command("bash", "../../testimages/guests.sh", guestsDir).CombinedOutput()
		if err != nil {
			guestsErr = fmt.Errorf("guests.sh: %v\n%s", err, out)
		}
	})
	if guestsErr != nil {
		t.Skip(guestsErr)
	}
	return guestsDir
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if guestsDir != "" {
		os.RemoveAll(guestsDir)
	}
	os.Exit(code)
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// TestGolden compares the XML, JSON and table output for each guest with
// testdata/GUEST.{xml,json,table}; -update rewrites them.
func TestGolden(t *testing.T) {
	for _, g := range guestNames {
		for _, f := range []string{"xml", "json", "table"} {
			t.Run(g+"."+f, func(t *testing.T) {
				dir := guestImage(t, g)
				out, stderr, code := runCmd(t, "-q", "--"+f, "-a", filepath.Join(dir, g+".img"))
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				golden := filepath.Join("testdata", g+"."+f)
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if out != string(want) {
					t.Errorf("output differs from %s (rerun with -update to accept):\n%s", golden, out)
				}
			})
		}
	}
}

// readFacts reads the KEY=VALUE file guests.sh wrote beside each image.
func readFacts(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// TestFacts checks the JSON output against what guests.sh put in each
// guest (its .facts file), not against our own earlier output.
func TestFacts(t *testing.T) {
	for _, g := range guestNames {
		t.Run(g, func(t *testing.T) {
			dir := guestImage(t, g)
			facts := readFacts(t, filepath.Join(dir, g+".facts"))
			out, stderr, code := runCmd(t, "--json", "-a", filepath.Join(dir, g+".img"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res inspect.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.OperatingSystems) != 1 {
				t.Fatalf("%d operating systems, want 1", len(res.OperatingSystems))
			}
			o := res.OperatingSystems[0]
			check := func(key, got string) {
				if w := facts[key]; len(w) != 1 || w[0] != got {
					t.Errorf("%s = %q, guests.sh wrote %q", key, got, w)
				}
			}
			check("distro", o.Distro)
			check("product_name", o.ProductName)
			check("major", fmt.Sprint(o.MajorVersion))
			check("minor", fmt.Sprint(o.MinorVersion))
			check("hostname", o.Hostname)
			check("osinfo", o.OSInfo)
			check("root", o.Root)
			if windowsGuests[g] {
				check("variant", o.ProductVariant)
			}
			check("packages", fmt.Sprint(len(o.Applications)))
			if o.Arch != "x86_64" { // guests.sh copies the host's x86-64 /bin/dash, windows.sh makes x86-64 PE headers
				t.Errorf("arch = %q, want x86_64", o.Arch)
			}
			for _, m := range facts["mount"] {
				path, dev, _ := strings.Cut(m, " ")
				found := false
				for _, mp := range o.Mountpoints {
					found = found || (mp.Path == path && mp.Device == dev)
				}
				if !found {
					t.Errorf("mount point %s on %s missing: %+v", path, dev, o.Mountpoints)
				}
			}
			appFact := func(key string) {
				for _, v := range facts[key] {
					f := strings.Fields(v) // "NAME [EPOCH:]VERSION-RELEASE ARCH"
					var got string
					for _, a := range o.Applications {
						if a.Name == f[0] {
							got = a.Version + "-" + a.Release
							if a.Epoch != 0 {
								got = fmt.Sprintf("%d:%s", a.Epoch, got)
							}
							got = a.Name + " " + got + " " + a.Arch
						}
					}
					if got != v {
						t.Errorf("%s: got %q, guests.sh wrote %q", key, got, v)
					}
				}
			}
			appFact("first_package")
			appFact("epoch_package")
			// The icon: the sha256 of the PNG guests.sh put in, or none.
			icon := ""
			if len(o.Icon) > 0 {
				icon = fmt.Sprintf("%x", sha256.Sum256(o.Icon))
			}
			if w := strings.Join(facts["icon_sha256"], ","); w != icon {
				t.Errorf("icon sha256 %q, guests.sh wrote %q", icon, w)
			}
		})
	}
}

func TestNoApplications(t *testing.T) {
	dir := guests(t)
	out, _, code := runCmd(t, "-q", "--no-applications", "-a", filepath.Join(dir, "debian12.img"))
	if code != 0 || strings.Contains(out, "<applications") || !strings.Contains(out, "<distro>debian</distro>") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no image", nil, 1, "virt-inspector: no disk image given"},
		{"two outputs", []string{"--xml", "--json", "x"}, 1, "at most one"},
		{"bad format", []string{"--format=bogus", "x"}, 1, `--format "bogus": unknown input format`},
		{"missing image", []string{"-a", "/nonexistent/x.img"}, 1, "nonexistent"},
		{"libvirt", []string{"-d", "win7"}, 1, "libvirt domains are not supported"},
		{"unknown", []string{"-a", "x", "--bogus"}, 1, "virt-inspector: unrecognized option '--bogus'\nTry 'virt-inspector --help' for more information."},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, c.code, c.msg)
			}
		})
	}
}

func TestFormatMismatch(t *testing.T) {
	dir := guests(t)
	_, stderr, code := runCmd(t, "--format", "xz", "-a", filepath.Join(dir, "arch.img"))
	if code != 1 || !strings.Contains(stderr, "read as xz (--format), but its content looks like raw") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestLockedNoOS: a disk that is only a LUKS container (cryptsetup's
// header) and no key: no operating system is found, exit status 1, and
// standard error says which encrypted volume stayed locked, also with -q
// (before, the problems were listed only when an OS was found, so an
// encrypted disk without its key got only "no operating system").
func TestLockedNoOS(t *testing.T) {
	testutil.NeedTools(t, "cryptsetup")
	const uuid = "0b1e1c00-0000-4000-8000-0000000000aa"
	img := filepath.Join(t.TempDir(), "locked.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 3<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "a passphrase", "cryptsetup", "luksFormat", "--batch-mode", "--key-file", "-", "--type", "luks1",
		"--pbkdf-force-iterations", "1000", "--uuid", uuid, img)
	for _, args := range [][]string{{"-q", "-a", img}, {"-q", "--json", "-a", img}} {
		out, stderr, code := runCmd(t, args...)
		want := "/dev/sda: encrypted volume (LUKS " + uuid + "): LUKS container: locked (no key given)"
		if code != 1 || !strings.Contains(stderr, "no operating system was found") || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q; want 1, no operating system and %q", args, code, stderr, want)
		}
		if strings.Contains(out, "<operatingsystem>") || strings.Contains(out, `"root"`) {
			t.Errorf("%v: an operating system in the output:\n%s", args, out)
		}
	}
}
