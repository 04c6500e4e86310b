package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The oracle test for virt-inspector: libguestfs' own virt-inspector
// (Debian guestfs-tools, pulled in by libguestfs-tools) boots its qemu
// appliance on each phony guest of testimages/guests.sh and our XML must
// report the same facts. Every place where the two legitimately differ is
// in lgAllowed below, with the reason; nothing is ignored silently.
//
// libguestfs runs with LIBGUESTFS_BACKEND=direct and
// LIBGUESTFS_BACKEND_SETTINGS=force_tcg (no KVM needed). When the host has
// no kernel in /boot and modules in /lib/modules (containers), supermin is
// given Debian's linux-image .deb that testimages/boot.sh caches in
// $VIRT_BMAP_CACHE (default ~/.cache/virt-bmap), unpacked with dpkg-deb -x
// and depmod'ed, through SUPERMIN_KERNEL, SUPERMIN_MODULES and
// SUPERMIN_KERNEL_VERSION. Whether libguestfs works is probed once with
// libguestfs-test-tool; if it does not, the test skips with the reason.

var (
	lgOnce sync.Once
	lgEnv  []string // the environment virt-inspector runs with
	lgErr  error    // why libguestfs cannot run here: the tests skip
)

// lgSetup probes libguestfs once (it takes a minute or more under TCG).
func lgSetup(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("libguestfs boots a qemu appliance: slow, skipped under -short")
	}
	lgOnce.Do(func() { lgEnv, lgErr = lgProbe() })
	if lgErr != nil {
		t.Skip(lgErr)
	}
	return lgEnv
}

func lgProbe() ([]string, error) {
	for _, tool := range []string{"virt-inspector", "libguestfs-test-tool", "supermin"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (Debian libguestfs-tools)", tool)
		}
	}
	env := append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	if os.Getenv("SUPERMIN_KERNEL") == "" {
		kenv, err := lgKernel()
		if err != nil {
			return nil, err
		}
		env = append(env, kenv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "libguestfs-test-tool")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("TEST FINISHED OK")) {
		return nil, fmt.Errorf("libguestfs-test-tool failed (%v); last lines:\n%s", err, lastLines(out, 15))
	}
	return env, nil
}

// lgKernel gives supermin a kernel when the host has none it can use:
// the cached Debian linux-image .deb, unpacked into a directory kept for
// the test run (removed when TestLibguestfsOracle ends).
func lgKernel() ([]string, error) {
	uname, err := exec.Command("uname", "-r").Output()
	if err != nil {
		return nil, err
	}
	rel := strings.TrimSpace(string(uname))
	if _, err := os.Stat("/lib/modules/" + rel); err == nil {
		if k, _ := filepath.Glob("/boot/vmlinuz-" + rel); len(k) > 0 {
			return nil, nil // supermin finds the host's kernel itself
		}
	}
	// supermin (5.2) lstat's the host's /lib/modules even when given
	// SUPERMIN_MODULES; creating it is the host administrator's call.
	if _, err := os.Stat("/lib/modules"); err != nil {
		return nil, fmt.Errorf("no host kernel for supermin and /lib/modules is missing (supermin lstat's it even with SUPERMIN_MODULES; mkdir /lib/modules): %v", err)
	}
	cache := os.Getenv("VIRT_BMAP_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		cache = filepath.Join(home, ".cache", "virt-bmap")
	}
	debs, _ := filepath.Glob(filepath.Join(cache, "linux-image-*-amd64_*.deb"))
	if len(debs) == 0 {
		return nil, fmt.Errorf("no host kernel for supermin and no linux-image .deb in %s (testimages/boot.sh downloads one)", cache)
	}
	sort.Strings(debs)
	dir, err := os.MkdirTemp("", "virt-bmap-lgkernel")
	if err != nil {
		return nil, err
	}
	lgKernelDir = dir
	if out, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg-deb -x %s: %v\n%s", debs[len(debs)-1], err, out)
	}
	mods, _ := filepath.Glob(filepath.Join(dir, "lib/modules/*"))
	if len(mods) != 1 {
		return nil, fmt.Errorf("%s: want one lib/modules/VERSION, found %v", debs[len(debs)-1], mods)
	}
	ver := filepath.Base(mods[0])
	depmod := "depmod"
	if _, err := exec.LookPath(depmod); err != nil {
		depmod = "/sbin/depmod"
	}
	if out, err := exec.Command(depmod, "-b", dir, ver).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("depmod -b %s %s (Debian kmod): %v\n%s", dir, ver, err, out)
	}
	return []string{
		"SUPERMIN_KERNEL=" + filepath.Join(dir, "boot", "vmlinuz-"+ver),
		"SUPERMIN_MODULES=" + mods[0],
		"SUPERMIN_KERNEL_VERSION=" + ver,
	}, nil
}

