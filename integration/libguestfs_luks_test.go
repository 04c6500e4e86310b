package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The encrypted guests in the libguestfs oracle: testimages/luksguests.sh
// makes debian12luks (LUKS2 argon2id, LVM inside), ubuntu2204luks (LUKS1
// pbkdf2 cbc-essiv, LVM inside) and fedora40luks (LUKS2, ext4 inside).
// They are inspected together, as one guest of three disks, so that each
// libguestfs run (an appliance boot: a minute or more under TCG) covers
// all three; the containers are then /dev/sda2, /dev/sdb2 and /dev/sdc3,
// and libguestfs asks for their keys in that order. Three runs:
//
//   - keys-from-stdin: one passphrase per line;
//   - key: --key DEVICE:key:PASSPHRASE, --key DEVICE:file:FILE and --key
//     UUID:key:PASSPHRASE (the forms libguestfs 1.48 takes);
//   - no key: libguestfs reports no OS: it asks for the key of each
//     container it finds (on /dev/tty without --keys-from-stdin), and with
//     no terminal stops at the first, "could not read key from user", exit
//     1. Ours finds no OS either, names each locked container with its
//     UUID and exits 1 (cmd/virt-inspector/doc.go).
//
// With a key both must report the same facts, allowed differences in
// lgLUKSAllowed with their reasons. A wrong key (ours only: libguestfs
// stops at the first container it cannot open) is an error for that
// container only, the two other guests found as with the right keys. No
// output of ours ever holds a passphrase.

// lgLUKSGuests in disk order.
var lgLUKSGuests = []string{"debian12luks", "ubuntu2204luks", "fedora40luks"}

// lgLUKSAllowed are the differences libguestfs and we show on the
// encrypted guests: the same as on the guests they are made from.
var lgLUKSAllowed = []lgAllowance{
	{Guest: "luks", Key: "/dev/debian-vg/root application halfdone-pkg *", Match: lgAnyVsMissing,
		Why: "as for debian12: a half-installed package is not installed"},
	{Guest: "luks", Key: "/dev/vgubuntu/root application halfdone-pkg *", Match: lgAnyVsMissing,
		Why: "as for debian12: a half-installed package is not installed"},
	{Guest: "luks", Key: "/dev/debian-vg/root application * description", Match: lgDpkgParagraph,
		Why: "as for debian12: \" .\" is an empty line of the description"},
	{Guest: "luks", Key: "/dev/vgubuntu/root application * description", Match: lgDpkgParagraph,
		Why: "as for debian12: \" .\" is an empty line of the description"},
	{Guest: "luks", Key: "/dev/mapper/luks-* application * url", LG: "(none)", Ours: "",
		Why: "as for fedora40: rpm's \"(none)\" placeholder for a package without URL"},
	{Guest: "luks", Key: "/dev/mapper/luks-* application gpg-pubkey *", Match: lgAnyVsMissing,
		Why: "as for fedora40: libguestfs lists the signing key rpm --import recorded, we skip it"},
}

// lgLUKSGuest is one encrypted guest as its .facts file describes it,
// its container renamed for the disk it is in the run.
type lgLUKSGuest struct {
	name, img       string
	pass, uuid, dev string
	root, why       string // why: luksguests.sh did not build it
}

type lgLUKSRun struct {
	name  string
	args  []string // for both programs, before the -a options
	stdin string
	out   []byte // libguestfs' stdout, stderr and error
	errb  []byte
	err   error
}

type lgLUKS struct {
	skip   string // why the encrypted guests are not compared
	guests []lgLUKSGuest
	runs   []*lgLUKSRun
	disks  []string // -a IMG for each guest
}

