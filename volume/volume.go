// Package volume turns the disks of a guest into its block devices, the
// one place in virt-bmap where that is decided: whole disks, their
// partitions (volume/part: MBR with logical partitions, GPT), LVM2 logical
// volumes assembled from the physical volumes of every disk (volume/lvm:
// linear, striped, mirror legs, spanning several disks), unlocked LUKS
// containers (volume/luks), and whatever sits inside those (LVM on LUKS,
// LUKS on LVM), each with its Linux name, its bytes (an io.ReaderAt) and
// its placement back on the disks (Device.Map).
//
// The block-map scanner (scan), the inspector (inspect) and bmaplogger all
// see a guest through Open; nothing else reads partition tables or LVM
// metadata. Filesystems on the devices are opened through one registry
// (volume/filesystems.go: OpenWalker, OpenFS).
//
// Open never stops at a damaged structure: a partition table, PV or LUKS
// header that cannot be read is a warning (Options.Warn) and a Note on the
// device, and the other devices are still listed.
package volume

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/registry"
	"github.com/virt-bmap/virt-bmap/volume/lvm"
	"github.com/virt-bmap/virt-bmap/volume/part"
)

// Disk is one disk image of the guest.
type Disk struct {
	Index int    // 1-based disk number (/dev/sda is 1); 0 means its position in the list + 1
	Image string // the image's path, for the map and for messages
	R     io.ReaderAt
	Size  int64
}

// Kind says what a device is.
type Kind int

const (
	KindDisk      Kind = iota // a whole disk: /dev/sda
	KindPartition             // a partition: /dev/sda1
	KindExtended              // an MBR extended container: mapped, never probed
	KindLV                    // an LVM logical volume: /dev/VG/LV
	KindCrypt                 // an unlocked LUKS container: /dev/mapper/luks-UUID
)

