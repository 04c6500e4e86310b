package lvm

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
)

// PV is a physical volume found on a device: its label, and the metadata
// text of its first readable metadata area (nil when it has none: a PV made
// with --metadatacopies 0 takes its VG's metadata from another PV).
type PV struct {
	Label *Label
	MDA   *MDAHeader
	Text  []byte
	R     io.ReaderAt // the PV's device
	Size  int64
	// Disk, Off and Device place the PV for the caller (ReadPV leaves them
	// zero): the disk it is on, the disk offset of its first byte, and its
	// device name ("/dev/sda2").
	Disk   int
	Off    int64
	Device string
}

// ReadPV reads the label, the PV header and the metadata of the PV on r.
// It returns ErrNoLabel (wrapped) when r is not a PV. A metadata area that
// cannot be read is warned about and the next one is tried.
func ReadPV(r io.ReaderAt, size int64, warn fs.WarnFunc) (*PV, error) {
	if warn == nil {
		warn = func(error) {}
	}
	l, err := ReadLabel(r, size)
	if err != nil {
		return nil, err
	}
	pv := &PV{Label: l, R: r, Size: size}
	for _, a := range l.MetaAreas {
		h, err := ReadMDAHeader(r, size, a)
		if err == nil {
			var text []byte
			if text, err = h.Text(r, size); err == nil {
				pv.MDA, pv.Text = h, text
				break
			}
		}
		warn(fmt.Errorf("PV %s: %w", l.UUID, err))
	}
	return pv, nil
}

// VG is a volume group assembled from the PVs that hold its metadata.
type VG struct {
	Name       string
	UUID       string
	Seqno      int64
	ExtentSize int64 // bytes
	PVs        []*VGPV
	LVs        []*LV
}

// VGPV is one PV as the VG's metadata lists it.
type VGPV struct {
	Name    string // "pv0"
	UUID    string
	Device  string // the device name lvm last saw it as ("/dev/loop0"): a hint only
	PEStart int64  // bytes from the PV's start to its first extent
	PECount int64
	PV      *PV // nil when no disk given holds it
}

// LV is a logical volume.
type LV struct {
	Name     string
	UUID     string
	Visible  bool // false for the hidden sub-volumes of mirrors, raids, thin pools
	Size     int64
	Segments []Segment
	// Note says what is not mapped ("thin volume: not mapped", "mirror:
	// legs 2-3 (lv_mimage_1, lv_mimage_2) not mapped"), "" when every
	// segment is.
	Note string
}

// Segment is a range of an LV's bytes laid out one way.
type Segment struct {
	Start, Len int64  // bytes in the LV
	Type       string // "striped" (linear is striped with 1 stripe), "mirror", "raid1", "thin"...
	StripeSize int64  // bytes, for more than one stripe
	// Areas are the stripes (in order), or the first leg of a mirror or
	// raid1 (the only one mapped). Empty for a type that is not mapped.
	Areas []SegArea
}

// SegArea is where one stripe or leg of a segment starts: an extent of a
// PV (PV >= 0, an index in VG.PVs) or of another LV (SubLV).
type SegArea struct {
	PV     int
	SubLV  string
	Extent int64 // first extent, on the PV or in the sub-LV
}

// Mapped reports whether the segment's bytes can be placed.
func (s Segment) Mapped() bool { return len(s.Areas) > 0 }

// DevicePath is the LV's device as udev names it: /dev/VG/LV.
func DevicePath(vg, lv string) string { return "/dev/" + vg + "/" + lv }

// MapperName is the device-mapper name of an LV, /dev/mapper/VG-LV, with
// every '-' inside the names doubled as dm does.
func MapperName(vg, lv string) string {
	return "/dev/mapper/" + strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// ParseMapperName splits /dev/mapper/VG-LV (or VG-LV) into the VG and LV
// names, undoing the doubled dashes.
func ParseMapperName(name string) (vg, lv string, ok bool) {
	name = strings.TrimPrefix(name, "/dev/mapper/")
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		if i+1 < len(name) && name[i+1] == '-' {
			i++
			continue
		}
		vg, lv = name[:i], name[i+1:]
		if vg == "" || lv == "" {
			return "", "", false
		}
		return strings.ReplaceAll(vg, "--", "-"), strings.ReplaceAll(lv, "--", "-"), true
	}
	return "", "", false
}

