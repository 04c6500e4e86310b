package integration

// A Rocky-Linux-like guest on XFS: an MBR disk whose first partition is a
// version 4 XFS /boot (as CentOS 7 made it) and whose second is a version
// 5 XFS / (mkfs.xfs's default), both filled by mkfs.xfs from a protofile,
// without mounting. virt-inspector must find the root on XFS and resolve
// the fstab's UUIDs to both partitions; virt-bmap must map the XFS files
// where xfs_db says they are. The oracles are mkfs.xfs's inputs (the
// UUIDs given with -m uuid=, the files), sfdisk's partition offsets and
// xfs_db's bmap, never our own reading.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const (
	xfsRootUUID = "6f1c1e5a-7d2b-4c59-9a51-0e2f3b4c5d6e"
	xfsBootUUID = "0b8e2f7c-1a3d-4e5f-8a9b-c0d1e2f3a4b5"
)

// mkXFSFromTree makes an XFS image of size bytes at img, filled from the
// protofile text proto.
func mkXFSFromTree(t *testing.T, img, proto string, size int64, opts ...string) {
	t.Helper()
	pf := img + ".proto"
	if err := os.WriteFile(pf, []byte(proto), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-q", "-f", "-p", pf}, opts...)
	cmd := exec.Command("mkfs.xfs", append(args, img)...)
	// mkfs.xfs refuses filesystems under 300 MB unless run by fstests.
	cmd.Env = append(os.Environ(), "TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
}

func TestXFSGuest(t *testing.T) {
	testutil.NeedTools(t, "mkfs.xfs", "xfs_db", "sfdisk", "dd")
	dir := t.TempDir()
	w := func(p, s string) string {
		full := filepath.Join(dir, "src", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return full
	}
	osRelease := w("os-release", "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n")
	redhat := w("redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n")
	fstab := w("fstab", fmt.Sprintf("UUID=%s / xfs defaults 0 0\nUUID=%s /boot xfs defaults 0 0\n", xfsRootUUID, xfsBootUUID))
	hostname := w("hostname", "rocky-xfs.example.com\n")
	bash := w("bash", strings.Repeat("#!bash\n", 3000))
	kernel := w("vmlinuz", strings.Repeat("kernel", 50000))
	rootProto := fmt.Sprintf(`root
0 0
d--755 0 0
 etc d--755 0 0
  os-release ---644 0 0 %s
  redhat-release ---644 0 0 %s
  fstab ---644 0 0 %s
  hostname ---644 0 0 %s
  system-release l--777 0 0 redhat-release
 $
 usr d--755 0 0
  bin d--755 0 0
   bash ---755 0 0 %s
  $
 $
 bin l--777 0 0 usr/bin
 boot d--755 0 0
 $
$
`, osRelease, redhat, fstab, hostname, bash)
	bootProto := fmt.Sprintf("boot\n0 0\nd--755 0 0\n vmlinuz-5.14.0 ---644 0 0 %s\n$\n", kernel)

	rootFS, bootFS := filepath.Join(dir, "root.fs"), filepath.Join(dir, "boot.fs")
	mkXFSFromTree(t, rootFS, rootProto, 64<<20, "-m", "uuid="+xfsRootUUID)
	mkXFSFromTree(t, bootFS, bootProto, 32<<20, "-m", "crc=0,uuid="+xfsBootUUID, "-n", "ftype=0")

	// The disk: MBR, /boot at 1 MiB, / after it.
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 100<<20); err != nil {
		t.Fatal(err)
	}
	sf := exec.Command("sfdisk", "-q", disk)
	sf.Stdin = strings.NewReader("label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=65536, type=83\nstart=67584, size=131072, type=83\n")
	if out, err := sf.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	parts, ss, err := sfdiskParts(disk)
	if err != nil || len(parts) != 2 {
		t.Fatalf("sfdisk --json: %v %v", parts, err)
	}
	for i, fsImg := range []string{bootFS, rootFS} {
		if _, err := runTool("dd", "if="+fsImg, "of="+disk, "bs=512", "seek="+strconv.FormatInt(parts[i].Start*ss/512, 10), "conv=notrunc", "status=none"); err != nil {
			t.Fatal(err)
		}
	}

	// virt-inspector finds Rocky 9.3 on /dev/sda2 with /boot on /dev/sda1.
	bins := buildXFSBins(t, dir)
	out, err := exec.Command(bins["virt-inspector"], "--json", "-a", disk).Output()
	if err != nil {
		t.Fatalf("virt-inspector: %v\n%s", err, out)
	}
	var res struct {
		OperatingSystems []struct {
			Root         string `json:"root"`
			Distro       string `json:"distro"`
			MajorVersion int    `json:"major_version"`
			MinorVersion int    `json:"minor_version"`
			Hostname     string `json:"hostname"`
			Mountpoints  []struct {
				Dev  string `json:"device"`
				Path string `json:"mountpoint"`
			} `json:"mountpoints"`
			Filesystems []struct {
				Dev  string `json:"device"`
				Type string `json:"type"`
				UUID string `json:"uuid"`
			} `json:"filesystems"`
		} `json:"operatingsystems"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("virt-inspector --json: %v\n%s", err, out)
	}
	if len(res.OperatingSystems) != 1 {
		t.Fatalf("virt-inspector found %d operating systems, want 1:\n%s", len(res.OperatingSystems), out)
	}
	o := res.OperatingSystems[0]
	if o.Root != "/dev/sda2" || o.Distro != "rocky" || o.MajorVersion != 9 || o.MinorVersion != 3 || o.Hostname != "rocky-xfs.example.com" {
		t.Errorf("virt-inspector: root %s distro %s %d.%d hostname %q; want /dev/sda2 rocky 9.3 rocky-xfs.example.com", o.Root, o.Distro, o.MajorVersion, o.MinorVersion, o.Hostname)
	}
	mps := map[string]string{}
	for _, m := range o.Mountpoints {
		mps[m.Path] = m.Dev
	}
	if mps["/"] != "/dev/sda2" || mps["/boot"] != "/dev/sda1" {
		t.Errorf("virt-inspector mountpoints %v, want / on /dev/sda2 and /boot on /dev/sda1", mps)
	}
	fss := map[string]string{}
	for _, f := range o.Filesystems {
		fss[f.Dev] = f.Type + " " + f.UUID
	}
	if fss["/dev/sda2"] != "xfs "+xfsRootUUID || fss["/dev/sda1"] != "xfs "+xfsBootUUID {
		t.Errorf("virt-inspector filesystems %v, want xfs with mkfs.xfs's UUIDs", fss)
	}

	// virt-bmap maps the files where xfs_db's bmap puts them.
	bm := filepath.Join(dir, "bmap.txt")
	if out, err := exec.Command(bins["virt-bmap"], "-q", "-o", bm, disk).CombinedOutput(); err != nil {
		t.Fatalf("virt-bmap: %v\n%s", err, out)
	}
	text, err := os.ReadFile(bm)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(string(text), "\n") {
		f := strings.SplitN(l, " ", 6)
		if len(f) == 6 {
			lines[f[3]+" "+f[4]+" "+f[5]] = append(lines[f[3]+" "+f[4]+" "+f[5]], f[1]+"-"+f[2])
		}
	}
	bmapRe := regexp.MustCompile(`data offset (\d+) startblock \d+ \((\d+)/(\d+)\) count (\d+) flag 0`)
	check := func(fsImg, dev, p string, part sfPart) {
		out, err := runTool("xfs_db", "-r", "-c", "sb 0", "-c", "print blocksize agblocks", "-c", "path "+p, "-c", "bmap", fsImg)
		if err != nil {
			t.Fatal(err)
		}
		var bs, agb int64
		for _, l := range strings.Split(string(out), "\n") {
			fmt.Sscanf(l, "blocksize = %d", &bs)
			fmt.Sscanf(l, "agblocks = %d", &agb)
		}
		ms := bmapRe.FindAllStringSubmatch(string(out), -1)
		if len(ms) == 0 || bs == 0 {
			t.Fatalf("xfs_db bmap %s: %s", p, out)
		}
		var want []string
		for _, m := range ms {
			ag, _ := strconv.ParseInt(m[2], 10, 64)
			agbno, _ := strconv.ParseInt(m[3], 10, 64)
			n, _ := strconv.ParseInt(m[4], 10, 64)
			start := part.Start*ss + (ag*agb+agbno)*bs
			want = append(want, fmt.Sprintf("%x-%x", start, start+n*bs))
		}
		got := lines["f "+dev+" "+p]
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("virt-bmap %s %s: %v, xfs_db says %v", dev, p, got, want)
		}
	}
	check(rootFS, "/dev/sda2", "/etc/os-release", parts[1])
	check(rootFS, "/dev/sda2", "/usr/bin/bash", parts[1])
	check(bootFS, "/dev/sda1", "/vmlinuz-5.14.0", parts[0])
	for _, want := range []string{"m /dev/sda2 superblock", "m /dev/sda2 log", "m /dev/sda2 AG 0 inodes", "d /dev/sda2 /etc", "f /dev/sda2 /bin", "m /dev/sda1 AG 0 inode btree"} {
		if len(lines[want]) == 0 {
			t.Errorf("virt-bmap: no %q line", want)
		}
	}
}

// buildXFSBins builds virt-inspector and virt-bmap into dir.
func buildXFSBins(t *testing.T, dir string) map[string]string {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"virt-inspector", "virt-bmap"} {
		bins[name] = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bins[name], "./cmd/"+name)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	}
	return bins
}
