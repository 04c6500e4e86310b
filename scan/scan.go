// Package scan walks a guest's devices into a block map. The devices come
// from the volume stack (package volume: disks, MBR/GPT partitions, LVM2
// logical volumes across disks, unlocked LUKS volumes); scan adds each as
// an object (v for a disk, p for a partition, l for a logical or LUKS
// volume), its container structures (partition tables, LVM labels and
// metadata areas, LUKS headers) as metadata, and walks the filesystem on
// it with the walker the filesystem registry (fs/registry) gives, every
// extent placed back on the disk (or disks) holding it by Device.Map.
//
// One broken partition does not stop the others: a filesystem that cannot
// be opened or walked is reported through Options.Warn, its device stays
// in the map, and the scan goes on.
package scan

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/registry"
	"github.com/virt-bmap/virt-bmap/internal/warncap"
	"github.com/virt-bmap/virt-bmap/volume"
	"github.com/virt-bmap/virt-bmap/volume/lvm"
)

// Options tune a scan. The zero value is silent.
type Options struct {
	// Warn receives every problem that was worked around, wrapped with the
	// disk and partition it happened in.
	Warn fs.WarnFunc
	// Progress, when set, is called after every object added to the map
	// with running totals: objects, and bytes of files, directories and
	// metadata mapped. It must be cheap (the caller rate-limits what it
	// prints).
	Progress func(objects, bytes int64)
	// Keys unlock LUKS containers (volume.Options.Keys).
	Keys volume.Keys
}

// Summary describes one device (a partition, a bare disk, an LV, a LUKS
// volume) as the closing table shows it.
type Summary struct {
	Disk     int
	Device   string // "/dev/sda1"
	Scheme   string // "mbr", "gpt", "lvm", "luks", or "" for a bare disk
	PartType string // partition type name: "Linux filesystem", "Extended"...
	Start    int64
	Size     int64
	FS       string // filesystem type as blkid names it, "" if none found
	Label    string
	Note     string // why a device was not walked, or went wrong
	Files    int
	Dirs     int
	Bytes    int64 // bytes mapped to files, directories and metadata
	// Status says how completely the device was mapped; Reasons, when it
	// is not complete, why (the first problems, and how many more).
	Status   bmap.Status
	Reasons  []string
	Problems int // warnings met while walking the device
}

// Unmapped says, in one line, why the device was not fully mapped:
// "/dev/sda5 (ext4): unreadable: REASON (and 12 more problems)". It is ""
// when the status is not one that leaves data out (Status.Unmapped).
func (s Summary) Unmapped() string {
	if !s.Status.Unmapped() {
		return ""
	}
	what := s.FS
	if what == "" {
		what = s.PartType
	}
	if what != "" {
		what = " (" + what + ")"
	}
	reason := ""
	if len(s.Reasons) > 0 {
		reason = ": " + s.Reasons[0]
		if s.Problems > 1 {
			reason += fmt.Sprintf(" (and %s more problems)", warncap.Thousands(s.Problems-1))
		}
	}
	return s.Device + what + ": " + string(s.Status) + reason
}

// maxReasons is how many problems a Summary quotes.
const maxReasons = 3

func (s *Summary) problem(err error) {
	s.Problems++
	if len(s.Reasons) < maxReasons {
		s.Reasons = append(s.Reasons, err.Error())
	}
}

// Disk maps one disk: Disks with a single disk numbered disk (1-based).
func Disk(b *bmap.Builder, disk int, image string, r io.ReaderAt, size int64, opt Options) ([]Summary, error) {
	return Disks(b, []volume.Disk{{Index: disk, Image: image, R: r, Size: size}}, opt)
}