// lgLUKSBuild runs testimages/luksguests.sh into dir, where guests.sh
// has built the guests it starts from.
func lgLUKSBuild(t *testing.T, dir string) *lgLUKS {
	t.Helper()
	l := &lgLUKS{}
	for _, tool := range []string{"cryptsetup", "qemu-img", "debugfs", "mkswap"} {
		if _, err := exec.LookPath(tool); err != nil {
			l.skip = tool + " not found (Debian cryptsetup-bin, qemu-utils, e2fsprogs, util-linux)"
			return l
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", filepath.Join(root, "testimages/luksguests.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("luksguests.sh: %v\n%s", err, out)
	}
	for i, g := range lgLUKSGuests {
		lg := lgLUKSGuest{name: g, img: filepath.Join(dir, g+".img"), why: guestSkip(dir, g)}
		if lg.why != "" {
			l.skip = lg.why
			return l
		}
		b, err := os.ReadFile(filepath.Join(dir, g+".facts"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "passphrase":
				lg.pass = v
			case "luks_uuid":
				lg.uuid = v
			case "luks_device":
				lg.dev = lgOnDisk(v, i)
			case "root":
				lg.root = lgOnDisk(v, i)
			}
		}
		if lg.pass == "" || lg.uuid == "" || lg.dev == "" || lg.root == "" {
			t.Fatalf("%s.facts: no passphrase, luks_uuid, luks_device or root:\n%s", g, b)
		}
		l.guests = append(l.guests, lg)
		l.disks = append(l.disks, "-a", lg.img)
	}
	keyFile := filepath.Join(dir, "luks-key-2")
	if err := os.WriteFile(keyFile, []byte(l.guests[1].pass), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	for _, g := range l.guests {
		stdin.WriteString(g.pass + "\n")
	}
	l.runs = []*lgLUKSRun{
		{name: "keys-from-stdin", args: []string{"--keys-from-stdin"}, stdin: stdin.String()},
		{name: "key", args: []string{
			"--key", l.guests[0].dev + ":key:" + l.guests[0].pass,
			"--key", l.guests[1].dev + ":file:" + keyFile,
			"--key", l.guests[2].uuid + ":key:" + l.guests[2].pass}},
		{name: "no-key"},
	}
	return l
}

// lgOnDisk renames a device of a one-disk guest (/dev/sdaN) for the
// disk it is in the run (the i-th, from 0).
func lgOnDisk(dev string, i int) string {
	if rest, ok := strings.CutPrefix(dev, "/dev/sda"); ok {
		return "/dev/sd" + string(rune('a'+i)) + rest
	}
	return dev
}

// start runs libguestfs for each run, at most lgParallel appliances at
// once with the other guests' (sem).
func (l *lgLUKS) start(env []string, wg *sync.WaitGroup, sem chan struct{}) {
	if l.skip != "" {
		return
	}
	for _, r := range l.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			args := append(append([]string{"--format=raw"}, r.args...), l.disks...)
			r.out, r.errb, r.err = lgRunArgs(env, r.stdin, args...)
		}()
	}
}

// ours runs our virt-inspector with the arguments and stdin; code is its
// exit status.
func (l *lgLUKS) ours(t *testing.T, bin, stdin string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"--xml"}, args...), l.disks...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var x *exec.ExitError
	if errors.As(err, &x) {
		code = x.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	l.noSecret(t, "our virt-inspector "+strings.Join(args, " "), out.Bytes(), errb.Bytes())
	return out.Bytes(), errb.Bytes(), code
}

// noSecret fails the test if any output holds a passphrase (the wrong one
// the wrong-key run gives too).
func (l *lgLUKS) noSecret(t *testing.T, what string, outs ...[]byte) {
	t.Helper()
	for _, g := range l.guests {
		for _, s := range []string{g.pass, lgWrong(g.pass)} {
			for _, o := range outs {
				if bytes.Contains(o, []byte(s)) {
					t.Errorf("%s: the output holds a passphrase (%s's)", what, g.name)
				}
			}
		}
	}
}

func lgWrong(pass string) string { return "not " + pass }

