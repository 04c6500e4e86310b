// Package inspect finds the operating systems on a guest's disks and
// describes them the way libguestfs' inspection does (guestfs_inspect_os
// and the guestfs_inspect_get_* calls), without booting anything: it lists
// every partition, bare disk, LVM logical volume and unlocked LUKS volume
// (package volume), opens each filesystem virt-bmap can read (ext2/3/4,
// FAT, NTFS, XFS, btrfs, UFS: fs/registry) as an io/fs.FS,
// and asks an ordered table of OS probes (probes.go) whether it is the
// root of an operating system. For each root it resolves the mount table
// to the guest's devices, reads the OS's facts through the mounted view
// (so /var or /usr on their own filesystems are seen) and lists the
// installed applications from the package database of its format.
//
// Every slice in a Result is empty, never nil, because it ends up in JSON.
package inspect

import (
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/registry"
	"github.com/virt-bmap/virt-bmap/inspect/app"
	"github.com/virt-bmap/virt-bmap/volume"
)

// Disk is one opened disk image of the guest, in the order the guest sees
// its disks (the first is /dev/sda).
type Disk struct {
	Name string // the image's path, for messages
	R    io.ReaderAt
	Size int64
}

// Options tune an inspection. The zero value lists applications and
// discards warnings.
type Options struct {
	// Warn receives every problem worked around (a filesystem that cannot
	// be opened, a package database that cannot be read).
	Warn fs.WarnFunc
	// NoApplications skips reading the package databases.
	NoApplications bool
	// NoIcon skips looking for the guest's icon (virt-inspector --no-icon).
	NoIcon bool
	// Keys unlock LUKS containers (virt-inspector --key, --keys-from-stdin).
	Keys volume.Keys
}