const maxBytes = int64(1) << 62

// Assemble builds the volume groups the PVs belong to. Each VG's metadata
// is the copy with the highest seqno among its PVs; its PVs are matched by
// UUID among all those given, so a VG spread over several disks is put
// together. A VG whose metadata cannot be parsed is warned about and left
// out; a PV it lists that is not among pvs is kept with PV nil (its
// extents are not mapped).
func Assemble(pvs []*PV, warn fs.WarnFunc) []*VG {
	if warn == nil {
		warn = func(error) {}
	}
	type cand struct {
		root  *Section
		vg    *Section
		seqno int64
	}
	best := map[string]*cand{}
	var order []string
	for _, pv := range pvs {
		if pv.Text == nil {
			continue
		}
		root, err := ParseMetadata(pv.Text)
		if err != nil {
			warn(fmt.Errorf("PV %s (%s): %w", pv.Label.UUID, pv.Device, err))
			continue
		}
		if len(root.Sections) != 1 {
			warn(fmt.Errorf("PV %s (%s): lvm: metadata holds %d volume groups, want 1", pv.Label.UUID, pv.Device, len(root.Sections)))
			continue
		}
		vs := root.Sections[0]
		id := vs.Str("id")
		seq, _ := vs.Int("seqno")
		c := best[id]
		if c == nil {
			order = append(order, id)
		} else if c.seqno >= seq {
			if c.seqno > seq {
				warn(fmt.Errorf("VG %s: PV %s (%s) holds older metadata (seqno %d < %d): not used", vs.Name, pv.Label.UUID, pv.Device, seq, c.seqno))
			}
			continue
		}
		best[id] = &cand{root: root, vg: vs, seqno: seq}
	}
	byUUID := map[string]*PV{}
	for _, pv := range pvs {
		if _, dup := byUUID[pv.Label.UUID]; dup {
			warn(fmt.Errorf("PV %s found twice (%s): the first is used", pv.Label.UUID, pv.Device))
			continue
		}
		byUUID[pv.Label.UUID] = pv
	}
	var vgs []*VG
	for _, id := range order {
		vg, err := buildVG(best[id].vg, byUUID)
		if err != nil {
			warn(err)
			continue
		}
		for _, p := range vg.PVs {
			if p.PV == nil {
				warn(fmt.Errorf("VG %s: PV %s (%s, last seen as %s) not found on any disk: its extents are not mapped", vg.Name, p.Name, p.UUID, p.Device))
			}
		}
		vgs = append(vgs, vg)
	}
	return vgs
}

func buildVG(s *Section, byUUID map[string]*PV) (*VG, error) {
	bad := func(msg string, a ...any) error {
		return fmt.Errorf("lvm: VG %s: %s", s.Name, fmt.Sprintf(msg, a...))
	}
	vg := &VG{Name: s.Name, UUID: s.Str("id")}
	vg.Seqno, _ = s.Int("seqno")
	ext, ok := s.Int("extent_size")
	if !ok || ext <= 0 || ext > 1<<31 {
		return nil, bad("extent_size %d out of range", ext)
	}
	vg.ExtentSize = ext * sectorSize
	pvIndex := map[string]int{}
	for _, ps := range s.Sub("physical_volumes").sections() {
		p := &VGPV{Name: ps.Name, UUID: ps.Str("id"), Device: ps.Str("device")}
		start, _ := ps.Int("pe_start")
		count, _ := ps.Int("pe_count")
		if start < 0 || start > maxBytes/sectorSize || count < 0 || count > maxBytes/vg.ExtentSize {
			return nil, bad("PV %s: pe_start %d / pe_count %d out of range", p.Name, start, count)
		}
		p.PEStart, p.PECount = start*sectorSize, count
		p.PV = byUUID[p.UUID]
		pvIndex[p.Name] = len(vg.PVs)
		vg.PVs = append(vg.PVs, p)
	}
	for _, ls := range s.Sub("logical_volumes").sections() {
		vg.LVs = append(vg.LVs, buildLV(vg, ls, pvIndex))
	}
	return vg, nil
}

