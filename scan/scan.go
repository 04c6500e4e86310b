// Package scan walks disk images into a block map: each disk, its
// partitions (fs/part), and in each partition the filesystem found by its
// magic (fs.Detect), walked by the walker registered for it (walkers.go).
// LVM2 physical volumes found on any of the disks are put together into
// volume groups (fs/lvm) once every disk has been read, so a VG spread
// over several disks is mapped whole: each logical volume is an object of
// kind l, and the filesystem inside it is walked through the LV's segments,
// every extent translated back to the disk (or disks) holding it.
//
// One broken partition does not stop the others: a filesystem that cannot
// be opened or walked is reported through Options.Warn, its partition stays
// in the map as a partition, and the scan goes on.
package scan

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/lvm"
	"github.com/virt-bmap/virt-bmap/fs/part"
)

// Options tune a scan. The zero value is silent.
type Options struct {
	// Warn receives every problem that was worked around, wrapped with the
	// disk and partition it happened in.
	Warn fs.WarnFunc
	// Progress, when set, is called after every object added to the map
	// with running totals for this disk: objects, and bytes of files,
	// directories and metadata mapped. It must be cheap (the caller
	// rate-limits what it prints).
	Progress func(objects, bytes int64)
}

// Summary describes one partition (or the whole disk, when it has no
// partition table) as the closing table shows it.
type Summary struct {
	Disk     int
	Device   string // "/dev/sda1"
	Scheme   string // "mbr", "gpt", or "" for a bare disk
	PartType string // partition type name: "Linux filesystem", "Extended"...
	Start    int64
	Size     int64
	FS       string // filesystem type as blkid names it, "" if none found
	Label    string
	Note     string // why a partition was not walked, or went wrong
	Files    int
	Dirs     int
	Bytes    int64 // bytes mapped to files, directories and metadata
}

// Disk adds disk number disk (1-based) to b: the disk itself, its partition
// table structures, its partitions and every object of every filesystem
// that can be walked. image is the path recorded in the map. It returns one
// Summary per partition. It fails only when the disk cannot be read at all;
// everything else is a warning.
//
// LVM2 volume groups whose PVs are all on this disk are mapped too; use
// Disks for a guest with several disks.
func Disk(b *bmap.Builder, disk int, image string, r io.ReaderAt, size int64, opt Options) ([]Summary, error) {
	return Disks(b, []DiskInput{{Index: disk, Image: image, R: r, Size: size}}, opt)
}

// DiskInput is one disk image for Disks.
type DiskInput struct {
	Index int    // 1-based disk number; 0 means its position in the list + 1
	Image string // path recorded in the map
	R     io.ReaderAt
	Size  int64
}

// Disks adds the disks to b as Disk does for one, then assembles the LVM2
// volume groups from the PVs found on all of them and adds their logical
// volumes (kind l, device /dev/VG/LV) and the files inside them. It returns
// the summaries of every disk's partitions, then one per LV. It fails when
// a disk cannot be read at all.
func Disks(b *bmap.Builder, disks []DiskInput, opt Options) ([]Summary, error) {
	s := &scanner{b: b, opt: opt}
	var sums []Summary
	for i, d := range disks {
		s.disk, s.r, s.size = d.Index, d.R, d.Size
		if s.disk == 0 {
			s.disk = i + 1
		}
		ds, err := s.run(d.Image)
		if err != nil {
			return nil, err
		}
		sums = append(sums, ds...)
	}
	return append(sums, s.volumeGroups()...), nil
}

type scanner struct {
	b       *bmap.Builder
	disk    int
	r       io.ReaderAt
	size    int64
	opt     Options
	objects int64
	bytes   int64
	pvs     []*lvm.PV // LVM2 physical volumes found so far, on every disk
	// perDisk holds the current entry's extents on each disk, reused from
	// entry to entry (the Builder copies).
	perDisk map[int][]fs.Extent
}

func (s *scanner) warn(err error) {
	if s.opt.Warn != nil {
		s.opt.Warn(err)
	}
}

func (s *scanner) add(o bmap.Object) {
	s.b.Add(o)
	s.objects++
	if o.Kind == fs.KindFile || o.Kind == fs.KindDir || o.Kind == fs.KindMeta {
		for _, e := range o.Extents { // the disk and partitions are not "walked"
			s.bytes += e.Len
		}
	}
	if s.opt.Progress != nil {
		s.opt.Progress(s.objects, s.bytes)
	}
}

func (s *scanner) run(image string) ([]Summary, error) {
	dev := part.DeviceName(s.disk, 0)
	if s.size <= 0 {
		return nil, fmt.Errorf("%s: %s: empty image", dev, image)
	}
	// Reading the first sector tells an unreadable image from a damaged one.
	var sector [512]byte
	if _, err := s.r.ReadAt(sector[:min(512, s.size)], 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %s: %w", dev, image, err)
	}
	s.b.AddDisk(bmap.Disk{Index: s.disk, Device: dev, Image: image, Size: s.size})
	s.add(bmap.Object{Disk: s.disk, Kind: fs.KindDisk, Device: dev,
		Extents: []fs.Extent{{Off: 0, Len: s.size, FileOff: -1, Role: fs.RoleMeta}}})

	tab, err := part.Read(s.r, s.size, func(err error) { s.warn(fmt.Errorf("%s: %w", dev, err)) })
	if err != nil {
		// No usable table: the disk may still hold a bare filesystem.
		s.warn(fmt.Errorf("%s: partition table: %w", dev, err))
		tab = &part.Table{}
	}
	if tab.Scheme == "" {
		sum := s.filesystem(Summary{Disk: s.disk, Device: dev, Start: 0, Size: s.size})
		return []Summary{sum}, nil
	}
	s.tableStructures(dev, tab)
	var sums []Summary
	for _, p := range tab.Partitions {
		pdev := part.DeviceName(s.disk, p.Number)
		s.add(bmap.Object{Disk: s.disk, Kind: fs.KindPartition, Device: pdev,
			Extents: []fs.Extent{{Off: p.Start, Len: p.Size, FileOff: -1, Role: fs.RoleMeta}}})
		sum := Summary{Disk: s.disk, Device: pdev, Scheme: string(tab.Scheme), PartType: p.TypeName,
			Start: p.Start, Size: p.Size}
		if sum.PartType == "" {
			sum.PartType = p.Type
		}
		if p.Extended {
			sum.Note = "extended partition: holds the logical partitions"
			sums = append(sums, sum)
			continue
		}
		sums = append(sums, s.filesystem(sum))
	}
	return sums, nil
}