// Result is everything found on the guest.
type Result struct {
	OperatingSystems []OS `json:"operatingsystems"`
	// Problems lists the devices that could not be read: a filesystem
	// that is recognised but cannot be opened, a LUKS container left
	// locked. The operating systems are found from the rest.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is a device the inspection could not read.
type Problem struct {
	Device string `json:"device"`
	Reason string `json:"reason"`
}

// Application is one installed package.
type Application = app.Application

// OS is one operating system root, with libguestfs' facts and names.
// Empty strings are facts not known; libguestfs leaves them out too.
type OS struct {
	Root                     string         `json:"root"` // the root filesystem's device
	Name                     string         `json:"name"` // "linux", "windows"...
	Arch                     string         `json:"arch,omitempty"`
	Distro                   string         `json:"distro,omitempty"`
	ProductName              string         `json:"product_name,omitempty"`
	ProductVariant           string         `json:"product_variant,omitempty"`
	MajorVersion             int            `json:"major_version"`
	MinorVersion             int            `json:"minor_version"`
	WindowsSystemRoot        string         `json:"windows_systemroot,omitempty"`
	WindowsCurrentControlSet string         `json:"windows_current_control_set,omitempty"`
	PackageFormat            string         `json:"package_format,omitempty"`
	PackageManagement        string         `json:"package_management,omitempty"`
	Hostname                 string         `json:"hostname,omitempty"`
	BuildID                  string         `json:"build_id,omitempty"`
	OSInfo                   string         `json:"osinfo,omitempty"`
	Mountpoints              []Mountpoint   `json:"mountpoints"`
	Filesystems              []Filesystem   `json:"filesystems"`
	DriveMappings            []DriveMapping `json:"drive_mappings"`
	Applications             []Application  `json:"applications"`
	// Icon is the guest's logo, a PNG (icon.go); nil when there is none.
	Icon []byte `json:"icon,omitempty"`
}

// Mountpoint says which device the OS mounts where.
type Mountpoint struct {
	Device string `json:"device"`
	Path   string `json:"mountpoint"`
}

// Filesystem is one filesystem that belongs to an OS.
type Filesystem struct {
	Device string `json:"device"`
	Type   string `json:"type,omitempty"`
	Label  string `json:"label,omitempty"`
	UUID   string `json:"uuid,omitempty"`
}

// DriveMapping is a Windows drive letter and the device it names.
type DriveMapping struct {
	Name   string `json:"name"` // "C"
	Device string `json:"device"`
}

// Volume is one device of the guest as the probes see it: its place and
// what fs.Detect found, and its files when the filesystem can be read.
type Volume struct {
	// Device is the block device (Name is "btrfsvol:DEVICE/PATH" for a
	// btrfs subvolume: a copy of its device's).
	*volume.Device
	FS iofs.FS // nil when the filesystem is not one virt-bmap reads
	// subvolOf, subvolID and subvolPath identify a btrfs subvolume other
	// than the default one (btrfs.go): subvolOf is the volume of its
	// device, and Device is "btrfsvol:DEVICE/PATH".
	subvolOf   *Volume
	subvolID   uint64
	subvolPath string
}

// Inspect inspects the guest made of disks with the default options.
func Inspect(disks []Disk) (*Result, error) { return InspectOptions(disks, Options{}) }

// InspectOptions lists the guest's volumes, opens their filesystems and
// runs the OS probes on each. It fails only when a disk cannot be read at
// all; a guest with no OS found gives an empty Result.
func InspectOptions(disks []Disk, opt Options) (*Result, error) {
	warn := opt.Warn
	if warn == nil {
		warn = func(error) {}
	}
	in := make([]volume.Disk, len(disks))
	for i, d := range disks {
		in[i] = volume.Disk{Index: i + 1, Image: d.Name, R: d.R, Size: d.Size}
	}
	st, err := volume.Open(in, volume.Options{Warn: warn, Keys: opt.Keys})
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	vols := make([]*Volume, 0, len(st.Devices))
	var problems []Problem
	for _, d := range st.Devices {
		if !d.Probed {
			continue // a partitioned disk, an extended container, an LV with holes
		}
		v := &Volume{Device: d}
		var perr error
		v.FS, perr = openFS(d, warn)
		if perr != nil {
			problems = append(problems, Problem{Device: d.Name, Reason: perr.Error()})
		}
		if d.Type.Name == "crypto_LUKS" && d.Note != "" {
			problems = append(problems, Problem{Device: d.Name, Reason: "encrypted volume (LUKS " + d.LUKSUUID + "): " + d.Note})
		}
		vols = append(vols, v)
		vols = append(vols, btrfsSubvolumes(v, warn)...)
	}
	g := &guest{vols: vols, warn: warn, opt: opt}
	res := &Result{OperatingSystems: []OS{}, Problems: problems}
	for _, v := range vols {
		if v.FS == nil {
			continue
		}
		for _, p := range probes {
			if os, ok := p.fn(g, v); ok {
				res.OperatingSystems = append(res.OperatingSystems, *os)
				break
			}
		}
	}
	return res, nil
}

// openFS opens the filesystem on v, if it is one virt-bmap reads. The
// error is for a filesystem that is recognised but cannot be opened.
func openFS(v *volume.Device, warn fs.WarnFunc) (iofs.FS, error) {
	if !v.Probed || !registry.Readable(v.Type.Name) {
		return nil, nil
	}
	w := func(err error) { warn(fmt.Errorf("%s: %w", v.Name, err)) }
	f, err := registry.Open(v.Type, v.R, v.Size, w)
	if err != nil {
		w(err)
		return nil, err
	}
	return f, nil
}

// guest is the state the probes share: every volume of the guest.
type guest struct {
	vols []*Volume
	warn fs.WarnFunc
	opt  Options
}

// filesystem describes v for an OS's filesystem list.
func (v *Volume) filesystem() Filesystem {
	return Filesystem{Device: v.Name, Type: v.Type.Name, Label: v.Type.Label, UUID: v.Type.UUID}
}

// sortMountpoints orders mount points as virt-inspector prints them:
// shortest path first, then by name, so a parent comes before its
// children.
func sortMountpoints(m []Mountpoint) {
	sort.SliceStable(m, func(i, j int) bool {
		if len(m[i].Path) != len(m[j].Path) {
			return len(m[i].Path) < len(m[j].Path)
		}
		return m[i].Path < m[j].Path
	})
}

func sortFilesystems(f []Filesystem) {
	sort.SliceStable(f, func(i, j int) bool { return f[i].Device < f[j].Device })
}

// byDevice finds a volume by its device name.
func (g *guest) byDevice(dev string) *Volume {
	for _, v := range g.vols {
		if v.Name == dev {
			return v
		}
	}
	return nil
}

func (g *guest) find(pred func(v *Volume) bool) *Volume {
	for _, v := range g.vols {
		if pred(v) {
			return v
		}
	}
	return nil
}

// equalFold compares identifiers (UUIDs, GUIDs) case-insensitively.
func equalFold(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
