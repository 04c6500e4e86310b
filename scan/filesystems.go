package scan

import (
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/lvm"
	"github.com/virt-bmap/virt-bmap/fs/part"
)

// Volume is one device of a guest that may hold a filesystem: a partition,
// a bare disk without a partition table, or a visible LVM logical volume.
// It is what Volumes finds without walking anything, for callers (the
// inspector) that read files by path instead of mapping blocks.
type Volume struct {
	Disk   int    // 1-based disk number; for an LV, the disk of its first extent (0 if unmapped)
	Device string // "/dev/sda1", "/dev/sda" for a bare disk, "/dev/VG/LV" for an LV
	// VG and LV name a logical volume ("" for a partition or a disk).
	VG, LV string
	// DMUUID is an LV's device-mapper UUID, what udev links as
	// /dev/disk/by-id/dm-uuid-DMUUID: "LVM-" then the VG and LV UUIDs
	// without their dashes.
	DMUUID string
	// PartUUID is the GPT unique partition GUID (upper-case), "" otherwise.
	PartUUID string
	// PartLabel is the GPT partition name (fstab's PARTLABEL=), "" otherwise.
	PartLabel string
	// MBRID and PartNum give the PARTUUID Linux makes for an MBR partition
	// ("%08x-%02d"): the disk signature and the partition number.
	MBRID   uint32
	PartNum int
	// Start is the partition's offset on its disk in bytes (0 for a bare
	// disk and for an LV).
	Start int64
	Type  fs.Type     // what fs.Detect found ("LVM2_member" PVs are listed too)
	R     io.ReaderAt // the device's bytes, from its first byte
	Size  int64
}

// Volumes lists every partition (extended containers excepted), every bare
// disk and every visible LV of the VGs assembled from the PVs on all disks,
// in the order Disks would map them, each with the type fs.Detect gives.
// Problems are passed to warn (which may be nil) and do not stop the
// listing; it fails only when a disk cannot be read at all.
func Volumes(disks []DiskInput, warn fs.WarnFunc) ([]Volume, error) {
	if warn == nil {
		warn = func(error) {}
	}
	var vols []Volume
	var pvs []*lvm.PV
	add := func(v Volume) {
		v.Type = fs.Detect(v.R, v.Size)
		if v.Type.Name == "LVM2_member" && v.LV == "" {
			pv, err := lvm.ReadPV(v.R, v.Size, func(err error) { warn(fmt.Errorf("%s: %w", v.Device, err)) })
			if err != nil {
				warn(fmt.Errorf("%s: %w", v.Device, err))
			} else {
				pv.Disk, pv.Device = v.Disk, v.Device
				if s, ok := v.R.(*io.SectionReader); ok {
					_, pv.Off, _ = s.Outer()
				}
				pvs = append(pvs, pv)
			}
		}
		vols = append(vols, v)
	}
	for i, d := range disks {
		disk := d.Index
		if disk == 0 {
			disk = i + 1
		}
		dev := part.DeviceName(disk, 0)
		if d.Size <= 0 {
			return nil, fmt.Errorf("%s: %s: empty image", dev, d.Image)
		}
		var sector [512]byte
		if _, err := d.R.ReadAt(sector[:min(512, d.Size)], 0); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %s: %w", dev, d.Image, err)
		}
		tab, err := part.Read(d.R, d.Size, func(err error) { warn(fmt.Errorf("%s: %w", dev, err)) })
		if err != nil {
			warn(fmt.Errorf("%s: partition table: %w", dev, err))
			tab = &part.Table{}
		}
		if tab.Scheme == part.SchemeNone {
			add(Volume{Disk: disk, Device: dev, R: io.NewSectionReader(d.R, 0, d.Size), Size: d.Size})
			continue
		}
		for _, p := range tab.Partitions {
			if p.Extended {
				continue
			}
			v := Volume{Disk: disk, Device: part.DeviceName(disk, p.Number), PartNum: p.Number, Start: p.Start,
				R: io.NewSectionReader(d.R, p.Start, p.Size), Size: p.Size}
			if tab.Scheme == part.SchemeGPT {
				v.PartUUID, v.PartLabel = p.GUID, p.Name
			} else {
				v.MBRID = tab.DiskID
			}
			add(v)
		}
	}
	if len(pvs) == 0 {
		return vols, nil
	}
	for _, vg := range lvm.Assemble(pvs, warn) {
		for _, lv := range vg.LVs {
			if !lv.Visible {
				continue
			}
			ext, err := vg.Extents(lv)
			if err != nil {
				warn(fmt.Errorf("%s: %w", lvm.DevicePath(vg.Name, lv.Name), err))
				continue // a filesystem cannot be read through a hole
			}
			v := Volume{Device: lvm.DevicePath(vg.Name, lv.Name), VG: vg.Name, LV: lv.Name,
				DMUUID: "LVM-" + strings.ReplaceAll(vg.UUID+lv.UUID, "-", ""),
				R:      vg.NewReader(lv), Size: lv.Size}
			if len(ext) > 0 {
				v.Disk = ext[0].PV.PV.Disk
			}
			add(v)
		}
	}
	return vols, nil
}