// Disks lists the guest's devices (volume.Open) and maps them into b:
// every disk, its partition table structures, its partitions, the LVM2
// logical volumes assembled from the PVs of all the disks, unlocked LUKS
// volumes, and every object of every filesystem that can be walked. It
// returns one Summary per device but the partitioned disks themselves. It
// fails only when a disk cannot be read at all; everything else is a
// warning.
func Disks(b *bmap.Builder, disks []volume.Disk, opt Options) ([]Summary, error) {
	st, err := volume.Open(disks, volume.Options{Warn: opt.Warn, Keys: opt.Keys})
	if err != nil {
		return nil, err
	}
	return Stack(b, st, opt), nil
}

// Stack maps the devices of an opened stack into b.
func Stack(b *bmap.Builder, st *volume.Stack, opt Options) []Summary {
	s := &scanner{b: b, opt: opt}
	for _, d := range st.Disks {
		b.AddDisk(bmap.Disk{Index: d.Index, Device: diskName(st, d.Index), Image: d.Image, Size: d.Size})
	}
	var sums []Summary
	for _, d := range st.Devices {
		if sum, ok := s.device(d); ok {
			sum.settle(d)
			sums = append(sums, sum)
			b.AddVolume(bmap.Volume{Device: sum.Device, Disk: sum.Disk, FS: sum.FS, Status: sum.Status,
				Reasons: sum.Reasons, Files: sum.Files, Dirs: sum.Dirs, Bytes: sum.Bytes})
		}
	}
	return sums
}

// noFSTypes are partition types that hold no filesystem by design.
var noFSTypes = map[string]bool{
	"BIOS boot":            true,
	"Microsoft reserved":   true,
	"Linux swap":           true,
	"Linux swap / Solaris": true,
	"FreeBSD swap":         true,
	"FreeBSD boot":         true,
	"Empty":                true,
}

// settle sets the summary's status from what the scan found, unless the
// scan set it already.
func (s *Summary) settle(d *volume.Device) {
	if s.Status == "" {
		switch {
		case d.Kind == volume.KindExtended:
			s.Status = bmap.StatusContainer
		case s.FS == "LVM2_member", s.FS == "crypto_LUKS" && d.Note == "":
			s.Status = bmap.StatusContainer
		case s.FS == "crypto_LUKS":
			s.Status = bmap.StatusLocked
		case s.FS == "swap", s.FS == "" && noFSTypes[s.PartType]:
			s.Status = bmap.StatusNoFS
		case s.FS == "" && looksEmpty(d.R, d.Size):
			s.Status = bmap.StatusEmpty
		case s.FS == "":
			s.Status = bmap.StatusNotRecognised
		case !registry.Readable(s.FS):
			s.Status = bmap.StatusNotWalked
		default:
			s.Status = bmap.StatusComplete
		}
	}
	if s.Status == bmap.StatusComplete && s.Problems > 0 {
		s.Status = bmap.StatusPartial
	}
	if s.Status.Unmapped() && len(s.Reasons) == 0 && s.Note != "" {
		s.Reasons = []string{s.Note}
	}
	if s.Problems > len(s.Reasons) && len(s.Reasons) > 0 {
		s.Reasons = append(s.Reasons, fmt.Sprintf("… and %d more problems", s.Problems-len(s.Reasons)))
	}
}

func diskName(st *volume.Stack, index int) string {
	for _, d := range st.Devices {
		if d.Kind == volume.KindDisk && d.Disk == index {
			return d.Name
		}
	}
	return ""
}

type scanner struct {
	b       *bmap.Builder
	opt     Options
	objects int64
	bytes   int64
	// perDisk holds the current entry's extents on each disk, reused from
	// entry to entry (the Builder copies).
	perDisk map[int][]bmap.Extent
}

func (s *scanner) warn(err error) {
	if s.opt.Warn != nil {
		s.opt.Warn(err)
	}
}

func (s *scanner) add(o bmap.Object) {
	s.b.Add(o)
	s.objects++
	if o.Kind == bmap.KindFile || o.Kind == bmap.KindDir || o.Kind == bmap.KindMeta {
		for _, e := range o.Extents { // the disk and partitions are not "walked"
			s.bytes += e.Len
		}
	}
	if s.opt.Progress != nil {
		s.opt.Progress(s.objects, s.bytes)
	}
}

