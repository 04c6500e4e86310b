package scan

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/lvm"
)

// physicalVolume reads the LVM2 label and metadata of a PV partition (or
// bare disk), maps them as metadata of the partition's device and keeps
// the PV for volumeGroups.
func (s *scanner) physicalVolume(sum Summary, sec *io.SectionReader, t fs.Type) Summary {
	sum.FS, sum.Label, sum.Note = t.Name, t.Label, "LVM2 physical volume"
	where := fmt.Sprintf("%s at %#x", sum.Device, sum.Start)
	pv, err := lvm.ReadPV(sec, sum.Size, func(err error) { s.warn(fmt.Errorf("%s: %w", where, err)) })
	if err != nil {
		s.warn(fmt.Errorf("%s: %w", where, err))
		sum.Note = "LVM2 physical volume: " + err.Error()
		return sum
	}
	pv.Disk, pv.Off, pv.Device = s.disk, sum.Start, sum.Device
	s.pvs = append(s.pvs, pv)
	meta := func(name string, off, n int64) {
		if off < 0 || n <= 0 || off >= sum.Size {
			return
		}
		n = min(n, sum.Size-off)
		s.add(bmap.Object{Disk: s.disk, Kind: fs.KindMeta, Device: sum.Device, Path: name,
			Extents: []fs.Extent{{Off: sum.Start + off, Len: n, FileOff: -1, Role: fs.RoleMeta}}})
		sum.Bytes += n
	}
	meta("LVM label", pv.Label.Sector*512, 512)
	for _, a := range pv.Label.MetaAreas {
		meta("LVM metadata area", a.Off, a.Size)
	}
	return sum
}

// volumeGroups assembles the VGs of every PV found, and adds each visible
// LV and the filesystem inside it.
func (s *scanner) volumeGroups() []Summary {
	if len(s.pvs) == 0 {
		return nil
	}
	var sums []Summary
	for _, vg := range lvm.Assemble(s.pvs, func(err error) { s.warn(err) }) {
		for _, lv := range vg.LVs {
			if lv.Visible {
				sums = append(sums, s.logicalVolume(vg, lv))
			}
		}
	}
	return sums
}

func (s *scanner) logicalVolume(vg *lvm.VG, lv *lvm.LV) Summary {
	dev := lvm.DevicePath(vg.Name, lv.Name)
	sum := Summary{Device: dev, Scheme: "lvm", Size: lv.Size, Note: lv.Note}
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
	sum.PartType = strings.Join(types, "+")
	ext, err := vg.Extents(lv)
	if err != nil {
		s.warn(fmt.Errorf("%s: %w", dev, err))
		if sum.Note == "" {
			sum.Note = "not all mapped: " + err.Error()
		}
	}
	// The LV object: one per disk it lies on, disks in order.
	byDisk := map[int][]fs.Extent{}
	var disks []int
	for _, e := range ext {
		d := e.PV.PV.Disk
		if _, ok := byDisk[d]; !ok {
			disks = append(disks, d)
		}
		byDisk[d] = append(byDisk[d], fs.Extent{Off: e.PV.PV.Off + e.PVOff, Len: e.Len, FileOff: -1, Role: fs.RoleMeta})
	}
	slices.Sort(disks)
	for _, d := range disks {
		s.add(bmap.Object{Disk: d, Kind: fs.KindLV, Device: dev, Extents: byDisk[d]})
	}
	if len(disks) > 0 {
		sum.Disk = disks[0]
	}
	if err != nil {
		return sum // a filesystem cannot be read through a hole
	}
	r := vg.NewReader(lv)
	t := fs.Detect(r, lv.Size)
	if t.Name == "LVM2_member" {
		sum.FS, sum.Note = t.Name, "LVM2 PV inside an LV: not assembled"
		return sum
	}
	out := s.walk(sum, t, r, func(x fs.Extent, emit func(int, fs.Extent)) {
		if x.Off < 0 || x.Len <= 0 || x.Off >= lv.Size {
			return
		}
		x.Len = min(x.Len, lv.Size-x.Off)
		err := vg.Map(lv, x.Off, x.Len, func(p lvm.Piece) error {
			y := x
			y.Off, y.Len = p.PV.PV.Off+p.PVOff, p.Len
			if x.FileOff >= 0 {
				y.FileOff = x.FileOff + (p.LVOff - x.Off)
			}
			emit(p.PV.PV.Disk, y)
			return nil
		})
		if err != nil && !errors.Is(err, lvm.ErrUnmapped) {
			s.warn(fmt.Errorf("%s: %w", dev, err))
		}
	})
	if out.Note == "" {
		out.Note = lv.Note
	}
	return out
}
