package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestDocExamples runs every example command of the README ("$ " lines in
// its code blocks) and of the three manuals (the tab-indented lines of
// the EXAMPLES section of cmd/*/doc.go; a line ending in \ continues on
// the next), parsed out of the files, so that the manuals stay true. Each
// runs with bash in a scratch directory where the three commands are on
// PATH, after the placeholder file names are replaced by real images
// (docSubst), and must exit 0 as documented. The examples of one manual
// run in order in one directory, so that one can use what an earlier one
// wrote (bmap, t.ndjson). Examples that need what a test cannot have here
// are listed in docSkip with the reason; a guest's boot (--run 'qemu...')
// is replaced by nbdcopy, so the rest of the command line is still run.
// The --help texts have no examples.
func TestDocExamples(t *testing.T) {
	os.Setenv("PATH", os.Getenv("PATH")+":/sbin:/usr/sbin")
	testutil.NeedTools(t, "qemu-img", "xz", "nbdcopy", "jq", "mkfs.ext4")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	bin := t.TempDir()
	for _, c := range []string{"virt-bmap", "virt-inspector", "bmaplogger"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, c), "./cmd/"+c)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", c, err, out)
		}
	}
	sampleXZ := filepath.Join(root, "testimages", "sample.img.xz")
	img := t.TempDir()
	disk := filepath.Join(img, "disk.img")
	out, err := exec.Command("sh", "-c", "xz -dc "+sampleXZ+" > "+disk).CombinedOutput()
	if err != nil {
		t.Fatalf("xz -dc: %v\n%s", err, out)
	}
	// The backing file is named relative to the overlay, as virt-bmap
	// follows without --allow-backing.
	overlay := filepath.Join(img, "overlay.qcow2")
	testutil.Run(t, "", "qemu-img", "create", "-q", "-f", "qcow2", "-b", "disk.img", "-F", "raw", overlay)
	// debian12.img: the sample has only base-files; the manual asks for
	// bash's version, so a small Debian 12 root with bash and base-files
	// in dpkg's status, made by mkfs.ext4 -d.
	debian := filepath.Join(img, "debian12.img")
	tree := filepath.Join(img, "root")
	for name, data := range map[string]string{
		"etc/os-release":      "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
		"etc/debian_version":  "12.2\n",
		"etc/hostname":        "debian12\n",
		"etc/fstab":           "/dev/sda / ext4 defaults 0 1\n",
		"var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: GNU Bourne Again SHell\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u2\nDescription: Debian base system miscellaneous files\n\n",
	} {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-U", "5eed0012-0000-4000-8000-000000000012", "-d", tree, debian, "16M")
	testutil.Run(t, "", "xz", "-k", "-0", debian)

	// docSubst: the placeholder names of the manuals, and what stands for
	// them (the bundled sample image is a small Debian-like guest).
	subst := map[string]string{
		"disk.img":                 disk,
		"debian12.img":             debian,
		"debian12.img.xz":          debian + ".xz",
		"disk.img.xz":              sampleXZ,
		"data.img":                 disk,
		"d1.img":                   disk,
		"d2.img":                   overlay,
		"overlay.qcow2":            overlay,
		"testimages/sample.img.xz": sampleXZ,
	}
	re := regexp.MustCompile(`(^|[\s="'])(bin/)?(testimages/sample\.img\.xz|debian12\.img\.xz|debian12\.img|disk\.img\.xz|disk\.img|data\.img|d1\.img|d2\.img|overlay\.qcow2)\b`)
	replace := func(cmd string) string {
		return re.ReplaceAllStringFunc(cmd, func(m string) string {
			sm := re.FindStringSubmatch(m)
			return sm[1] + subst[sm[3]]
		})
	}

	for _, src := range []string{"README.md", "cmd/virt-bmap/doc.go", "cmd/virt-inspector/doc.go", "cmd/bmaplogger/doc.go"} {
		examples := docExamples(t, filepath.Join(root, src))
		if len(examples) == 0 {
			t.Errorf("%s: no example found", src)
			continue
		}
		t.Run(strings.ReplaceAll(src, "/", "_"), func(t *testing.T) {
			dir := t.TempDir()
			for _, ex := range examples {
				if why := docSkip(ex, bin); why != "" {
					t.Logf("skipped: %s\n\t(%s)", ex, why)
					continue
				}
				// "if CMD; then ...": CMD, which may exit 0 or 1.
				ok := map[int]bool{0: true}
				if c, found := strings.CutPrefix(ex, "if "); found && strings.HasSuffix(c, "; then ...") {
					ex = strings.TrimSuffix(c, "; then ...")
					ok[1] = true
				}
				cmdline := strings.ReplaceAll(replace(ex), "bin/", "")
				// A boot takes minutes (integration/boot_test.go boots
				// one): the --run command is replaced by a copy, so the
				// rest of the command line is checked.
				cmdline = qemuRun.ReplaceAllString(cmdline, `--run 'nbdcopy "$$uri" null:'`)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", cmdline)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "PAGER=cat")
				out, err := cmd.CombinedOutput()
				cancel()
				if ok[cmd.ProcessState.ExitCode()] {
					t.Logf("ran: %s (exit %d)", ex, cmd.ProcessState.ExitCode())
					continue
				}
				if err != nil {
					t.Errorf("%s: %s\n\t(run as %s)\n\t%v\n%.2000s", src, ex, cmdline, err, out)
				}
			}
		})
	}
}