// objectsHinter is a walker that can guess, from its filesystem's
// counts, about how many objects its Walk reports (fs/ext: the inodes in
// use; fs/ntfs: the MFT's records), so that the builder makes room for
// them at once.
type objectsHinter interface{ ObjectsHint() int64 }

// openFS opens a filesystem for walking; tests replace it.
var openFS = registry.Open

// objectKind is the kind of a device's own object in the map.
func objectKind(d *volume.Device) bmap.Kind {
	switch d.Kind {
	case volume.KindDisk:
		return bmap.KindDisk
	case volume.KindPartition, volume.KindExtended:
		return bmap.KindPartition
	}
	return bmap.KindLV
}

// device adds d's own object(s) (one per disk it lies on), its container
// structures, and its filesystem. A partitioned disk has no summary line.
func (s *scanner) device(d *volume.Device) (Summary, bool) {
	layout, lerr := d.Layout()
	byDisk := map[int][]bmap.Extent{}
	var disks []int
	for _, p := range layout {
		if _, ok := byDisk[p.Disk]; !ok {
			disks = append(disks, p.Disk)
		}
		byDisk[p.Disk] = append(byDisk[p.Disk], bmap.Extent{Off: p.Off, Len: p.Len, FileOff: -1, Role: bmap.RoleMeta})
	}
	slices.Sort(disks)
	for _, dk := range disks {
		s.add(bmap.Object{Disk: dk, Kind: objectKind(d), Device: d.Name, Extents: byDisk[dk]})
	}
	sum := Summary{Disk: d.Disk, Device: d.Name, Scheme: d.Scheme, PartType: d.PartType, Start: d.Start,
		Size: d.Size, Note: d.Note}
	switch d.Kind {
	case volume.KindDisk:
		sum.Scheme = ""
	case volume.KindCrypt:
		sum.Scheme, sum.PartType = "luks", "LUKS volume of "+d.Parent.Name
	}
	if lerr != nil && d.Kind == volume.KindLV {
		if sum.Note == "" {
			sum.Note = "not all mapped: " + lerr.Error()
		}
		sum.Status = bmap.StatusPartial
		sum.problem(lerr)
	}
	s.structures(d, &sum)
	if d.Kind == volume.KindDisk && d.Scheme != "" {
		return sum, false // its partitions have the lines
	}
	if !d.Probed {
		return sum, true // an extended container, or an LV with holes
	}
	switch d.Type.Name {
	case "LVM2_member", "crypto_LUKS":
		sum.FS, sum.Label = d.Type.Name, d.Type.Label
		return sum, true
	}
	return s.walk(sum, d), true
}

// structures maps the container structures of d (partition table, LVM
// label and metadata areas, LUKS header and key slots) as metadata of d.
func (s *scanner) structures(d *volume.Device, sum *Summary) {
	for _, st := range d.Structures {
		if st.Len <= 0 || st.Off < 0 || st.Off >= d.Size {
			continue
		}
		n := min(st.Len, d.Size-st.Off)
		s.place(d, bmap.Extent{Off: st.Off, Len: n, FileOff: -1, Role: bmap.RoleMeta}, bmap.Object{Kind: bmap.KindMeta, Device: d.Name, Path: st.Name}, sum)
	}
}

// place adds object o with the one extent x of device d, split by disk.
func (s *scanner) place(d *volume.Device, x bmap.Extent, o bmap.Object, sum *Summary) {
	byDisk := map[int][]bmap.Extent{}
	var disks []int
	err := d.Map(x.Off, x.Len, func(disk int, off, n int64) error {
		if _, ok := byDisk[disk]; !ok {
			disks = append(disks, disk)
		}
		byDisk[disk] = append(byDisk[disk], bmap.Extent{Off: off, Len: n, FileOff: -1, Role: x.Role})
		return nil
	})
	if err != nil {
		s.warn(fmt.Errorf("%s: %s: %w", d.Name, o.Path, err))
	}
	slices.Sort(disks)
	for _, dk := range disks {
		o.Disk, o.Extents = dk, byDisk[dk]
		for _, e := range o.Extents {
			sum.Bytes += e.Len
		}
		s.add(o)
	}
}

