package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const luksPass = "Tr0ub4dor&3"

// luksDisk builds a GPT disk whose second partition is a LUKS container
// holding an ext4 (4 KiB blocks) of a small Linux-like tree. The
// container is made by testimages/luks.sh: cryptsetup's header, the payload
// written by an encryptor other than ours (qemu's luks driver for LUKS1,
// cryptsetup's own offline encryption, reencrypt --encrypt, for LUKS2). It
// returns the disk, the plaintext filesystem (for The Sleuth Kit) and the
// disk offset of the filesystem's first byte (the partition's start plus
// the payload offset luksDump gives).
func luksDisk(t *testing.T, dir, version string) (disk, plain string, fsOff int64) {
	t.Helper()
	testutil.NeedTools(t, "cryptsetup", "qemu-img", "mkfs.ext4", "sfdisk", "fls", "istat")
	src := filepath.Join(dir, "tree")
	for name, body := range map[string]string{
		"etc/os-release": "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		"etc/hostname":   "vault\n",
		"etc/fstab":      "/dev/mapper/luks-root / ext4 defaults 0 1\n",
		"bin/bash":       "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 9) + "\x02\x00\x3e\x00" + strings.Repeat("b", 3000),
		"etc/hosts":      "127.0.0.1 localhost\n",
		"home/alice/big": strings.Repeat("alice's data ", 40000),
	} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plain = filepath.Join(dir, "plain.ext4")
	const fsSize = 8 << 20
	testutil.Run(t, "", "truncate", "-s", strconv.Itoa(fsSize), plain)
	testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-b", "4096", "-d", src, plain)

	// testimages/luks.sh writes the ciphertext with qemu's luks driver
	// (LUKS1) or cryptsetup's offline encryption (LUKS2) and prints the
	// payload offset.
	container := filepath.Join(dir, "container")
	args := []string{"../testimages/luks.sh", version, plain, container, "-c", "aes-xts-plain64",
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	if version == "luks1" {
		args = append(args, "-s", "512")
	} else {
		args = append(args, "--sector-size", "4096")
	}
	out := strings.Fields(testutil.Run(t, luksPass+"\n", "bash", args...))
	if len(out) == 0 {
		t.Fatal("luks.sh printed no payload offset")
	}
	payload, err := strconv.ParseInt(out[len(out)-1], 10, 64)
	if err != nil {
		t.Fatalf("luks.sh: payload offset: %v", err)
	}

	st, err := os.Stat(container)
	if err != nil {
		t.Fatal(err)
	}
	disk = filepath.Join(dir, "disk.img")
	const p2 = 4 << 20 // partition 2 at 4 MiB
	testutil.Run(t, "", "truncate", "-s", strconv.FormatInt(p2+st.Size()+1<<20, 10), disk)
	testutil.Run(t, fmt.Sprintf("label: gpt\nstart=2048, size=4096, type=L\nstart=%d, size=%d, type=L\n", p2/512, st.Size()/512),
		"sfdisk", "-q", disk)
	c, _ := os.ReadFile(container)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(c, p2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return disk, plain, p2 + payload
}

// TestLUKS maps a LUKS1 and a LUKS2 container with the key, and checks
// every file's blocks against The Sleuth Kit on the plaintext filesystem,
// placed at the ciphertext's offsets; without the key the container is
// mapped with its header and said to be locked; a wrong key is an error for
// that volume only; virt-inspector finds the OS inside; no output holds the
// passphrase.
func TestLUKS(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "virt-bmap")
	ins := filepath.Join(dir, "virt-inspector")
	for _, b := range [][2]string{{bin, "../cmd/virt-bmap"}, {ins, "../cmd/virt-inspector"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	for _, version := range []string{"luks1", "luks2"} {
		t.Run(version, func(t *testing.T) {
			vdir := filepath.Join(dir, version)
			os.MkdirAll(vdir, 0o755)
			disk, plain, fsOff := luksDisk(t, vdir, version)
			m, stderr, code := runJSONMap(t, bin, "-q", "--key", "/dev/sda2:key:"+luksPass, "-o", filepath.Join(vdir, "m.json"), disk)
			if code != 0 {
				t.Fatalf("with the key: exit %d\n%s", code, stderr)
			}
			var dev string
			for _, v := range m.Volumes {
				if strings.HasPrefix(v.Device, "/dev/mapper/luks-") {
					dev = v.Device
					if v.FS != "ext4" || v.Status != "complete" {
						t.Errorf("volume %+v", v)
					}
				}
			}
			if dev == "" {
				t.Fatalf("no /dev/mapper/luks-* volume: %+v", m.Volumes)
			}
			ents, err := fls(plain, 0)
			if err != nil {
				t.Fatal(err)
			}
			var inodes []uint64
			for _, e := range ents {
				inodes = append(inodes, e.Inode)
			}
			ist, err := istatAll(plain, 0, inodes, 2)
			if err != nil {
				t.Fatal(err)
			}
			ours := map[string][]int64{}
			for _, o := range m.Objects {
				if o.Device != dev || o.Kind != bmap.KindFile && o.Kind != bmap.KindDir {
					continue
				}
				for _, e := range o.Extents {
					if e.Role == bmap.RoleData {
						for x := e.Off; x < e.End(); x += 4096 {
							ours[o.Path] = append(ours[o.Path], x)
						}
					}
				}
			}
			files := 0
			for _, e := range ents {
				if e.Type != "r/r" && e.Type != "d/d" {
					continue
				}
				var want []int64
				for _, b := range ist[e.Inode].Direct {
					want = append(want, fsOff+int64(b)*4096)
				}
				got := ours["/"+e.Path]
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: map has blocks at %v, istat at the ciphertext offsets %v", e.Path, first64(got), first64(want))
				}
				files++
			}
			if files < 8 {
				t.Errorf("only %d files and directories compared", files)
			}

			// A guest that unlocks the disk itself reads ciphertext: with
			// the key, bmaplogger names the file those sectors hold.
			var big flsEntry
			for _, e := range ents {
				if e.Path == "home/alice/big" {
					big = e
				}
			}
			blocks := ist[big.Inode].Direct
			if len(blocks) < 3 {
				t.Fatalf("home/alice/big: istat lists %d blocks", len(blocks))
			}
			off := fsOff + int64(blocks[2])*4096
			trace := filepath.Join(vdir, "t.ndjson")
			stdout, stderr, code := runLogger(t, "--key", "/dev/sda2:key:"+luksPass, "--json", trace, disk,
				"--run", fmt.Sprintf(`qemu-io -r -f raw -c 'read %d 4096' "$uri" >/dev/null`, off))
			if code != 0 || !strings.Contains(stdout, "read f "+dev+" /home/alice/big\n") || strings.Contains(stdout+stderr, luksPass) {
				t.Errorf("bmaplogger: exit %d, console %q, stderr %q", code, stdout, stderr)
			}
			_, evs := readNDJSONTrace(t, trace)
			found := false
			for _, ev := range evs {
				for _, o := range ev.Objects {
					found = found || ev.Off == off && o.Type == 'f' && o.Name() == "/home/alice/big" && o.FileOff == 2*4096
				}
			}
			if !found {
				t.Errorf("NDJSON: the read at %#x is not traced as /home/alice/big at file offset 8192", off)
			}

			// No key: the container's header and key slots are mapped as
			// metadata, the status is locked, the exit status 4.
			m, stderr, code = runJSONMap(t, bin, "-q", "-o", filepath.Join(vdir, "n.json"), disk)
			if code != 4 || !strings.Contains(stderr, "/dev/sda2 (crypto_LUKS): locked") {
				t.Errorf("without a key: exit %d, stderr %q", code, stderr)
			}
			var header bool
			for _, o := range m.Objects {
				header = header || o.Device == "/dev/sda2" && o.Kind == bmap.KindMeta && o.Path == "LUKS header"
			}
			if !header {
				t.Error("without a key: the LUKS header is not in the map")
			}
			// A wrong key: that volume only, and never printed.
			_, stderr, code = runJSONMap(t, bin, "-q", "--key", "all:key:not-"+luksPass, "-o", filepath.Join(vdir, "w.json"), disk)
			if code != 4 || !strings.Contains(stderr, "locked") || strings.Contains(stderr, luksPass) {
				t.Errorf("wrong key: exit %d, stderr %q", code, stderr)
			}
			// --keys-from-stdin, and the inspector finds the OS inside.
			cmd := exec.Command(ins, "--keys-from-stdin", "--json", "-a", disk)
			cmd.Stdin = strings.NewReader(luksPass + "\n")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"hostname": "vault"`) || !strings.Contains(string(out), `"root": "`+dev+`"`) ||
				strings.Contains(string(out), luksPass) {
				t.Errorf("virt-inspector --keys-from-stdin: %v\n%s", err, out)
			}
		})
	}
}

func first64(s []int64) []int64 { return s[:min(3, len(s))] }

// runJSONMap runs virt-bmap (whose arguments end with -o FILE.json and the
// images) and reads the JSON map it wrote.
func runJSONMap(t *testing.T, bin string, args ...string) (*jsonMap, string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if x, ok := err.(*exec.ExitError); ok {
		code = x.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var out string
	for i, a := range args {
		if a == "-o" {
			out = args[i+1]
		}
	}
	m := &jsonMap{}
	if b, err := os.ReadFile(out); err == nil {
		if err := json.Unmarshal(b, m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
	}
	return m, stderr.String(), code
}