var lgKernelDir string

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The part of virt-inspector.rng both programs fill in.
type lgDoc struct {
	OS []lgOS `xml:"operatingsystem"`
}

type lgOS struct {
	Root              string `xml:"root"`
	Name              string `xml:"name"`
	Arch              string `xml:"arch"`
	Distro            string `xml:"distro"`
	ProductName       string `xml:"product_name"`
	ProductVariant    string `xml:"product_variant"`
	MajorVersion      string `xml:"major_version"`
	MinorVersion      string `xml:"minor_version"`
	SystemRoot        string `xml:"windows_systemroot"`
	ControlSet        string `xml:"windows_current_control_set"`
	PackageFormat     string `xml:"package_format"`
	PackageManagement string `xml:"package_management"`
	Hostname          string `xml:"hostname"`
	OSInfo            string `xml:"osinfo"`
	Icon              string `xml:"icon"`
	DriveMappings     []struct {
		Name string `xml:"name,attr"`
		Dev  string `xml:",chardata"`
	} `xml:"drive_mappings>drive_mapping"`
	Mountpoints []struct {
		Dev  string `xml:"dev,attr"`
		Path string `xml:",chardata"`
	} `xml:"mountpoints>mountpoint"`
	Filesystems []struct {
		Dev   string `xml:"dev,attr"`
		Type  string `xml:"type"`
		Label string `xml:"label"`
		UUID  string `xml:"uuid"`
	} `xml:"filesystems>filesystem"`
	Applications []lgApp `xml:"applications>application"`
}

type lgApp struct {
	Name        string `xml:"name"`
	DisplayName string `xml:"display_name"`
	Epoch       string `xml:"epoch"`
	Version     string `xml:"version"`
	Release     string `xml:"release"`
	Arch        string `xml:"arch"`
	InstallPath string `xml:"install_path"`
	Publisher   string `xml:"publisher"`
	URL         string `xml:"url"`
	Summary     string `xml:"summary"`
	Description string `xml:"description"`
}

