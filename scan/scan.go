// Package scan walks one disk image into a block map: the disk, its
// partitions (fs/part), and in each partition the filesystem found by its
// magic (fs.Detect), walked by the walker registered for it (walkers.go).
//
// One broken partition does not stop the others: a filesystem that cannot
// be opened or walked is reported through Options.Warn, its partition stays
// in the map as a partition, and the scan goes on.
package scan

import (
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
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
func Disk(b *bmap.Builder, disk int, image string, r io.ReaderAt, size int64, opt Options) ([]Summary, error) {
	s := &scanner{b: b, disk: disk, r: r, size: size, opt: opt}
	return s.run(image)
}

type scanner struct {
	b       *bmap.Builder
	disk    int
	r       io.ReaderAt
	size    int64
	opt     Options
	objects int64
	bytes   int64
	scratch []fs.Extent // reused for each walked entry: the Builder copies
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
// bare disk) and fills in the rest of its summary.
func (s *scanner) filesystem(sum Summary) (out Summary) {
	where := fmt.Sprintf("%s at %#x", sum.Device, sum.Start)
	sec := io.NewSectionReader(s.r, sum.Start, sum.Size)
	t := fs.Detect(sec, sum.Size)
	sum.FS, sum.Label, sum.Note = t.Name, t.Label, t.Note
	if t.Name == "" {
		if sum.Note == "" {
			sum.Note = "no filesystem recognised"
		}
		return sum
	}
	open, ok := walkers[t.Name]
	if !ok {
		if t.Walkable { // FAT and NTFS: the walker comes in a later release
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
	err = w.Walk(func(e fs.Entry) error {
		o := bmap.Object{Disk: s.disk, Kind: e.Kind, Device: sum.Device, Path: e.Path,
			Inode: e.Inode, Size: e.Size, Symlink: e.Symlink, Extents: s.scratch[:0]}
		for _, x := range e.Extents {
			// Clamp to the partition: a walker reports what its
			// filesystem says, and the filesystem may claim more than
			// the partition holds.
			if x.Off < 0 || x.Len <= 0 || x.Off >= sum.Size {
				continue
			}
			if x.End() > sum.Size {
				x.Len = sum.Size - x.Off
			}
			x.Off += sum.Start
			o.Extents = append(o.Extents, x)
			sum.Bytes += x.Len
		}
		switch e.Kind {
		case fs.KindFile:
			sum.Files++
		case fs.KindDir:
			sum.Dirs++
		}
		s.add(o)
		s.scratch = o.Extents
		return nil
	})
	if err != nil {
		s.warn(fmt.Errorf("%s: walk stopped: %w", where, err))
		sum.Note = "walk incomplete: " + err.Error()
	}
	return sum
}
