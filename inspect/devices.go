package inspect

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/volume/lvm"
	"github.com/virt-bmap/virt-bmap/volume/part"
)

// resolveSpec finds the guest volume an fstab (or crypttab...) device spec
// names: UUID=, LABEL=, PARTUUID=, PARTLABEL= (GPT partition names),
// /dev/disk/by-uuid|by-label|by-partuuid|by-partlabel/, an LV's
// /dev/disk/by-id/dm-uuid-LVM-... (Ubuntu's installer) and dm-name-VG-LV,
// /dev/mapper/VG-LV, /dev/VG/LV, and kernel names of any disk driver
// (/dev/sdb2, /dev/vda1, /dev/hda3, /dev/xvda1, /dev/nvme0n1p2) taken as
// the disk in that position. It returns nil when nothing matches.
func (g *guest) resolveSpec(spec string) *Volume {
	key, val, ok := strings.Cut(spec, "=")
	if !ok {
		for _, by := range []struct{ prefix, key string }{
			{"/dev/disk/by-uuid/", "UUID"}, {"/dev/disk/by-label/", "LABEL"},
			{"/dev/disk/by-partuuid/", "PARTUUID"}, {"/dev/disk/by-partlabel/", "PARTLABEL"},
		} {
			if rest, ok := strings.CutPrefix(spec, by.prefix); ok {
				key, val = by.key, udevUnescape(rest)
				break
			}
		}
	}
	val = strings.Trim(val, `"`)
	switch strings.ToUpper(key) {
	case "UUID":
		return g.find(func(v *Volume) bool { return equalFold(v.Type.UUID, val) })
	case "LABEL":
		return g.find(func(v *Volume) bool { return v.Type.Label != "" && v.Type.Label == val })
	case "PARTLABEL":
		return g.find(func(v *Volume) bool { return v.PartLabel != "" && v.PartLabel == val })
	case "PARTUUID":
		return g.find(func(v *Volume) bool {
			if v.PartUUID != "" {
				return equalFold(v.PartUUID, val)
			}
			return v.LV == "" && v.PartNum > 0 && equalFold(fmt.Sprintf("%08x-%02x", v.MBRID, v.PartNum), val)
		})
	}
	if id, ok := strings.CutPrefix(spec, "/dev/disk/by-id/dm-uuid-"); ok {
		return g.find(func(v *Volume) bool { return v.DMUUID != "" && v.DMUUID == id })
	}
	if name, ok := strings.CutPrefix(spec, "/dev/disk/by-id/dm-name-"); ok {
		spec = "/dev/mapper/" + name
	}
	if vg, lv, ok := lvm.ParseMapperName(spec); ok && strings.HasPrefix(spec, "/dev/mapper/") {
		return g.byDevice(lvm.DevicePath(vg, lv))
	}
	if v := g.byDevice(spec); v != nil {
		return v
	}
	if disk, n, ok := kernelName(spec); ok {
		return g.byDevice(part.DeviceName(disk, n))
	}
	return nil
}

// udevUnescape undoes udev's \x2f escapes in /dev/disk/by-label names.
func udevUnescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	u, err := url.PathUnescape(strings.ReplaceAll(s, `\x`, "%"))
	if err != nil {
		return s
	}
	return u
}

// freebsdGPTName parses FreeBSD's names of GPT partitions on ATA and
// virtio disks, ada0p2, ad0p2 and vtbd0p2 (disk 0 is the first), as
// libguestfs' re_freebsd_gpt does.
func freebsdGPTName(name string) (disk, partition int, ok bool) {
	for _, pre := range []string{"ada", "ad", "vtbd"} {
		rest, found := strings.CutPrefix(name, pre)
		if !found {
			continue
		}
		d, p, found := strings.Cut(rest, "p")
		di, err1 := strconv.Atoi(d)
		pi, err2 := strconv.Atoi(p)
		if !found || err1 != nil || err2 != nil || di < 0 || di > 26 || pi < 1 || pi > 128 {
			return 0, 0, false
		}
		return di + 1, pi, true
	}
	return 0, 0, false
}

// kernelName parses a disk device name of the sd, hd, vd and xvd drivers
// (letters give the disk: a=1, z=26, aa=27) or of NVMe (nvme0n1 is disk
// 1) with an optional partition number.
func kernelName(dev string) (disk, partition int, ok bool) {
	name, ok := strings.CutPrefix(dev, "/dev/")
	if !ok {
		return 0, 0, false
	}
	if d, p, ok := freebsdGPTName(name); ok {
		return d, p, true
	}
	if rest, ok := strings.CutPrefix(name, "nvme"); ok {
		// nvme<ctrl>n<ns>[p<part>]
		c, rest, ok := strings.Cut(rest, "n")
		if !ok {
			return 0, 0, false
		}
		ns, p, _ := strings.Cut(rest, "p")
		ci, err1 := strconv.Atoi(c)
		ni, err2 := strconv.Atoi(ns)
		if err1 != nil || err2 != nil || ni < 1 || ci < 0 || ci > 1000 {
			return 0, 0, false
		}
		if p != "" {
			if partition, err1 = strconv.Atoi(p); err1 != nil {
				return 0, 0, false
			}
		}
		return ci + ni, partition, true
	}
	for _, pre := range []string{"xvd", "sd", "hd", "vd"} {
		rest, ok := strings.CutPrefix(name, pre)
		if !ok {
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
			i++
		}
		if i == 0 || i > 3 {
			return 0, 0, false
		}
		for _, c := range rest[:i] {
			disk = disk*26 + int(c-'a') + 1
		}
		if rest[i:] != "" {
			n, err := strconv.Atoi(rest[i:])
			if err != nil || n < 1 {
				return 0, 0, false
			}
			partition = n
		}
		return disk, partition, true
	}
	return 0, 0, false
}