// facts flattens one document into "KEY" -> value, KEY being
// "ROOT field", "ROOT mountpoint PATH", "ROOT filesystem DEV field" (field
// "present" is "yes" for each one listed) or
// "ROOT application NAME field"; a missing element is "".
func lgFacts(t *testing.T, what string, data []byte) map[string]string {
	t.Helper()
	var d lgDoc
	if err := xml.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(d.OS) == 0 {
		t.Fatalf("%s: no operating system found:\n%s", what, data)
	}
	m := map[string]string{}
	for _, o := range d.OS {
		r := o.Root
		for k, v := range map[string]string{"name": o.Name, "arch": o.Arch, "distro": o.Distro,
			"product_name": o.ProductName, "product_variant": o.ProductVariant,
			"major_version": o.MajorVersion, "minor_version": o.MinorVersion,
			"windows_systemroot": o.SystemRoot, "windows_current_control_set": o.ControlSet,
			"package_format": o.PackageFormat, "package_management": o.PackageManagement,
			"hostname": o.Hostname, "osinfo": o.OSInfo} {
			m[r+" "+k] = v
		}
		// The icon by the sha256 of its bytes (libxml2 wraps base64 in
		// lines, encoding/xml does not).
		if icon := strings.Join(strings.Fields(o.Icon), ""); icon != "" {
			b, err := base64.StdEncoding.DecodeString(icon)
			if err != nil {
				t.Errorf("%s: <icon> of %s is not base64: %v", what, r, err)
			}
			m[r+" icon sha256"] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		for _, d := range o.DriveMappings {
			m[r+" drive "+d.Name] = d.Dev
		}
		for _, mp := range o.Mountpoints {
			m[r+" mountpoint "+mp.Path] = mp.Dev
		}
		for _, f := range o.Filesystems {
			m[r+" filesystem "+f.Dev+" present"] = "yes"
			m[r+" filesystem "+f.Dev+" type"] = f.Type
			m[r+" filesystem "+f.Dev+" label"] = f.Label
			m[r+" filesystem "+f.Dev+" uuid"] = f.UUID
		}
		// One name can be installed more than once (rpm keeps every
		// kernel, multilib has one per arch): such entries are keyed
		// NAME#1, NAME#2... in the order of arch, epoch, version and
		// release, so the two documents' order does not matter.
		apps := o.Applications
		sort.SliceStable(apps, func(i, j int) bool {
			a, b := apps[i], apps[j]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return a.Arch+"|"+a.Epoch+"|"+a.Version+"|"+a.Release < b.Arch+"|"+b.Epoch+"|"+b.Version+"|"+b.Release
		})
		for i, a := range apps {
			name := a.Name
			if n := lgSameName(apps, i); n > 0 {
				name = fmt.Sprintf("%s#%d", a.Name, n)
			}
			p := r + " application " + name + " "
			m[p+"present"] = "yes"
			m[p+"epoch"] = a.Epoch
			m[p+"version"] = a.Version
			m[p+"release"] = a.Release
			m[p+"arch"] = a.Arch
			m[p+"display_name"] = a.DisplayName
			m[p+"install_path"] = a.InstallPath
			m[p+"publisher"] = a.Publisher
			m[p+"url"] = a.URL
			m[p+"summary"] = a.Summary
			m[p+"description"] = a.Description
		}
	}
	return m
}

// lgSameName is 0 when apps[i] is the only one of its name in the sorted
// list, else its 1-based rank among those of its name.
func lgSameName(apps []lgApp, i int) int {
	first, last := i, i
	for first > 0 && apps[first-1].Name == apps[i].Name {
		first--
	}
	for last+1 < len(apps) && apps[last+1].Name == apps[i].Name {
		last++
	}
	if first == last {
		return 0
	}
	return i - first + 1
}

// lgAllowance is one known, explained difference: on guest Guest, for
// keys matching Key (filepath.Match), libguestfs says LG and we say Ours
// (Match decides when LG/Ours vary per key).
type lgAllowance struct {
	Guest, Key string
	LG, Ours   string
	Match      func(lg, ours string) bool
	Why        string
	Sometimes  bool // libguestfs shows this difference in some runs only
}

var lgAllowed = []lgAllowance{
	{Guest: "debian12", Key: "/dev/sda2 filesystem /dev/sdb1 present", LG: "yes", Ours: "",
		Why: "fstab names /dev/sdb1 (swap), a device this one-disk guest does not have; libguestfs lists it as an " +
			"empty filesystem element in some runs (not in others: seen with the same image), we list only " +
			"filesystems we found", Sometimes: true},
	{Guest: "debian12", Key: "/dev/sda2 application halfdone-pkg *", Match: lgAnyVsMissing,
		Why: "libguestfs lists every dpkg status entry whose Status contains \"installed\", so also " +
			"\"install ok half-installed\"; dpkg does not count it as installed and neither do we"},
	{Guest: "ubuntu2204", Key: "/dev/sda1 application halfdone-pkg *", Match: lgAnyVsMissing,
		Why: "as for debian12: a half-installed package is not installed"},
	{Guest: "debian12", Key: "/dev/sda2 application * description", Match: lgDpkgParagraph,
		Why: "dpkg's long description marks an empty line with \" .\"; libguestfs keeps the dot, we give " +
			"the empty line it stands for (deb-control(5))"},
	{Guest: "ubuntu2204", Key: "/dev/sda1 application * description", Match: lgDpkgParagraph,
		Why: "as for debian12: \" .\" is an empty line of the description"},
	{Guest: "fedora40", Key: "/dev/sda3 application * url", LG: "(none)", Ours: "",
		Why: "libguestfs prints rpm's placeholder \"(none)\" for a package without URL; we leave it out"},
	{Guest: "centos7", Key: "/dev/sda2 application * url", LG: "(none)", Ours: "",
		Why: "as for fedora40: rpm's \"(none)\" placeholder for a package without URL"},
	{Guest: "win2k19", Key: "/dev/sda1 hostname", LG: "", Ours: "WIN2K19-SRV",
		Why: "the guest has no Tcpip\\Parameters\\Hostname; libguestfs reads only that value " +
			"(get_hostname in daemon/inspect_fs_windows.ml), we fall back to " +
			"Control\\ComputerName\\ComputerName, the computer's NetBIOS name"},
	{Guest: "fedora40", Key: "/dev/sda3 application gpg-pubkey *", Match: lgAnyVsMissing,
		Why: "libguestfs (1.48, librpm) lists every header in the rpm database, so also the gpg-pubkey " +
			"pseudo-package rpm --import records for a signing key (arch \"(none)\", no files); a key is " +
			"not installed software and we skip it"},
	{Guest: "centos7", Key: "/dev/sda2 application gpg-pubkey *", Match: lgAnyVsMissing,
		Why: "as for fedora40: libguestfs lists the signing key rpm --import recorded, we skip it"},
	{Guest: "fedora40btrfs", Key: "btrfsvol:/dev/sda3/root application * url", LG: "(none)", Ours: "",
		Why: "as for fedora40: rpm's \"(none)\" placeholder for a package without URL"},
	{Guest: "fedora40btrfs", Key: "btrfsvol:/dev/sda3/root application gpg-pubkey *", Match: lgAnyVsMissing,
		Why: "as for fedora40: libguestfs lists the signing key rpm --import recorded, we skip it"},
}

func lgAnyVsMissing(lg, ours string) bool { return ours == "" }

// lgDpkgParagraph: the same description once libguestfs' " ." lines
// (kept as ".") are read as the empty lines they stand for.
func lgDpkgParagraph(lg, ours string) bool {
	lines := strings.Split(lg, "\n")
	for i, l := range lines {
		if l == "." {
			lines[i] = ""
		}
	}
	return lg != ours && strings.Join(lines, "\n") == ours
}

// lgCompare returns the differences between libguestfs' facts and ours
// that no allowance of the list explains, and marks the allowances used
// (by their index in the list).
func lgCompare(allowed []lgAllowance, guest string, lg, ours map[string]string, used map[int]bool) []string {
	keys := map[string]bool{}
	for k := range lg {
		keys[k] = true
	}
	for k := range ours {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		l, o := lg[k], ours[k]
		if l == o {
			continue
		}
		ok := false
		for i, a := range allowed {
			if a.Guest != guest {
				continue
			}
			if m, _ := filepath.Match(a.Key, k); !m {
				continue
			}
			if (a.Match != nil && a.Match(l, o)) || (a.Match == nil && a.LG == l && a.Ours == o) {
				ok = true
				used[i] = true
				break
			}
		}
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: libguestfs %q, ours %q", k, l, o))
		}
	}
	sort.Strings(diffs)
	return diffs
}