// check compares each run's results with ours (our XML validated against
// rng with xmllint when both are given), and runs ours with a wrong key.
func (l *lgLUKS) check(t *testing.T, bin, rng, xmllint string, used map[int]bool) {
	if l.skip != "" {
		t.Skip(l.skip)
	}
	var keyed map[string]string // our facts with the keys
	for _, r := range l.runs {
		t.Run(r.name, func(t *testing.T) {
			out, errb, code := l.ours(t, bin, r.stdin, append([]string{"-q"}, r.args...)...)
			if r.name == "no-key" {
				l.checkLocked(t, r, out, errb, code)
				return
			}
			if r.err != nil {
				t.Fatalf("libguestfs virt-inspector %s: %v\n%s", r.name, r.err, lastLines(r.errb, 15))
			}
			if code != 0 {
				t.Fatalf("our virt-inspector %s: exit %d\n%s", r.name, code, errb)
			}
			lg := lgFacts(t, "libguestfs", r.out)
			ours := lgFacts(t, "ours", out)
			for _, g := range l.guests {
				if lg[g.root+" distro"] == "" || lg[g.root+" application pkg0001 present"] == "" && lg[g.root+" application basesystem present"] == "" {
					t.Errorf("libguestfs did not find %s's OS with its applications at %s: the comparison would prove less", g.name, g.root)
				}
			}
			for _, d := range lgCompare(lgLUKSAllowed, "luks", lg, ours, used) {
				t.Error(d)
			}
			if rng != "" && xmllint != "" {
				if err := lgValidate(t, xmllint, rng, out); err != nil {
					t.Errorf("our XML does not validate against virt-inspector.rng: %v", err)
				}
			}
			if keyed == nil {
				keyed = ours
			}
		})
	}
	t.Run("wrong-key", func(t *testing.T) {
		if keyed == nil {
			t.Skip("no keyed run of ours to compare with")
		}
		// The first container's key is wrong: it stays locked, said on
		// stderr with exit status 4; the two other guests are found as
		// with every key right.
		first := l.guests[0]
		args := []string{"-v", "--key", first.dev + ":key:" + lgWrong(first.pass)}
		for _, g := range l.guests[1:] {
			args = append(args, "--key", g.dev+":key:"+g.pass)
		}
		out, errb, code := l.ours(t, bin, "", args...)
		if code != 4 {
			t.Errorf("exit %d, want 4 (some devices could not be read)\n%s", code, errb)
		}
		want := first.dev + ": encrypted volume (LUKS " + first.uuid + "): LUKS container: locked: "
		if !bytes.Contains(errb, []byte(want)) || !bytes.Contains(errb, []byte("wrong passphrase")) {
			t.Errorf("stderr does not say %q... wrong passphrase:\n%s", want, errb)
		}
		for _, g := range l.guests[1:] {
			if bytes.Contains(errb, []byte(g.dev+": encrypted volume")) {
				t.Errorf("stderr names %s, whose key was right:\n%s", g.dev, errb)
			}
		}
		got := lgFacts(t, "ours, a wrong key for "+first.dev, out)
		for k, v := range keyed {
			if strings.HasPrefix(k, first.root+" ") {
				if got[k] != "" {
					t.Errorf("%s: %q with the wrong key", k, got[k])
				}
				continue
			}
			if got[k] != v {
				t.Errorf("%s: %q with %s's key wrong, %q with every key right", k, got[k], first.dev, v)
			}
		}
	})
}

// checkLocked: without a key libguestfs finds no operating system, ours
// neither, and names each locked container, exit status 1.
func (l *lgLUKS) checkLocked(t *testing.T, r *lgLUKSRun, out, errb []byte, code int) {
	t.Helper()
	t.Logf("libguestfs without a key: %v; its stderr ends:\n%s", r.err, lastLines(r.errb, 5))
	if r.err == nil {
		t.Errorf("libguestfs without a key did not fail (it did, asking for a key, in 1.48):\n%s", r.out)
	}
	if bytes.Contains(r.out, []byte("<operatingsystem>")) {
		t.Errorf("libguestfs found an operating system without the keys:\n%s", r.out)
	}
	if code != 1 {
		t.Errorf("ours: exit %d, want 1 (no operating system found)\n%s", code, errb)
	}
	if bytes.Contains(out, []byte("<operatingsystem>")) {
		t.Errorf("ours found an operating system without the keys:\n%s", out)
	}
	if !bytes.Contains(errb, []byte("no operating system was found")) {
		t.Errorf("ours does not say no operating system was found:\n%s", errb)
	}
	for _, g := range l.guests {
		want := fmt.Sprintf("%s: encrypted volume (LUKS %s): LUKS container: locked (no key given)", g.dev, g.uuid)
		if !bytes.Contains(errb, []byte(want)) {
			t.Errorf("ours does not say %q:\n%s", want, errb)
		}
	}
}

