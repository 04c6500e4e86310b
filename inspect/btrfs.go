package inspect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/btrfs"
)

// A btrfs filesystem is several volumes to the probes, as in libguestfs'
// list_filesystems (daemon/listfs.ml): the device itself stands for the
// default subvolume (what a mount without subvol= shows), and every other
// subvolume is a volume of its own named "btrfsvol:DEVICE/PATH"
// ("btrfsvol:/dev/sda2/root"), which fstab entries with subvol= or
// subvolid= resolve to. A Fedora root is such a subvolume; openSUSE's is
// the default one, a snapshot.

// btrfsPrefix starts the device name of a subvolume volume.
const btrfsPrefix = "btrfsvol:"

// btrfsSubvolumes returns the volumes of v's subvolumes other than the
// default one (and the top level, ID 5, when it is not the default: it has
// no path of its own).
func btrfsSubvolumes(v *Volume, warn fs.WarnFunc) []*Volume {
	f, ok := v.FS.(*btrfs.FS)
	if !ok {
		return nil
	}
	subs, err := f.Subvolumes()
	if err != nil {
		warn(fmt.Errorf("%s: %w", v.Name, err))
		return nil
	}
	var out []*Volume
	for _, s := range subs {
		if s.ID == f.DefaultSubvolume() || s.Path == "" {
			continue
		}
		sfs, err := f.Subvolume(s.ID)
		if err != nil {
			warn(fmt.Errorf("%s: subvolume %d (%s): %w", v.Name, s.ID, s.Path, err))
			continue
		}
		dev := *v.Device // the subvolume's own name, on a copy of its device
		dev.Name = btrfsPrefix + v.Name + "/" + s.Path
		sv := &Volume{Device: &dev, FS: sfs, subvolOf: v, subvolID: s.ID, subvolPath: s.Path}
		out = append(out, sv)
	}
	return out
}

// btrfsSubvolume finds the subvolume volume an fstab entry for the btrfs
// device d names with its subvol= or subvolid= option (the last one
// given wins, as with mount), or d itself when neither is given. nil when
// the option names no subvolume of d (or names the default one by path:
// then d).
func (g *guest) btrfsSubvolume(d *Volume, options string) *Volume {
	var path string
	var id uint64
	var byID bool
	for _, o := range strings.Split(options, ",") {
		k, val, _ := strings.Cut(o, "=")
		switch k {
		case "subvol":
			path, byID = strings.Trim(val, "/"), false
		case "subvolid":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return nil
			}
			id, byID = n, true
		}
	}
	if !byID && path == "" {
		return d
	}
	f, ok := d.FS.(*btrfs.FS)
	if !ok {
		return nil
	}
	if byID && id == f.DefaultSubvolume() {
		return d
	}
	for _, v := range g.vols {
		if v.subvolOf != d {
			continue
		}
		if (byID && v.subvolID == id) || (!byID && v.subvolPath == path) {
			return v
		}
	}
	if !byID {
		// The default subvolume, named by its path.
		if subs, err := f.Subvolumes(); err == nil {
			for _, s := range subs {
				if s.ID == f.DefaultSubvolume() && s.Path == path {
					return d
				}
			}
		}
	}
	return nil
}