var lgGuests = []string{"debian12", "ubuntu2204", "alpine319", "arch", "fedora40", "fedora40btrfs", "freebsd13", "centos7", "win10", "win2k19"}

// lgNoOracle are the guests libguestfs cannot read, with the reason: they
// are still in the schema and raw-vs-xz tests.
var lgNoOracle = map[string]string{
	"freebsd13": "Debian's makefs puts the UFS2 superblock at 8 KiB (FreeBSD accepts it); Linux's ufs " +
		"driver looks only at 64 KiB, so libguestfs' appliance cannot mount the root",
}

// guestSkip is why guests.sh did not build guest g (its GUEST.skip file:
// fedora40btrfs needs root and a loop mount), "" when it did.
func guestSkip(dir, g string) string {
	b, err := os.ReadFile(filepath.Join(dir, g+".skip"))
	if err != nil {
		return ""
	}
	return "guests.sh did not build " + g + ": " + strings.TrimSpace(string(b))
}

// windowsGuests are built by testimages/windows.sh, the others by
// guests.sh.
var windowsGuests = map[string]bool{"win10": true, "win2k19": true}

// buildWindowsGuests runs testimages/windows.sh into dir. skip says why
// it cannot run here (a tool missing), err that it failed.
func buildWindowsGuests(root, dir string) (skip string, err error) {
	for _, tool := range []string{"hivexregedit", "hivexget", "mkntfs", "file", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + tool); err2 != nil {
				return tool + " not found (Debian libwin-hivex-perl, libhivex-bin, ntfs-3g, file, util-linux)", nil
			}
		}
	}
	if os.Getenv("MKNTFSTREE") == "" {
		if _, err := exec.LookPath("gcc"); err != nil {
			return "gcc not found, to build testimages/ntfs/mkntfstree.c (or set MKNTFSTREE)", nil
		}
		if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
			return "libntfs-3g headers not found (Debian ntfs-3g-dev), to build mkntfstree (or set MKNTFSTREE)", nil
		}
	}
	cmd := exec.Command("bash", filepath.Join(root, "testimages/windows.sh"), dir)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("windows.sh: %v\n%s", err, out)
	}
	return "", nil
}