// TestLUKSGuestsFacts inspects each encrypted guest of luksguests.sh on
// its own, unlocked with --keys-from-stdin and with --key, and checks what
// ours finds against the .facts the script wrote (no appliance needed:
// this runs where libguestfs does not).
func TestLUKSGuestsFacts(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "sfdisk", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (Debian e2fsprogs, fdisk, xz-utils)", tool)
		}
	}
	dir := t.TempDir()
	root, bin := lgBinary(t, dir)
	if out, err := exec.Command("bash", filepath.Join(root, "testimages/guests.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("guests.sh: %v\n%s", err, out)
	}
	l := lgLUKSBuild(t, dir)
	if l.skip != "" {
		t.Skip(l.skip)
	}
	for _, g := range l.guests {
		// Alone, the guest's disk is /dev/sda: its own facts' names.
		facts := readGuestFacts(t, filepath.Join(dir, g.name+".facts"))
		dev := facts["luks_device"][0]
		for _, c := range []struct {
			name  string
			args  []string
			stdin string
		}{
			{"keys-from-stdin", []string{"--keys-from-stdin"}, g.pass + "\n"},
			{"key", []string{"--key", dev + ":key:" + g.pass}, ""},
		} {
			t.Run(g.name+"/"+c.name, func(t *testing.T) {
				cmd := exec.Command(bin, append(append([]string{"-q", "--json"}, c.args...), "-a", g.img)...)
				cmd.Stdin = strings.NewReader(c.stdin)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					t.Fatalf("virt-inspector: %v\n%s", err, errb.String())
				}
				l.noSecret(t, "virt-inspector "+c.name, out.Bytes(), errb.Bytes())
				var doc struct {
					OS []struct {
						Root, Distro, Hostname, OSInfo string
						ProductName                    string `json:"product_name"`
						Major                          int    `json:"major_version"`
						Minor                          int    `json:"minor_version"`
						Mountpoints                    []struct{ Device, Mountpoint string }
						Applications                   []json.RawMessage
					} `json:"operatingsystems"`
				}
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Fatalf("JSON: %v\n%s", err, out.String())
				}
				if len(doc.OS) != 1 {
					t.Fatalf("%d operating systems found, want 1:\n%s", len(doc.OS), out.String())
				}
				o := doc.OS[0]
				mounts := []string{"/ " + o.Root}
				var got []string
				for _, m := range o.Mountpoints {
					got = append(got, m.Mountpoint+" "+m.Device)
				}
				mounts = append(mounts, facts["mount"]...)
				slices.Sort(mounts)
				slices.Sort(got)
				for k, v := range map[string]string{"root": o.Root, "distro": o.Distro, "hostname": o.Hostname,
					"osinfo": o.OSInfo, "product_name": o.ProductName, "major": strconv.Itoa(o.Major),
					"minor": strconv.Itoa(o.Minor), "packages": strconv.Itoa(len(o.Applications))} {
					if w := facts[k]; len(w) != 1 || w[0] != v {
						t.Errorf("%s = %q, luksguests.sh wrote %q", k, v, w)
					}
				}
				if !slices.Equal(got, mounts) {
					t.Errorf("mountpoints %q, luksguests.sh wrote %q", got, mounts)
				}
			})
		}
	}
}

// readGuestFacts reads a GUEST.facts file: KEY -> its values in order.
func readGuestFacts(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}
