package inspect

import (
	"fmt"
	"path"
	"strings"

	iofs "io/fs"

	"github.com/virt-bmap/virt-bmap/inspect/apk"
	"github.com/virt-bmap/virt-bmap/inspect/dpkg"
	"github.com/virt-bmap/virt-bmap/inspect/linux"
	"github.com/virt-bmap/virt-bmap/inspect/pacman"
	"github.com/virt-bmap/virt-bmap/inspect/rpm"
)

// probe recognises the root filesystem of one kind of OS and describes
// the OS. ok is false when v is not such a root.
type probe struct {
	name string
	fn   func(g *guest, v *Volume) (os *OS, ok bool)
}

// probes is tried in order on every readable filesystem; the first match
// makes it a root. The rules behind the order:
//
//   - Linux first: its test (an /etc directory and a release file or an
//     fstab) is cheap and specific, and a Linux root never holds a Windows
//     system directory.
//   - Windows (inspect/windows: a system root such as /Windows with its
//     registry hives) after Linux: its test reads directories
//     case-insensitively and opens hives, so it runs only on the
//     filesystems Linux has rejected.
//
// Another OS (FreeBSD, ...) is one more row.
var probes = []probe{
	{"freebsd", probeFreeBSD},
	{"linux", probeLinux},
	{"windows", probeWindows},
}

// catalogers list the installed applications for a package format.
var catalogers = map[string]func(fsys iofs.FS, warn func(error)) ([]Application, error){
	"deb":    func(fsys iofs.FS, _ func(error)) ([]Application, error) { return dpkg.Installed(fsys) },
	"apk":    func(fsys iofs.FS, _ func(error)) ([]Application, error) { return apk.Installed(fsys) },
	"pacman": pacman.Installed,
	"rpm":    rpm.Installed,
}

func probeLinux(g *guest, v *Volume) (*OS, bool) {
	if !linux.IsRoot(v.FS) {
		return nil, false
	}
	return probeUnix(g, v, "linux", linux.Inspect)
}

// probeFreeBSD comes first: a FreeBSD root would pass the Linux test too
// (libguestfs tries the BSDs before Linux as well).
func probeFreeBSD(g *guest, v *Volume) (*OS, bool) {
	if !linux.IsFreeBSDRoot(v.FS) {
		return nil, false
	}
	return probeUnix(g, v, "freebsd", linux.InspectFreeBSD)
}

// probeUnix describes the Unix-like root v of an OS of type name from
// what inspect reads, and its fstab resolved to the guest's devices.
func probeUnix(g *guest, v *Volume, name string, inspect func(iofs.FS, func(error)) (*linux.Info, error)) (*OS, bool) {
	warn := func(err error) { g.warn(fmt.Errorf("%s: %w", v.Name, err)) }
	info, err := inspect(v.FS, warn)
	if err != nil {
		warn(err)
		return nil, false
	}
	os := &OS{Root: v.Name, Name: name, Mountpoints: []Mountpoint{}, Filesystems: []Filesystem{},
		DriveMappings: []DriveMapping{}, Applications: []Application{}}
	mfs := &mountFS{mounts: []mount{{"/", v}}}
	seen := map[string]bool{v.Name: true}
	os.Filesystems = append(os.Filesystems, v.filesystem())
	for _, e := range info.Fstab {
		mp := path.Clean(e.File)
		swap := e.VfsType == "swap"
		if !swap && !strings.HasPrefix(e.File, "/") {
			continue // "none", bind sources...
		}
		if e.VfsType == "proc" || e.VfsType == "sysfs" || e.VfsType == "tmpfs" || e.VfsType == "devpts" ||
			ignoredFstabEntry(e.Spec, mp) {
			continue
		}
		d := g.resolveSpec(e.Spec)
		if e.Spec == "/dev/root" || (name != "linux" && mp == "/") {
			// A BSD's / is its root whatever fstab calls it: its device
			// names do not map simply onto the guest's (libguestfs).
			d = v
		}
		if d != nil && e.VfsType == "btrfs" && d.Type.Name == "btrfs" && d.subvolOf == nil {
			d = g.btrfsSubvolume(d, e.Options)
		}
		if d == nil {
			warn(fmt.Errorf("fstab: %s (%s): no such device on the guest", e.Spec, e.File))
			continue
		}
		if !seen[d.Name] {
			seen[d.Name] = true
			os.Filesystems = append(os.Filesystems, d.filesystem())
		}
		if swap {
			continue
		}
		os.Mountpoints = append(os.Mountpoints, Mountpoint{Device: d.Name, Path: mp})
		if mp != "/" && d.FS != nil {
			mfs.mounts = append(mfs.mounts, mount{mp, d})
		}
	}
	if !hasPath(os.Mountpoints, "/") {
		os.Mountpoints = append(os.Mountpoints, Mountpoint{Device: v.Name, Path: "/"})
	}
	sortMountpoints(os.Mountpoints)
	sortFilesystems(os.Filesystems)
	if len(mfs.mounts) > 1 {
		// Read the facts again through the mounted view: /usr or /var
		// may be filesystems of their own.
		if i2, err := inspect(mfs, warn); err == nil {
			info = i2
		}
	}
	os.Arch, os.Distro, os.ProductName, os.ProductVariant = info.Arch, info.Distro, info.ProductName, info.ProductVariant
	os.MajorVersion, os.MinorVersion, os.BuildID = info.MajorVersion, info.MinorVersion, info.BuildID
	os.PackageFormat, os.PackageManagement = info.PackageFormat, info.PackageManagement
	os.Hostname, os.OSInfo = info.Hostname, info.OSInfo
	if cat, ok := catalogers[os.PackageFormat]; ok && !g.opt.NoApplications {
		apps, err := cat(mfs, warn)
		if err != nil {
			warn(err)
		}
		if apps != nil {
			os.Applications = apps
		}
	}
	if !g.opt.NoIcon {
		os.Icon = findIcon(mfs, os.Name, os.Distro, os.MajorVersion)
	}
	return os, true
}

// ignoredFstabEntry reports the fstab entries libguestfs' check_fstab_entry
// skips: floppy and CD-ROM devices, and mount points under /dev, /media,
// /proc, /selinux and /sys.
func ignoredFstabEntry(spec, mp string) bool {
	isDrive := func(prefix string) bool {
		rest, ok := strings.CutPrefix(spec, prefix)
		return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
	}
	if isDrive("/dev/fd") || isDrive("/dev/cd") || spec == "/dev/floppy" || spec == "/dev/cdrom" ||
		strings.HasPrefix(spec, "/dev/iso9660/") {
		return true
	}
	for _, dir := range []string{"/dev", "/media", "/proc", "/selinux", "/sys"} {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return true
		}
	}
	return false
}

func hasPath(m []Mountpoint, p string) bool {
	for _, x := range m {
		if x.Path == p {
			return true
		}
	}
	return false
}