// walk opens the filesystem of d through the registry and adds its
// objects, translating each extent the walker reports from device offsets
// to disk offsets with Device.Map (an LV can put one extent on several
// disks).
func (s *scanner) walk(sum Summary, d *volume.Device) (out Summary) {
	where := fmt.Sprintf("%s at %#x", sum.Device, sum.Start)
	if d.Kind == volume.KindLV || d.Kind == volume.KindCrypt {
		where = sum.Device
	}
	t := d.Type
	sum.FS, sum.Label = t.Name, t.Label
	if t.Note != "" {
		sum.Note = strings.TrimPrefix(sum.Note+"; "+t.Note, "; ")
	}
	if t.Name == "" {
		if sum.Note == "" {
			sum.Note = "no filesystem recognised"
		}
		return sum
	}
	if !registry.Readable(t.Name) {
		return sum
	}
	warn := func(err error) {
		if !errors.Is(err, fs.ErrRepaired) { // worked around, nothing lost
			sum.problem(err)
		}
		s.warn(fmt.Errorf("%s: %w", where, err))
	}
	// A walker must never panic (each is fuzzed); if one does all the
	// same, the device is reported as not walked and the others are
	// still mapped.
	defer func() {
		if r := recover(); r != nil {
			s.warn(fmt.Errorf("%s: %s walker failed (a bug: please report it with the image): %v", where, t.Name, r))
			out = sum
			out.Note = "walk failed: internal error"
			out.Status = bmap.StatusPartial
			out.problem(fmt.Errorf("%s walker failed: %v", t.Name, r))
		}
	}()
	f, err := openFS(t, d.R, d.Size, warn)
	if err != nil {
		s.warn(fmt.Errorf("%s: %w", where, err))
		sum.Note = "not walked: " + err.Error()
		sum.Status = bmap.StatusUnreadable
		sum.Reasons = []string{err.Error()}
		return sum
	}
	w, ok := registry.Walker(f)
	if !ok {
		sum.Note = strings.TrimPrefix(sum.Note+"; files not mapped yet", "; ")
		sum.Status = bmap.StatusNotWalked
		return sum
	}
	if info := w.Info(); info.Label != "" {
		sum.Label = info.Label
	}
	if h, ok := w.(objectsHinter); ok {
		// At most one object per 4 KiB of the device, whatever a
		// damaged superblock claims: the room is allocated at once.
		s.b.Grow(int(min(h.ObjectsHint(), d.Size/4096, 1<<26)))
	}
	if s.perDisk == nil {
		s.perDisk = map[int][]bmap.Extent{}
	}
	var disks []int // the disks the current entry has extents on, in first-seen order
	var mapErr error
	// Objects cut off by the device's end (a truncated image, a partition
	// running past the disk): mapped as far as they are present, counted,
	// and the first few named.
	var cutOff int
	var cutNames []string
	// x is the extent being mapped and pos the device offset of its next
	// piece (Map goes in device order); put, made once rather than once
	// per extent, files each piece under its disk.
	var x bmap.Extent
	var pos int64
	put := func(disk int, off, n int64) error {
		y := x
		if x.FileOff >= 0 {
			y.FileOff = x.FileOff + (pos - x.Off)
		}
		pos += n
		y.Off, y.Len = off, n
		if !slices.Contains(disks, disk) {
			disks = append(disks, disk)
		}
		s.perDisk[disk] = append(s.perDisk[disk], y)
		sum.Bytes += n
		return nil
	}
	// A device that lies in one piece on one disk (a partition, a LUKS
	// volume in one) maps an extent by adding the piece's offset: the
	// walk's million extents skip the device's mapping functions and the
	// per-disk lists.
	linDisk, linOff := 0, int64(0)
	if lay, err := d.Layout(); err == nil && len(lay) == 1 && lay[0].Len == d.Size {
		linDisk, linOff = lay[0].Disk, lay[0].Off
	}
	var lin []bmap.Extent
	err = w.Walk(func(e fs.Entry) error {
		disks = disks[:0]
		cut := false
		lin = lin[:0]
		for _, x = range e.Extents {
			// Clamp to the device: a walker reports what its
			// filesystem says, and the filesystem may claim more
			// than the device holds.
			if x.Off < 0 || x.Len <= 0 {
				continue
			}
			if x.End() > d.Size {
				cut = true
			}
			if x.Off >= d.Size {
				continue
			}
			x.Len = min(x.Len, d.Size-x.Off)
			if linDisk != 0 {
				x.Off += linOff
				lin = append(lin, x)
				sum.Bytes += x.Len
				continue
			}
			pos = x.Off
			err := d.Map(x.Off, x.Len, put)
			if err != nil && mapErr == nil && !errors.Is(err, lvm.ErrUnmapped) {
				mapErr = err
			}
		}
		if len(lin) > 0 {
			disks = append(disks, linDisk)
		}
		switch e.Kind {
		case bmap.KindFile:
			sum.Files++
		case bmap.KindDir:
			sum.Dirs++
		}
		if cut && e.Kind != bmap.KindMeta {
			cutOff++
			if len(cutNames) < maxReasons {
				cutNames = append(cutNames, e.Path)
			}
		}
		o := bmap.Object{Disk: sum.Disk, Kind: e.Kind, Device: sum.Device, Path: e.Path,
			Inode: e.Inode, Size: e.Size, Symlink: e.Symlink}
		if len(disks) == 0 {
			s.add(o) // an object without extents (an empty file) is still listed
		}
		if linDisk != 0 {
			if len(lin) > 0 {
				o.Disk, o.Extents = linDisk, lin
				s.add(o)
			}
			return nil
		}
		slices.Sort(disks)
		for _, dk := range disks {
			o.Disk, o.Extents = dk, s.perDisk[dk]
			s.add(o)
			s.perDisk[dk] = o.Extents[:0]
		}
		return nil
	})
	if mapErr != nil {
		warn(mapErr)
	}
	if cutOff > 0 {
		more := ""
		if cutOff > len(cutNames) {
			more = ", ..."
		}
		warn(fmt.Errorf("truncated: %d files and directories run past the end of the device (%d bytes): %s%s; what is present is mapped",
			cutOff, d.Size, strings.Join(cutNames, ", "), more))
	}
	if err != nil {
		warn(fmt.Errorf("walk stopped: %w", err))
		sum.Note = "walk incomplete: " + err.Error()
	}
	return sum
}

// looksEmpty samples a device with nothing recognised on it: its first
// and last MiB and 64 blocks of 4 KiB spread between them. All zeros (or
// unreadable as a whole) means a blank device, not lost data.
func looksEmpty(r io.ReaderAt, size int64) bool {
	const edge, block, samples = 1 << 20, 4096, 64
	buf := make([]byte, edge)
	zero := func(off, n int64) bool {
		if off < 0 || n <= 0 {
			return true
		}
		n = min(n, size-off)
		b := buf[:n]
		if m, err := r.ReadAt(b, off); err != nil && !(err == io.EOF && int64(m) == n) {
			return false
		}
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
		return true
	}
	if !zero(0, edge) || !zero(max(0, size-edge), edge) {
		return false
	}
	for i := int64(1); i <= samples; i++ {
		if !zero((size/(samples+1)*i)&^(block-1), block) {
			return false
		}
	}
	return true
}