// lgParallel caps the libguestfs appliances running at once: each takes
// about 0.9 GB and, under TCG, a core; more than the machine's cores only
// makes each one slower.
const lgParallel = 3

// lgGuestsDir builds our binary and the phony guests into a directory of
// the test's own. winSkip, when not "", says why the Windows guests
// could not be built.
func lgGuestsDir(t *testing.T) (bin, dir, winSkip string) {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "sfdisk", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (Debian e2fsprogs, fdisk, xz-utils)", tool)
		}
	}
	dir = t.TempDir()
	root, bin := lgBinary(t, dir)
	if out, err := exec.Command("bash", filepath.Join(root, "testimages/guests.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("guests.sh: %v\n%s", err, out)
	}
	winSkip, err := buildWindowsGuests(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin, dir, winSkip
}

// lgBinary builds our virt-inspector into dir; root is the module's.
func lgBinary(t *testing.T, dir string) (root, bin string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "virt-inspector")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/virt-inspector")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return root, bin
}

// TestLibguestfsOracle runs libguestfs' virt-inspector and ours on each
// phony guest (lgParallel appliances at a time, about 0.9 GB each) and
// compares every fact both report, per application too.
func TestLibguestfsOracle(t *testing.T) {
	env := lgSetup(t)
	t.Cleanup(func() {
		if lgKernelDir != "" {
			os.RemoveAll(lgKernelDir)
		}
	})
	bin, dir, winSkip := lgGuestsDir(t)
	luks := lgLUKSBuild(t, dir)
	rng := lgRNG(t)
	xmllint, _ := exec.LookPath("xmllint")

	lgOut := make([][]byte, len(lgGuests))
	lgErrs := make([]error, len(lgGuests))
	var wg sync.WaitGroup
	sem := make(chan struct{}, lgParallel)
	start := time.Now()
	// libguestfs is flaky on the btrfs guest when other appliances run
	// beside it: in loaded runs it listed no applications, or found no
	// OS, where runs on their own list all 202. So that guest runs after
	// the others, alone, with up to three tries; every failed try is
	// logged with what libguestfs said.
	run := func(i int, g string, tries int) {
		for attempt := 1; ; attempt++ {
			out, errb, err := lgRun(env, filepath.Join(dir, g+".img"))
			lgOut[i], lgErrs[i] = out, nil
			if err != nil {
				lgErrs[i] = fmt.Errorf("libguestfs virt-inspector on %s: %v\n%s", g, err, lastLines(errb, 15))
			}
			if err == nil && (bytes.Contains(out, []byte("<application>")) || !lgHasPackages(dir, g)) {
				return
			}
			if attempt >= tries {
				return
			}
			t.Logf("%s: libguestfs try %d found no applications (or failed: %v); trying again. Its stderr:\n%s", g, attempt, err, lastLines(errb, 15))
		}
	}
	var alone []int
	for i, g := range lgGuests {
		if (windowsGuests[g] && winSkip != "") || guestSkip(dir, g) != "" || lgNoOracle[g] != "" {
			continue
		}
		if strings.Contains(g, "btrfs") {
			alone = append(alone, i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			run(i, g, 2)
		}()
	}
	luks.start(env, &wg, sem)
	wg.Wait()
	for _, i := range alone {
		run(i, lgGuests[i], 3)
	}
	t.Logf("libguestfs' virt-inspector on %d guests, %d at a time: %v", len(lgGuests), lgParallel, time.Since(start).Round(time.Second))

	used := map[int]bool{}
	for i, g := range lgGuests {
		t.Run(g, func(t *testing.T) {
			if windowsGuests[g] && winSkip != "" {
				t.Skip(winSkip)
			}
			if why := guestSkip(dir, g); why != "" {
				t.Skip(why)
			}
			if why := lgNoOracle[g]; why != "" {
				t.Skip(why)
			}
			if lgErrs[i] != nil {
				t.Fatal(lgErrs[i])
			}
			ours, err := exec.Command(bin, "-q", "--xml", "-a", filepath.Join(dir, g+".img")).Output()
			if err != nil {
				t.Fatalf("our virt-inspector on %s: %v", g, err)
			}
			lg := lgFacts(t, "libguestfs", lgOut[i])
			our := lgFacts(t, "ours", ours)
			apps := 0
			for k := range lg {
				if strings.Contains(k, " application ") && strings.HasSuffix(k, " present") {
					apps++
				}
			}
			if apps == 0 {
				t.Errorf("libguestfs found no applications: the comparison would prove nothing")
			}
			for _, d := range lgCompare(lgAllowed, g, lg, our, used) {
				t.Error(d)
			}
			if rng != "" && xmllint != "" {
				for who, data := range map[string][]byte{"ours": ours, "libguestfs": lgOut[i]} {
					if err := lgValidate(t, xmllint, rng, data); err != nil {
						t.Errorf("%s' XML does not validate against virt-inspector.rng: %v", who, err)
					}
				}
			}
		})
	}
	luksUsed := map[int]bool{}
	t.Run("luks", func(t *testing.T) { luks.check(t, bin, rng, xmllint, luksUsed) })
	for i, a := range lgAllowed {
		if !used[i] && !a.Sometimes && !t.Failed() && !(windowsGuests[a.Guest] && winSkip != "") {
			t.Errorf("allowance %q on %s matched nothing: libguestfs or we changed, remove it (%s)", a.Key, a.Guest, a.Why)
		}
	}
	for i, a := range lgLUKSAllowed {
		if !luksUsed[i] && !a.Sometimes && !t.Failed() && luks.skip == "" {
			t.Errorf("allowance %q on the encrypted guests matched nothing: libguestfs or we changed, remove it (%s)", a.Key, a.Why)
		}
	}
}

// lgRun runs libguestfs' virt-inspector on one raw image.
func lgRun(env []string, img string) (stdout, stderr []byte, err error) {
	return lgRunArgs(env, "", "--format=raw", "-a", img)
}

// lgRunArgs runs libguestfs' virt-inspector with the arguments and stdin.
// It runs in a session of its own, without a controlling terminal: asked
// for a key it has not been given, it opens /dev/tty, which must fail, not
// wait for someone at the terminal that runs the tests.
func lgRunArgs(env []string, stdin string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "virt-inspector", args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// lgHasPackages reports whether the guest's .facts file counts packages.
func lgHasPackages(dir, g string) bool {
	b, err := os.ReadFile(filepath.Join(dir, g+".facts"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "packages="); ok && n != "0" {
			return true
		}
	}
	return false
}

// TestInspectorSchema validates our XML for every phony guest against
// libguestfs' virt-inspector.rng with xmllint; it needs no appliance.
func TestInspectorSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not found (Debian libxml2-utils)")
	}
	rng := lgRNG(t)
	if rng == "" {
		t.Skip("virt-inspector.rng not found (Debian guestfs-tools; or set VIRT_INSPECTOR_RNG)")
	}
	bin, dir, winSkip := lgGuestsDir(t)
	for _, g := range lgGuests {
		t.Run(g, func(t *testing.T) {
			if windowsGuests[g] && winSkip != "" {
				t.Skip(winSkip)
			}
			if why := guestSkip(dir, g); why != "" {
				t.Skip(why)
			}
			for _, args := range [][]string{{"-a", g + ".img"}, {"--no-applications", "-a", g + ".img"}, {"--format", "xz", "-a", g + ".img.xz"}} {
				cmd := exec.Command(bin, append([]string{"-q", "--xml"}, args...)...)
				cmd.Dir = dir
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("virt-inspector %v: %v", args, err)
				}
				if err := lgValidate(t, xmllint, rng, out); err != nil {
					t.Errorf("virt-inspector %v: %v", args, err)
				}
			}
		})
	}
}

func lgValidate(t *testing.T, xmllint, rng string, data []byte) error {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(xmllint, "--noout", "--relaxng", rng, f.Name()).CombinedOutput(); err != nil {
		return fmt.Errorf("xmllint: %v\n%s", err, out)
	}
	return nil
}

// lgRNG finds virt-inspector.rng ($VIRT_INSPECTOR_RNG, or Debian
// guestfs-tools' gzip'ed copy, unpacked into a temp dir); "" if none.
func lgRNG(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VIRT_INSPECTOR_RNG"),
		"/usr/share/doc/guestfs-tools/virt-inspector.rng",
		"/usr/share/doc/guestfs-tools/virt-inspector.rng.gz",
		"/usr/share/doc/libguestfs-tools/virt-inspector.rng",
		"/usr/share/doc/libguestfs-tools/virt-inspector.rng.gz"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if !strings.HasSuffix(p, ".gz") {
			return p
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out := filepath.Join(t.TempDir(), "virt-inspector.rng")
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return ""
}