func (k Kind) String() string {
	switch k {
	case KindDisk:
		return "disk"
	case KindPartition:
		return "partition"
	case KindExtended:
		return "extended partition"
	case KindLV:
		return "logical volume"
	case KindCrypt:
		return "crypt"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Device is one block device of the guest.
type Device struct {
	Name string // "/dev/sda", "/dev/sda1", "/dev/VG/LV", "/dev/mapper/luks-UUID"
	Kind Kind
	// Disk is the disk the device is on: for an LV or a LUKS volume, the
	// disk of its first byte (0 when that cannot be placed).
	Disk int
	R    io.ReaderAt // the device's bytes, from its first byte
	Size int64
	// Parent is the device this one lies in (a partition's disk, a LUKS
	// volume's container); nil for a disk and for an LV, whose bytes lie
	// on its PVs.
	Parent *Device
	// Type is what fs.Detect found on the device (an LVM2 PV, a LUKS
	// container, a filesystem, or nothing). Not set for an extended
	// partition.
	Type fs.Type
	// Probed is set when Type was detected: not for an extended
	// container, a partitioned disk, or an LV whose bytes cannot all be
	// placed (a filesystem cannot be read through a hole).
	Probed bool
	// Note says why the device is not used further, or what went wrong
	// while reading its structures ("" when all is well).
	Note string
	// Structures are the on-disk structures of the device's container
	// format, in the device's own offsets: a disk's partition table, a
	// PV's label and metadata areas, a LUKS header and key slots. The map
	// lists them as metadata of the device.
	Structures []Structure

	// Partitions.
	Scheme    string // "mbr", "gpt" ("" for other devices); "lvm" for an LV
	PartNum   int    // Linux partition number
	PartType  string // partition type name ("Linux filesystem"); for an LV, its segment types ("linear", "striped")
	PartUUID  string // GPT unique partition GUID, upper-case
	PartLabel string // GPT partition name
	MBRID     uint32 // MBR disk signature (PARTUUID is "%08x-%02d" of it and PartNum)
	Start     int64  // offset in the parent device (partition, LUKS payload)

	// Logical volumes.
	VG, LV string
	// DMUUID is an LV's device-mapper UUID, what udev links as
	// /dev/disk/by-id/dm-uuid-DMUUID: "LVM-" then the VG and LV UUIDs
	// without their dashes; for a LUKS volume, "CRYPT-LUKSn-UUID-NAME".
	DMUUID string

	// LUKS: the container's UUID, on the container device and on the
	// unlocked volume alike.
	LUKSUUID string

	vg      *lvm.VG
	lvol    *lvm.LV
	pvOf    map[*lvm.PV]*Device // for an LV: the device of each PV
	mapping func(off, n int64, fn func(disk int, off, n int64) error) error
}

// Structure is a container-format structure of a device.
type Structure struct {
	Name     string // "MBR", "GPT header", "LVM label", "LUKS2 keyslot 0 area"...
	Off, Len int64
}

// Map places the device's bytes [off, off+n) on the disks, calling fn for
// each run in device order with the disk number and the disk offset. Bytes
// past the device's end are dropped; bytes that cannot be placed (an LV
// segment on a missing PV) make an error after the runs before them.
func (d *Device) Map(off, n int64, fn func(disk int, off, n int64) error) error {
	if off < 0 || n <= 0 || off >= d.Size {
		return nil
	}
	n = min(n, d.Size-off)
	return d.mapping(off, n, fn)
}

// Layout returns where the whole device lies on the disks, one run per
// contiguous piece, for the device's own object in the map. An LV's
// stripes are given as whole stripe areas, not cut into chunks.
func (d *Device) Layout() ([]Piece, error) {
	var out []Piece
	add := func(disk int, off, n int64) error {
		if k := len(out); k > 0 && out[k-1].Disk == disk && out[k-1].Off+out[k-1].Len == off {
			out[k-1].Len += n
			return nil
		}
		out = append(out, Piece{Disk: disk, Off: off, Len: n})
		return nil
	}
	if d.Kind != KindLV {
		err := d.Map(0, d.Size, add)
		return out, err
	}
	ext, err := d.vg.Extents(d.lvol)
	for _, e := range ext {
		pd := d.pvOf[e.PV.PV]
		if pd == nil {
			continue
		}
		if merr := pd.Map(e.PVOff, e.Len, add); merr != nil && err == nil {
			err = merr
		}
	}
	return out, err
}

// Piece is a run of a device's bytes on one disk.
type Piece struct {
	Disk     int
	Off, Len int64
}

// Probeable reports whether the device may hold a filesystem (or a PV, or
// a LUKS container): everything but an extended partition's container.
func (d *Device) Probeable() bool { return d.Kind != KindExtended }

// Options tune Open. The zero value discards warnings and unlocks nothing.
type Options struct {
	// Warn receives every problem worked around, naming the device.
	Warn fs.WarnFunc
	// Keys gives the passphrases for LUKS containers (nil: none is
	// unlocked; the container is listed with its header).
	Keys Keys
}

// Stack is the guest's devices, in the order the map lists them: each
// disk, then its partitions; then the LVs of the volume groups assembled
// from every disk; each unlocked LUKS volume right after its container.
type Stack struct {
	Disks   []Disk
	Devices []*Device
	// Crypt lists every LUKS container found, unlocked or not.
	Crypt []*Device
}

// maxNesting bounds how deep devices nest inside each other (LVM on LUKS
// on LVM...): an image cannot make Open loop.
const maxNesting = 8

// Open lists the block devices of the guest made of disks. It fails only
// when a disk cannot be read at all (an empty image, an I/O error on its
// first sector).
func Open(disks []Disk, opt Options) (*Stack, error) {
	st := &Stack{}
	o := &opener{st: st, opt: opt, done: map[*lvm.PV]bool{}}
	if o.opt.Warn == nil {
		o.opt.Warn = func(error) {}
	}
	for i, d := range disks {
		if d.Index == 0 {
			d.Index = i + 1
		}
		if err := o.disk(d); err != nil {
			return nil, err
		}
		st.Disks = append(st.Disks, d)
	}
	// LVs may hold PVs or LUKS containers in turn: assemble again while
	// new PVs appear.
	for range maxNesting {
		if !o.volumeGroups() {
			break
		}
	}
	return st, nil
}

type opener struct {
	st   *Stack
	opt  Options
	pvs  []*lvm.PV
	pvOf map[*lvm.PV]*Device
	done map[*lvm.PV]bool // PVs already assembled into VGs
	// vgs already listed, by UUID: a later round adds only new ones.
	vgs []string
}

func (o *opener) warn(dev string, err error) { o.opt.Warn(fmt.Errorf("%s: %w", dev, err)) }

func (o *opener) add(d *Device, depth int) {
	o.st.Devices = append(o.st.Devices, d)
	if d.Probeable() {
		o.probe(d, depth)
	}
}

func (o *opener) disk(d Disk) error {
	dev := part.DeviceName(d.Index, 0)
	if d.Size <= 0 {
		return fmt.Errorf("%s: %s: empty image", dev, d.Image)
	}
	// Reading the first sector tells an unreadable image from a damaged one.
	var sector [512]byte
	if _, err := d.R.ReadAt(sector[:min(512, d.Size)], 0); err != nil && err != io.EOF {
		return fmt.Errorf("%s: %s: %w", dev, d.Image, err)
	}
	index := d.Index
	disk := &Device{Name: dev, Kind: KindDisk, Disk: index, R: d.R, Size: d.Size,
		mapping: func(off, n int64, fn func(int, int64, int64) error) error { return fn(index, off, n) }}
	tab, err := part.Read(d.R, d.Size, func(err error) { o.warn(dev, err) })
	if err != nil {
		// No usable table: the disk may still hold a bare filesystem.
		o.warn(dev, fmt.Errorf("partition table: %w", err))
		tab = &part.Table{}
	}
	if tab.Scheme == part.SchemeNone {
		o.add(disk, 0)
		return nil
	}
	disk.Scheme = string(tab.Scheme)
	for _, r := range tab.Regions {
		disk.Structures = append(disk.Structures, Structure{Name: r.Name, Off: r.Off, Len: r.Len})
	}
	disk.Structures = append(disk.Structures, bootCode(d.R, d.Size)...)
	o.st.Devices = append(o.st.Devices, disk) // a partitioned disk is not probed
	for _, p := range tab.Partitions {
		pd := &Device{Name: part.DeviceName(index, p.Number), Kind: KindPartition, Disk: index, Parent: disk,
			R: io.NewSectionReader(d.R, p.Start, p.Size), Size: p.Size,
			Scheme: string(tab.Scheme), PartNum: p.Number, PartType: p.TypeName, Start: p.Start}
		pd.mapping = sub(disk, p.Start)
		if pd.PartType == "" {
			pd.PartType = p.Type
		}
		if tab.Scheme == part.SchemeGPT {
			pd.PartUUID, pd.PartLabel = p.GUID, p.Name
		} else {
			pd.MBRID = tab.DiskID
		}
		if p.Extended {
			pd.Kind = KindExtended
			pd.Note = "extended partition: holds the logical partitions"
		}
		o.add(pd, 0)
	}
	return nil
}

// sub maps a device lying at start in parent.
func sub(parent *Device, start int64) func(off, n int64, fn func(int, int64, int64) error) error {
	return func(off, n int64, fn func(int, int64, int64) error) error {
		return parent.Map(start+off, n, fn)
	}
}

// probe detects what d holds and follows it: a PV is kept for the next
// assembly, a LUKS container is unlocked when a key is given.
func (o *opener) probe(d *Device, depth int) {
	d.Type, d.Probed = registry.Detect(d.R, d.Size), true
	switch d.Type.Name {
	case "LVM2_member":
		o.physicalVolume(d)
	case "crypto_LUKS":
		o.crypt(d, depth)
	}
}

func (o *opener) physicalVolume(d *Device) {
	pv, err := lvm.ReadPV(d.R, d.Size, func(err error) { o.warn(d.Name, err) })
	if err != nil {
		o.warn(d.Name, err)
		d.Note = "LVM2 physical volume: " + err.Error()
		return
	}
	d.Note = "LVM2 physical volume"
	pv.Disk, pv.Device = d.Disk, d.Name
	if d.Kind == KindPartition || d.Kind == KindDisk {
		pv.Off = d.Start
	}
	d.Structures = append(d.Structures, Structure{Name: "LVM label", Off: pv.Label.Sector * 512, Len: 512})
	for _, a := range pv.Label.MetaAreas {
		d.Structures = append(d.Structures, Structure{Name: "LVM metadata area", Off: a.Off, Len: a.Size})
	}
	if o.pvOf == nil {
		o.pvOf = map[*lvm.PV]*Device{}
	}
	o.pvOf[pv] = d
	o.pvs = append(o.pvs, pv)
}

// volumeGroups assembles the VGs of the PVs found so far and adds the
// visible LVs of those not listed yet. It reports whether it added any.
func (o *opener) volumeGroups() bool {
	var fresh []*lvm.PV
	for _, pv := range o.pvs {
		if !o.done[pv] {
			fresh = append(fresh, pv)
		}
	}
	if len(fresh) == 0 {
		return false
	}
	for _, pv := range fresh {
		o.done[pv] = true
	}
	// Assemble from every PV: a VG's PVs may have been found in
	// different rounds (one on a disk, one inside a LUKS volume).
	added := false
	for _, vg := range lvm.Assemble(o.pvs, o.opt.Warn) {
		if slices.Contains(o.vgs, vg.UUID) {
			continue
		}
		o.vgs = append(o.vgs, vg.UUID)
		for _, lv := range vg.LVs {
			if lv.Visible {
				o.logicalVolume(vg, lv)
				added = true
			}
		}
	}
	return added
}

func (o *opener) logicalVolume(vg *lvm.VG, lv *lvm.LV) {
	name := lvm.DevicePath(vg.Name, lv.Name)
	d := &Device{Name: name, Kind: KindLV, R: vg.NewReader(lv), Size: lv.Size, Scheme: "lvm",
		VG: vg.Name, LV: lv.Name, DMUUID: "LVM-" + strings.ReplaceAll(vg.UUID+lv.UUID, "-", ""),
		Note: lv.Note, vg: vg, lvol: lv, pvOf: o.pvOf}
	var types []string
	for _, seg := range lv.Segments {
		typ := seg.Type
		if typ == "striped" && len(seg.Areas) == 1 {
			typ = "linear"
		}
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	d.PartType = strings.Join(types, "+")
	d.mapping = func(off, n int64, fn func(int, int64, int64) error) error {
		return vg.Map(lv, off, n, func(p lvm.Piece) error {
			pd := o.pvOf[p.PV.PV]
			if pd == nil {
				return fmt.Errorf("%w: PV %s has no device", lvm.ErrUnmapped, p.PV.Name)
			}
			return pd.Map(p.PVOff, p.Len, fn)
		})
	}
	if ext, err := vg.Extents(lv); err != nil {
		o.warn(name, err)
		if d.Note == "" {
			d.Note = "not all mapped: " + err.Error()
		}
		// A filesystem cannot be read through a hole: list the LV, do
		// not probe it.
		o.st.Devices = append(o.st.Devices, d)
		d.Disk = firstDisk(d)
		return
	} else if len(ext) > 0 {
		d.Disk = firstDisk(d)
	}
	o.add(d, 1)
	if d.Type.Name == "LVM2_member" && d.Note == "LVM2 physical volume" {
		d.Note = "LVM2 PV inside an LV"
	}
}

// firstDisk is the disk of the device's first placed byte, 0 if none.
func firstDisk(d *Device) int {
	disk := 0
	stop := errors.New("stop")
	_ = d.Map(0, d.Size, func(dk int, _, _ int64) error { disk = dk; return stop })
	if disk == 0 {
		if l, _ := d.Layout(); len(l) > 0 {
			disk = l[0].Disk
		}
	}
	return disk
}