// tableStructures maps the partition table's own sectors as metadata of
// the disk device, so a read of them is not reported as a read of nothing.
func (s *scanner) tableStructures(dev string, tab *part.Table) {
	for _, st := range tab.Regions {
		if st.Len <= 0 || st.Off < 0 || st.Off >= s.size {
			continue
		}
		s.add(bmap.Object{Disk: s.disk, Kind: fs.KindMeta, Device: dev, Path: st.Name,
			Extents: []fs.Extent{{Off: st.Off, Len: min(st.Len, s.size-st.Off), FileOff: -1, Role: fs.RoleMeta}}})
	}
}

// filesystem detects and walks the filesystem of one partition (or of the
// bare disk) and fills in the rest of its summary. An LVM2 PV is kept for
// volumeGroups.
func (s *scanner) filesystem(sum Summary) Summary {
	sec := io.NewSectionReader(s.r, sum.Start, sum.Size)
	disk, start := s.disk, sum.Start
	t := fs.Detect(sec, sum.Size)
	if t.Name == "LVM2_member" {
		return s.physicalVolume(sum, sec, t)
	}
	return s.walk(sum, t, sec, func(x fs.Extent, emit func(int, fs.Extent)) {
		// Clamp to the partition: a walker reports what its
		// filesystem says, and the filesystem may claim more than
		// the partition holds.
		if x.Off < 0 || x.Len <= 0 || x.Off >= sum.Size {
			return
		}
		if x.End() > sum.Size {
			x.Len = sum.Size - x.Off
		}
		x.Off += start
		emit(disk, x)
	})
}

// walk walks the filesystem of type t on the device r (a partition, a bare
// disk or an LV) and adds its objects, translating each extent the walker
// reports from device offsets to disk offsets with place (which calls emit
// once per disk run; an LV can put one extent on several disks).
func (s *scanner) walk(sum Summary, t fs.Type, r io.ReaderAt, place func(x fs.Extent, emit func(int, fs.Extent))) (out Summary) {
	where := fmt.Sprintf("%s at %#x", sum.Device, sum.Start)
	if sum.Scheme == "lvm" {
		where = sum.Device
	}
	sec := r
	sum.FS, sum.Label, sum.Note = t.Name, t.Label, t.Note
	if t.Name == "" {
		if sum.Note == "" {
			sum.Note = "no filesystem recognised"
		}
		return sum
	}
	open, ok := walkers[t.Name]
	if !ok {
		if t.Walkable { // a walkable type with no walker registered
			sum.Note = strings.TrimPrefix(sum.Note+"; files not mapped yet", "; ")
		}
		return sum
	}
	warn := func(err error) { s.warn(fmt.Errorf("%s: %w", where, err)) }
	// A walker must never panic (each is fuzzed); if one does all the
	// same, the partition is reported as not walked and the other
	// partitions are still mapped.
	defer func() {
		if r := recover(); r != nil {
			s.warn(fmt.Errorf("%s: %s walker failed (a bug: please report it with the image): %v", where, t.Name, r))
			out = sum
			out.Note = "walk failed: internal error"
		}
	}()
	w, err := open(sec, sum.Size, warn)
	if err != nil {
		s.warn(fmt.Errorf("%s: %w", where, err))
		sum.Note = "not walked: " + err.Error()
		return sum
	}
	if info := w.Info(); info.Label != "" {
		sum.Label = info.Label
	}
	if s.perDisk == nil {
		s.perDisk = map[int][]fs.Extent{}
	}
	var disks []int // the disks the current entry has extents on, in first-seen order
	emit := func(disk int, x fs.Extent) {
		if x.Len <= 0 {
			return
		}
		if !slices.Contains(disks, disk) {
			disks = append(disks, disk)
		}
		s.perDisk[disk] = append(s.perDisk[disk], x)
		sum.Bytes += x.Len
	}
	err = w.Walk(func(e fs.Entry) error {
		disks = disks[:0]
		for _, x := range e.Extents {
			place(x, emit)
		}
		switch e.Kind {
		case fs.KindFile:
			sum.Files++
		case fs.KindDir:
			sum.Dirs++
		}
		o := bmap.Object{Disk: sum.Disk, Kind: e.Kind, Device: sum.Device, Path: e.Path,
			Inode: e.Inode, Size: e.Size, Symlink: e.Symlink}
		if len(disks) == 0 {
			s.add(o) // an object without extents (an empty file) is still listed
		}
		slices.Sort(disks)
		for _, d := range disks {
			o.Disk, o.Extents = d, s.perDisk[d]
			s.add(o)
			s.perDisk[d] = o.Extents[:0]
		}
		return nil
	})
	if err != nil {
		s.warn(fmt.Errorf("%s: walk stopped: %w", where, err))
		sum.Note = "walk incomplete: " + err.Error()
	}
	return sum
}