func (s *Section) sections() []*Section {
	if s == nil {
		return nil
	}
	return s.Sections
}

// buildLV decodes one LV. A segment that cannot be decoded is kept
// unmapped with a note: the LV is still listed.
func buildLV(vg *VG, ls *Section, pvIndex map[string]int) *LV {
	lv := &LV{Name: ls.Name, UUID: ls.Str("id"), Visible: slices.Contains(ls.Strings("status"), "VISIBLE")}
	var notes []string
	note := func(format string, a ...any) {
		if n := fmt.Sprintf(format, a...); !slices.Contains(notes, n) {
			notes = append(notes, n)
		}
	}
	for _, ss := range ls.Sections {
		if !strings.HasPrefix(ss.Name, "segment") {
			continue
		}
		first, _ := ss.Int("start_extent")
		count, _ := ss.Int("extent_count")
		if first < 0 || count <= 0 || first > maxBytes/vg.ExtentSize || count > maxBytes/vg.ExtentSize-first {
			note("%s: extents %d+%d out of range: not mapped", ss.Name, first, count)
			continue
		}
		seg := Segment{Start: first * vg.ExtentSize, Len: count * vg.ExtentSize, Type: ss.Str("type")}
		if err := decodeAreas(vg, ss, &seg, count, pvIndex); err != nil {
			note("%v", err)
		}
		lv.Segments = append(lv.Segments, seg)
		lv.Size = max(lv.Size, seg.Start+seg.Len)
	}
	slices.SortFunc(lv.Segments, func(a, b Segment) int { return int(min(max(a.Start-b.Start, -1), 1)) })
	lv.Note = strings.Join(notes, "; ")
	return lv
}

// typeNames are the segment types named in a note when left unmapped.
var typeNames = map[string]string{
	"thin": "thin volume", "thin-pool": "thin pool", "snapshot": "snapshot", "cache": "cached volume",
	"cache-pool": "cache pool", "writecache": "writecache volume", "vdo": "VDO volume", "vdo-pool": "VDO pool",
	"integrity": "integrity volume", "error": "error target", "zero": "zero target",
}

// decodeAreas fills seg.Areas for the types that are mapped, and says why
// not for the others.
func decodeAreas(vg *VG, ss *Section, seg *Segment, count int64, pvIndex map[string]int) error {
	switch seg.Type {
	case "striped":
		n, _ := ss.Int("stripe_count")
		list, _ := ss.Get("stripes")
		if n < 1 || int64(len(list.List)) != 2*n || count%n != 0 {
			return fmt.Errorf("%s: %d stripes listed for stripe_count %d over %d extents: not mapped", ss.Name, len(list.List)/2, n, count)
		}
		if n > 1 {
			sz, _ := ss.Int("stripe_size")
			if sz < 8 || sz > 1<<30 || sz&(sz-1) != 0 { // lvm2: a power of two, 4 KiB at least
				return fmt.Errorf("%s: stripe_size %d out of range: not mapped", ss.Name, sz)
			}
			seg.StripeSize = sz * sectorSize
		}
		areas, err := pairs(vg, ss.Name, list.List, pvIndex, count/n, true)
		if err != nil {
			return err
		}
		seg.Areas = areas
	case "mirror":
		list, _ := ss.Get("mirrors")
		areas, err := pairs(vg, ss.Name, list.List, nil, count, false)
		if err != nil {
			return err
		}
		seg.Areas = areas[:1]
		if len(areas) > 1 {
			return fmt.Errorf("mirror: leg %s mapped, %s not (same contents)", areas[0].SubLV, legNames(areas[1:]))
		}
	case "raid1":
		names := ss.Strings("raids")
		var legs []SegArea
		for i := 1; i < len(names); i += 2 { // rmeta, rimage pairs
			legs = append(legs, SegArea{PV: -1, SubLV: names[i]})
		}
		if len(legs) == 0 {
			return fmt.Errorf("%s: raid1 without images: not mapped", ss.Name)
		}
		seg.Areas = legs[:1]
		if len(legs) > 1 {
			return fmt.Errorf("raid1: leg %s mapped, %s not (same contents)", legs[0].SubLV, legNames(legs[1:]))
		}
	default:
		name := typeNames[seg.Type]
		if name == "" {
			name = fmt.Sprintf("segment type %q", seg.Type)
		}
		return fmt.Errorf("%s: not mapped", name)
	}
	return nil
}

