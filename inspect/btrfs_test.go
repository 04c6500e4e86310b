package inspect

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// btrfsDisk puts fs/btrfs's kernel-made fixture NAME.img.gz in partition
// 2 of a GPT disk (partition 1 is an empty 32 MiB ESP) and returns the
// disk's path and the filesystem image's path.
func btrfsDisk(t *testing.T, name string) (disk, fsImg string) {
	t.Helper()
	testutil.NeedTools(t, "sfdisk")
	zf, err := os.Open(filepath.Join("..", "fs", "btrfs", "testdata", name+".img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	img, err := io.ReadAll(io.LimitReader(zr, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fsImg = filepath.Join(dir, name+".img")
	if err := os.WriteFile(fsImg, img, 0o644); err != nil {
		t.Fatal(err)
	}
	disk = filepath.Join(dir, "disk.img")
	const start = 67584 // sectors: after the ESP
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, start*512+int64(len(img))+1<<20); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "label: gpt\nstart=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n"+
		"start="+strconv.Itoa(start)+", size="+strconv.Itoa(len(img)/512)+", type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
		"sfdisk", "-q", disk)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(img, start*512); err != nil {
		t.Fatal(err)
	}
	return disk, fsImg
}

// restoredFstab reads SUBVOL/etc/fstab out of the filesystem image with
// btrfs-progs' own reader (btrfs restore), and returns mount point ->
// subvol= option of its btrfs lines.
func restoredFstab(t *testing.T, fsImg, subvolID string) map[string]string {
	t.Helper()
	testutil.NeedTools(t, "btrfs")
	out := t.TempDir()
	if b, err := exec.Command("btrfs", "restore", "-r", subvolID, "--path-regex", "^/(|etc|etc/fstab)$", fsImg, out).CombinedOutput(); err != nil {
		t.Fatalf("btrfs restore: %v\n%s", err, b)
	}
	f, err := os.Open(filepath.Join(out, "etc", "fstab"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 4 || fl[2] != "btrfs" {
			continue
		}
		for _, o := range strings.Split(fl[3], ",") {
			if v, ok := strings.CutPrefix(o, "subvol="); ok {
				m[fl[1]] = v
			}
		}
	}
	if len(m) == 0 {
		t.Fatalf("btrfs restore's etc/fstab has no btrfs subvol= line")
	}
	return m
}

// TestBtrfsSubvolumeRoots: the Fedora layout's root is the subvolume
// "root" (no default subvolume is set), named btrfsvol:/dev/sda2/root as
// libguestfs names it, and its fstab's subvol= entries resolve to the
// subvolumes btrfs restore's copy of that fstab names. The read-only
// snapshot of root is a root too (libguestfs lists every subvolume that
// looks like one).
func TestBtrfsSubvolumeRoots(t *testing.T) {
	disk, fsImg := btrfsDisk(t, "fedora")
	want := restoredFstab(t, fsImg, "256")
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var warns []string
	res, err := InspectOptions([]Disk{{Name: disk, R: f, Size: st.Size()}},
		Options{Warn: func(err error) { warns = append(warns, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, o := range res.OperatingSystems {
		roots = append(roots, o.Root)
	}
	if strings.Join(roots, " ") != "btrfsvol:/dev/sda2/root btrfsvol:/dev/sda2/snapshots/root-1" {
		t.Fatalf("roots %q, want btrfsvol:/dev/sda2/root and its snapshot (warnings %q)", roots, warns)
	}
	o := res.OperatingSystems[0]
	if o.Distro != "fedora" || o.MajorVersion != 40 {
		t.Errorf("distro %s %d, want fedora 40", o.Distro, o.MajorVersion)
	}
	got := map[string]string{}
	for _, m := range o.Mountpoints {
		got[m.Path] = m.Device
	}
	for mp, sub := range want {
		if d := "btrfsvol:/dev/sda2/" + sub; got[mp] != d {
			t.Errorf("%s mounted from %q, fstab says subvol=%s (%s)", mp, got[mp], sub, d)
		}
	}
	if len(got) != len(want) {
		t.Errorf("mountpoints %v, fstab's btrfs lines %v", got, want)
	}
	for _, w := range warns {
		if strings.Contains(w, "fstab") {
			t.Errorf("warning: %s", w)
		}
	}
}

// TestBtrfsDefaultSubvolume: openSUSE's layout sets a snapshot as the
// default subvolume, so the device itself (what a mount without subvol=
// shows) holds the root, and "@" is another root; the subvolume IDs
// come from the kernel's own list saved beside the fixture.
func TestBtrfsDefaultSubvolume(t *testing.T) {
	disk, _ := btrfsDisk(t, "suse")
	def, err := os.ReadFile(filepath.Join("..", "fs", "btrfs", "testdata", "suse.default"))
	if err != nil || !strings.Contains(string(def), "path @/.snapshots/1/snapshot") {
		t.Fatalf("suse.default = %q (%v): the fixture's default subvolume changed", def, err)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	res, err := Inspect([]Disk{{Name: disk, R: f, Size: st.Size()}})
	if err != nil {
		t.Fatal(err)
	}
	var roots []string
	for _, o := range res.OperatingSystems {
		roots = append(roots, o.Root+" "+o.Distro)
	}
	if strings.Join(roots, ",") != "/dev/sda2 opensuse,btrfsvol:/dev/sda2/@ opensuse" {
		t.Errorf("roots %q, want /dev/sda2 (the default snapshot) and btrfsvol:/dev/sda2/@", roots)
	}
}
