package inspect

import (
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/volume"
)

func TestKernelName(t *testing.T) {
	for _, c := range []struct {
		in         string
		disk, part int
		ok         bool
	}{
		{"/dev/sda", 1, 0, true}, {"/dev/vdb2", 2, 2, true}, {"/dev/xvda1", 1, 1, true},
		{"/dev/hdc3", 3, 3, true}, {"/dev/sdaa1", 27, 1, true}, {"/dev/nvme0n1p2", 1, 2, true},
		{"/dev/sd", 0, 0, false}, {"/dev/sda0", 0, 0, false}, {"/dev/sdax", 50, 0, true}, {"/dev/sda1x", 0, 0, false},
		{"sda1", 0, 0, false}, {"/dev/nvme0", 0, 0, false}, {"/dev/loop0", 0, 0, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			d, p, ok := kernelName(c.in)
			if d != c.disk || p != c.part || ok != c.ok {
				t.Errorf("kernelName(%q) = %d %d %v, want %d %d %v", c.in, d, p, ok, c.disk, c.part, c.ok)
			}
		})
	}
}

func TestResolveSpec(t *testing.T) {
	g := &guest{vols: []*Volume{
		{Device: &volume.Device{Name: "/dev/sda1", PartNum: 1, MBRID: 0x0b1e0004,
			Type: fs.Type{Name: "ext4", UUID: "0b1e6c00-0000-4000-8000-000000000002", Label: "root"}}},
		{Device: &volume.Device{Name: "/dev/sdb1", PartNum: 1, PartUUID: "6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70", PartLabel: "EFI system",
			Type: fs.Type{Name: "vfat", UUID: "ABCD-1234", Label: "my/efi"}}},
		{Device: &volume.Device{Name: "/dev/vg-0/lv_home", VG: "vg-0", LV: "lv_home", Type: fs.Type{Name: "ext4"},
			DMUUID: "LVM-Jq3ZcCAbCdEfGhIjKlMnOpQrStUvWxYzAAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStT"}},
	}}
	for _, c := range []struct{ spec, want string }{
		{"UUID=0B1E6C00-0000-4000-8000-000000000002", "/dev/sda1"},
		{`UUID="abcd-1234"`, "/dev/sdb1"},
		{"LABEL=root", "/dev/sda1"},
		{"/dev/disk/by-label/my\\x2fefi", "/dev/sdb1"},
		{"/dev/disk/by-uuid/ABCD-1234", "/dev/sdb1"},
		{"PARTUUID=0b1e0004-01", "/dev/sda1"},
		{"PARTUUID=6f1ce3a2-5b6e-4e0c-9a1d-2c3b4d5e6f70", "/dev/sdb1"},
		{"/dev/disk/by-partuuid/6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70", "/dev/sdb1"},
		{"PARTLABEL=EFI system", "/dev/sdb1"},
		{"/dev/disk/by-partlabel/EFI\\x20system", "/dev/sdb1"},
		{"PARTLABEL=efi system", ""},
		{"PARTLABEL=", ""},
		{"/dev/mapper/vg--0-lv_home", "/dev/vg-0/lv_home"},
		{"/dev/disk/by-id/dm-uuid-LVM-Jq3ZcCAbCdEfGhIjKlMnOpQrStUvWxYzAAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStT", "/dev/vg-0/lv_home"},
		{"/dev/disk/by-id/dm-uuid-LVM-Jq3ZcCAbCdEfGhIjKlMnOpQrStUvWxYz", ""},
		{"/dev/disk/by-id/dm-uuid-", ""},
		{"/dev/disk/by-id/dm-name-vg--0-lv_home", "/dev/vg-0/lv_home"},
		{"/dev/vg-0/lv_home", "/dev/vg-0/lv_home"},
		{"/dev/vda1", "/dev/sda1"},
		{"/dev/vdc1", ""},
		{"/dev/ada0p1", "/dev/sda1"},
		{"/dev/vtbd0p1", "/dev/sda1"},
		{"/dev/ad0p1", "/dev/sda1"},
		{"/dev/ada1p1", "/dev/sdb1"},
		{"/dev/ada0", ""},
		{"/dev/ada0s1a", ""},
		{"/dev/ada0p0", ""},
		{"UUID=", ""},
		{"LABEL=", ""},
		{"tmpfs", ""},
	} {
		t.Run(c.spec, func(t *testing.T) {
			got := ""
			if v := g.resolveSpec(c.spec); v != nil {
				got = v.Name
			}
			if got != c.want {
				t.Errorf("resolveSpec(%q) = %q, want %q", c.spec, got, c.want)
			}
		})
	}
}

func TestMountFS(t *testing.T) {
	root := &Volume{FS: fstest.MapFS{"etc/fstab": {Data: []byte("root")}, "var/lib/x": {Data: []byte("hidden")}}}
	varv := &Volume{FS: fstest.MapFS{"lib/x": {Data: []byte("var")}}}
	m := &mountFS{mounts: []mount{{"/", root}, {"/var", varv}}}
	for name, want := range map[string]string{"etc/fstab": "root", "var/lib/x": "var"} {
		b, err := readAll(m, name)
		if err != nil || b != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := m.Open("../etc/fstab"); err == nil {
		t.Error("an invalid path opened")
	}
	if _, err := m.Stat("variable"); err == nil {
		t.Error("/variable routed to /var")
	}
}

func readAll(m *mountFS, name string) (string, error) {
	f, err := m.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, 64)
	n, _ := f.Read(b)
	return string(b[:n]), nil
}

func TestIgnoredFstabEntry(t *testing.T) {
	for _, c := range []struct {
		spec, mp string
		want     bool
	}{
		{"/dev/fd0", "/mnt/floppy", true}, {"/dev/cd1", "/mnt/cd", true}, {"/dev/cdrom", "/mnt/cd", true},
		{"/dev/floppy", "/mnt/f", true}, {"/dev/iso9660/FREEBSD_INSTALL", "/", true},
		{"/dev/sr0", "/media/cdrom0", true}, {"UUID=x", "/media", true}, {"UUID=x", "/sys/fs/x", true},
		{"UUID=x", "/proc", true}, {"UUID=x", "/selinux", true}, {"UUID=x", "/dev/shm", true},
		{"/dev/fdx", "/mnt", false}, {"/dev/fd", "/mnt", false}, {"/dev/sda1", "/", false},
		{"UUID=x", "/mediax", false}, {"UUID=x", "/devel", false}, {"LABEL=home", "/home", false},
	} {
		if got := ignoredFstabEntry(c.spec, c.mp); got != c.want {
			t.Errorf("ignoredFstabEntry(%q, %q) = %v, want %v", c.spec, c.mp, got, c.want)
		}
	}
}