func legNames(a []SegArea) string {
	var s []string
	for _, x := range a {
		s = append(s, x.SubLV)
	}
	return strings.Join(s, ", ")
}

// pairs decodes ["pv0", 0, "pv1", 0] (onPV) or ["lv_mimage_0", 0, ...].
func pairs(vg *VG, seg string, list []Value, pvIndex map[string]int, extents int64, onPV bool) ([]SegArea, error) {
	if len(list) == 0 || len(list)%2 != 0 {
		return nil, fmt.Errorf("%s: area list of %d elements: not mapped", seg, len(list))
	}
	var out []SegArea
	for i := 0; i < len(list); i += 2 {
		name, ext := list[i], list[i+1]
		if !name.IsStr || ext.IsStr || ext.IsList || ext.Int < 0 || ext.Int > maxBytes/vg.ExtentSize-extents {
			return nil, fmt.Errorf("%s: area %d malformed: not mapped", seg, i/2)
		}
		a := SegArea{PV: -1, Extent: ext.Int}
		if onPV {
			idx, ok := pvIndex[name.Str]
			if !ok {
				return nil, fmt.Errorf("%s: unknown PV %q: not mapped", seg, name.Str)
			}
			if p := vg.PVs[idx]; ext.Int+extents > p.PECount {
				return nil, fmt.Errorf("%s: extents %d+%d past the end of %s (%d extents): not mapped", seg, ext.Int, extents, p.Name, p.PECount)
			}
			a.PV = idx
		} else {
			a.SubLV = name.Str
		}
		out = append(out, a)
	}
	return out, nil
}

// LV returns the LV named name, or nil.
func (vg *VG) LV(name string) *LV {
	for _, lv := range vg.LVs {
		if lv.Name == name {
			return lv
		}
	}
	return nil
}

// Piece is a run of an LV's bytes on one PV.
type Piece struct {
	LVOff, Len int64
	PV         *VGPV
	PVOff      int64 // from the PV's first byte (PEStart included)
}

// ErrUnmapped is wrapped by Map for bytes of an LV that cannot be placed:
// a segment type that is not mapped, a missing PV, a range past the LV's end.
var ErrUnmapped = errors.New("lvm: not mapped")

const maxLegDepth = 8 // mirror of mirror... lvm2 nests two levels

// Map places the LV's bytes [off, off+n) on its PVs, split at segment and
// stripe boundaries, calling fn for each piece in LV order. Bytes that
// cannot be placed make an error wrapping ErrUnmapped (after the pieces
// before them).
func (vg *VG) Map(lv *LV, off, n int64, fn func(Piece) error) error {
	return vg.mapLV(lv, off, n, 0, fn)
}