// qemuRun is a --run 'qemu-system-x86_64 ...' argument.
var qemuRun = regexp.MustCompile(`--run '(qemu-system[^']*)'`)

// docSkip says why an example is not run, or "".
func docSkip(ex, bin string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(ex, "if "), " ")
	first = strings.TrimPrefix(first, "bin/")
	if _, err := os.Stat(filepath.Join(bin, first)); err != nil {
		if _, err := exec.LookPath(first); err != nil {
			return first + " is not installed"
		}
	}
	switch {
	case strings.Contains(ex, "win7.img"):
		return "needs a Windows disk image of several GB"
	case strings.Contains(ex, "--key ") || strings.Contains(ex, "enc.img"):
		return "needs a LUKS image and its key; integration/luks_test.go makes them"
	case strings.Contains(ex, "disk1.qcow2"):
		return "needs the two-disk LVM guest; integration/inspector_lvm_test.go makes it"
	case strings.Contains(ex, "-i 0.0.0.0") || strings.Contains(ex, "--tls-certificates"):
		return "a server on every address with certificates from /etc/pki, running until killed"
	case strings.HasSuffix(ex, "...") && !strings.HasPrefix(ex, "if "):
		return "an elided fragment, not a whole command"
	}
	return ""
}

// docExamples returns the example commands of a README (the "$ " lines of
// its code blocks) or of a manual (the tab-indented lines of its EXAMPLES
// section, without the ones naming other manual pages).
func docExamples(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	inBlock, inExamples := false, false
	var cont string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasSuffix(path, ".md") {
			if strings.HasPrefix(line, "```") {
				inBlock = !inBlock
				continue
			}
			if inBlock && strings.HasPrefix(line, "$ ") {
				out = append(out, strings.TrimPrefix(line, "$ "))
			}
			continue
		}
		switch strings.TrimPrefix(line, "# ") {
		case "EXAMPLES":
			inExamples = true
			continue
		case "SEE ALSO":
			inExamples = false
		}
		if !inExamples || !strings.HasPrefix(line, "\t") {
			continue
		}
		l := strings.TrimSpace(line)
		if cont != "" {
			l = cont + " " + l
			cont = ""
		}
		if strings.HasSuffix(l, "\\") {
			cont = strings.TrimSuffix(l, "\\")
			continue
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
