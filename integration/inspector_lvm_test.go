package integration

// virt-inspector on a guest spread over two disks: "/" on the first disk's
// partition, "/home" on an LVM logical volume whose extents lie on both
// disks (testimages/lvm.sh's guest-d1.img + guest-d2.img), named in the
// guest's fstab by its /dev/mapper form, and "/srv" on an LV named by its
// /dev/disk/by-id/dm-uuid-LVM-... form. The oracles are the guest's own
// /etc/fstab and blkid run on the LV's bytes cut out at the offsets lvm2
// itself reported (guest.lvs), never virt-inspector's output.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

func TestInspectorLVMTwoDisks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("testimages/lvm.sh needs root (losetup)")
	}
	testutil.NeedTools(t, "pvcreate", "losetup", "mkfs.ext4", "sfdisk", "blkid", "debugfs")
	setupInspector(t)
	dir := t.TempDir()
	if out, err := exec.Command("bash", "../testimages/lvm.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("lvm.sh: %v\n%s", err, out)
	}
	d1, d2 := filepath.Join(dir, "guest-d1.img"), filepath.Join(dir, "guest-d2.img")

	// Oracle 1: what the guest's fstab says, read by debugfs from the root
	// filesystem cut out of disk 1 at the offset sfdisk gives.
	parts, ss, err := sfdiskParts(d1)
	if err != nil || len(parts) == 0 {
		t.Fatalf("sfdisk %s: %v", d1, err)
	}
	rootFS := filepath.Join(dir, "root.fs")
	if _, err := runTool("dd", "if="+d1, "of="+rootFS, "bs=512", "skip="+strconv.FormatInt(parts[0].Start*ss/512, 10), "count="+strconv.FormatInt(parts[0].Size*ss/512, 10), "status=none"); err != nil {
		t.Fatal(err)
	}
	fstab, err := runTool("debugfs", "-R", "cat /etc/fstab", rootFS)
	if err != nil || !strings.Contains(string(fstab), "/dev/mapper/vgguest-home") {
		t.Fatalf("the guest's fstab does not mount /dev/mapper/vgguest-home (%v):\n%s", err, fstab)
	}
	// /srv by the dm-uuid name lvm2's own UUIDs make (lvs -o vg_uuid,lv_uuid).
	dmuuid, err := os.ReadFile(filepath.Join(dir, "guest.dmuuid"))
	if err != nil || !strings.Contains(string(fstab), "/dev/disk/by-id/dm-uuid-"+strings.TrimSpace(string(dmuuid))+" /srv ") {
		t.Fatalf("the guest's fstab does not mount /srv by dm-uuid %q (%v):\n%s", dmuuid, err, fstab)
	}
	// Oracle 2: blkid on the root filesystem and on the LV's bytes.
	segs := readLVSFile(t, filepath.Join(dir, "guest.lvs"))
	homeFS := filepath.Join(dir, "home.fs")
	extractLV(t, segs, "home", []string{d1, d2}, homeFS)
	srvFS := filepath.Join(dir, "srv.fs")
	extractLV(t, segs, "srv", []string{d1, d2}, srvFS)
	blk := func(path, tag string) string {
		out, err := runTool("blkid", "-p", "-s", tag, "-o", "value", path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	out := runInspector(t, "--json", "-a", d1, "-a", d2)
	var res struct {
		OperatingSystems []struct {
			Root        string `json:"root"`
			Name        string `json:"name"`
			Mountpoints []struct {
				Dev  string `json:"device"`
				Path string `json:"mountpoint"`
			} `json:"mountpoints"`
			Filesystems []struct {
				Dev   string `json:"device"`
				Type  string `json:"type"`
				Label string `json:"label"`
				UUID  string `json:"uuid"`
			} `json:"filesystems"`
		} `json:"operatingsystems"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding virt-inspector --json: %v\n%.500s", err, out)
	}
	if len(res.OperatingSystems) != 1 {
		t.Fatalf("%d operating systems, want 1:\n%.1000s", len(res.OperatingSystems), out)
	}
	o := res.OperatingSystems[0]
	if o.Root != "/dev/sda1" || o.Name != "linux" {
		t.Errorf("root %q name %q, want /dev/sda1 linux", o.Root, o.Name)
	}
	mounts := map[string]string{}
	for _, m := range o.Mountpoints {
		mounts[m.Path] = m.Dev
	}
	if mounts["/"] != "/dev/sda1" || mounts["/home"] != "/dev/vgguest/home" || mounts["/srv"] != "/dev/vgguest/srv" {
		t.Errorf("mountpoints %v, want / on /dev/sda1, /home on /dev/vgguest/home and /srv on /dev/vgguest/srv", mounts)
	}
	want := map[string][2]string{
		"/dev/sda1":         {blk(rootFS, "LABEL"), blk(rootFS, "UUID")},
		"/dev/vgguest/home": {blk(homeFS, "LABEL"), blk(homeFS, "UUID")},
		"/dev/vgguest/srv":  {blk(srvFS, "LABEL"), blk(srvFS, "UUID")},
	}
	for _, f := range o.Filesystems {
		w, ok := want[f.Dev]
		if !ok {
			continue
		}
		if f.Type != "ext4" || f.Label != w[0] || f.UUID != w[1] {
			t.Errorf("%s: %s %q %q, blkid says ext4 %q %q", f.Dev, f.Type, f.Label, f.UUID, w[0], w[1])
		}
		delete(want, f.Dev)
	}
	if len(want) > 0 {
		t.Errorf("filesystems missing from the report: %v", want)
	}
}