func (vg *VG) mapLV(lv *LV, off, n int64, depth int, fn func(Piece) error) error {
	if depth > maxLegDepth {
		return fmt.Errorf("%w: %s: sub-volumes nested deeper than %d", ErrUnmapped, lv.Name, maxLegDepth)
	}
	if off < 0 || n < 0 || off > lv.Size || n > lv.Size-off {
		return fmt.Errorf("%w: %s: bytes [%#x,+%#x) outside the LV (%#x bytes)", ErrUnmapped, lv.Name, off, n, lv.Size)
	}
	end := off + n
	for _, s := range lv.Segments {
		if off >= end {
			break
		}
		if s.Start+s.Len <= off {
			continue
		}
		if s.Start > off {
			return fmt.Errorf("%w: %s: no segment for byte %#x", ErrUnmapped, lv.Name, off)
		}
		if !s.Mapped() {
			return fmt.Errorf("%w: %s: %s segment at %#x", ErrUnmapped, lv.Name, s.Type, s.Start)
		}
		stop := min(end, s.Start+s.Len)
		for off < stop {
			in := off - s.Start
			a, aoff, run := s.Areas[0], in, stop-off
			if len(s.Areas) > 1 {
				nst := int64(len(s.Areas))
				chunk := in / s.StripeSize
				a = s.Areas[chunk%nst]
				aoff = (chunk/nst)*s.StripeSize + in%s.StripeSize
				run = min(run, s.StripeSize-in%s.StripeSize)
			}
			base := a.Extent*vg.ExtentSize + aoff
			if a.PV >= 0 {
				p := vg.PVs[a.PV]
				if p.PV == nil {
					return fmt.Errorf("%w: %s: PV %s (%s) missing", ErrUnmapped, lv.Name, p.Name, p.UUID)
				}
				if err := fn(Piece{LVOff: off, Len: run, PV: p, PVOff: p.PEStart + base}); err != nil {
					return err
				}
			} else {
				sub := vg.LV(a.SubLV)
				if sub == nil {
					return fmt.Errorf("%w: %s: leg %s not in the VG", ErrUnmapped, lv.Name, a.SubLV)
				}
				delta := off - base
				err := vg.mapLV(sub, base, run, depth+1, func(p Piece) error {
					p.LVOff += delta
					return fn(p)
				})
				if err != nil {
					return err
				}
			}
			off += run
		}
	}
	if off < end {
		return fmt.Errorf("%w: %s: no segment for byte %#x", ErrUnmapped, lv.Name, off)
	}
	return nil
}

// Extent is a contiguous run of an LV's bytes on one PV, for the map's
// LV object: a whole stripe area or leg area, not cut into stripe chunks.
type Extent struct {
	PV    *VGPV
	PVOff int64 // from the PV's first byte
	Len   int64
}

// Extents lists where the LV's bytes lie, one run per stripe area of each
// mapped segment (first legs of mirrors and raid1 followed), and says in
// an error wrapping ErrUnmapped what could not be placed. Runs are in
// segment and stripe order, not merged.
func (vg *VG) Extents(lv *LV) ([]Extent, error) {
	var out []Extent
	var errs []error
	vg.extents(lv, 0, lv.Size, 0, &out, &errs)
	return out, errors.Join(errs...)
}

func (vg *VG) extents(lv *LV, off, n int64, depth int, out *[]Extent, errs *[]error) {
	if depth > maxLegDepth {
		*errs = append(*errs, fmt.Errorf("%w: %s: sub-volumes nested deeper than %d", ErrUnmapped, lv.Name, maxLegDepth))
		return
	}
	end := off + n
	for _, s := range lv.Segments {
		lo, hi := max(off, s.Start), min(end, s.Start+s.Len)
		if lo >= hi {
			continue
		}
		if !s.Mapped() {
			*errs = append(*errs, fmt.Errorf("%w: %s: %s segment at %#x", ErrUnmapped, lv.Name, s.Type, s.Start))
			continue
		}
		nst := int64(len(s.Areas))
		if nst > 1 && (lo != s.Start || hi != s.Start+s.Len) {
			*errs = append(*errs, fmt.Errorf("%w: %s: part of a striped segment", ErrUnmapped, lv.Name))
			continue
		}
		for _, a := range s.Areas {
			base := a.Extent*vg.ExtentSize + (lo-s.Start)/nst
			ln := (hi - lo) / nst
			if a.PV >= 0 {
				p := vg.PVs[a.PV]
				if p.PV == nil {
					*errs = append(*errs, fmt.Errorf("%w: %s: PV %s (%s) missing", ErrUnmapped, lv.Name, p.Name, p.UUID))
					continue
				}
				*out = append(*out, Extent{PV: p, PVOff: p.PEStart + base, Len: ln})
			} else if sub := vg.LV(a.SubLV); sub == nil || base > sub.Size || ln > sub.Size-base {
				*errs = append(*errs, fmt.Errorf("%w: %s: leg %s not in the VG or too short", ErrUnmapped, lv.Name, a.SubLV))
			} else {
				vg.extents(sub, base, ln, depth+1, out, errs)
			}
		}
	}
}
