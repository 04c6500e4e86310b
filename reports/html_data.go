package reports

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// The HTML report embeds the Summary as one JSON blob, reshaped for the
// page's script (html/report.js): objects with short keys, every disk's
// extents and read regions as flat [off, len, ...] arrays sorted by
// offset (binary search on hover), colours chosen here so that the map,
// the timeline and the tests agree, and the timeline merged into at most
// MaxHTMLBars bars. What does not fit the caps is counted, and the page
// says so.

// Caps on what the HTML report embeds: the page's size depends on them,
// never on the number of requests traced.
const (
	MaxHTMLObjects  = 5000  // objects listed, in order of first read
	MaxHTMLExtents  = 50000 // extents of those objects on the map, all disks
	MaxHTMLReads    = 20000 // read regions on the map, per disk
	MaxHTMLUnmapped = 5000  // unmapped ranges listed
	MaxHTMLBars     = 300   // timeline bars
	MaxHTMLParts    = 1000  // partitions on the map, all disks
)

// partPalette colours partitions (and LVs) on the map and the timeline,
// in layout order (Tableau 10 without its grey).
var partPalette = []string{
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f",
}

// diskColour is the timeline colour of bytes read outside any partition.
const diskColour = "#8c8c8c"

// otherDevices names, on the timeline, the partitions past MaxHTMLParts.
const (
	otherDevices = "(other partitions)"
	otherColour  = "#c9b38a"
)

// tintShare is how much of a partition's colour its tint on the map keeps
// (the rest is white).
const tintShare = 0.3

// htmlData is the JSON blob of the page.
type htmlData struct {
	Start    string       `json:"start"`
	Duration int64        `json:"duration_ns"`
	Totals   Totals       `json:"totals"`
	Objects  []htmlObj    `json:"objects"`
	Devices  []htmlDev    `json:"devices"`
	Disks    []htmlDisk   `json:"disks"`
	Timeline htmlTL       `json:"timeline"`
	Unmapped []Range      `json:"unmapped"`
	Cut      htmlCut      `json:"cut"`
	Limits   htmlLimits   `json:"limits"`
	Exports  []htmlExport `json:"exports"`
}

type htmlExport struct {
	Name   string `json:"name"`
	Disk   int    `json:"disk"`
	Device string `json:"device"`
	Image  string `json:"image,omitempty"`
	Size   int64  `json:"size"`
}

// htmlObj is one object, with short keys (there may be thousands).
type htmlObj struct {
	Order    int      `json:"o"`
	Type     string   `json:"t"`
	Disk     int      `json:"k"`
	Device   string   `json:"d"`
	Path     string   `json:"p,omitempty"`
	Inode    uint64   `json:"i,omitempty"`
	Size     int64    `json:"s,omitempty"`
	First    int64    `json:"f"`
	Last     int64    `json:"l"`
	Reads    int64    `json:"r"`
	Bytes    int64    `json:"b"`
	Distinct int64    `json:"u"`
	Approx   bool     `json:"a,omitempty"`
	Share    *float64 `json:"h,omitempty"`
	Prio     int      `json:"q"` // bmap.Kind.Priority: the map paints higher over lower
	// Contents is when a file's or directory's contents were first read
	// (ObjectStats.FirstContents): sorting by it tells the boot's story.
	Contents *int64 `json:"c,omitempty"`
}

// htmlDev is a device of the map and the timeline: a partition or LV
// (coloured) or a disk (grey).
type htmlDev struct {
	Device string `json:"device"`
	Disk   int    `json:"disk"`
	Colour string `json:"colour"`
	Tint   string `json:"tint"` // the map's background for the partition
	IsDisk bool   `json:"is_disk,omitempty"`
	Off    int64  `json:"off"`
	Len    int64  `json:"len"`
}

// htmlDisk is one disk's map.
type htmlDisk struct {
	Disk   int    `json:"disk"`
	Device string `json:"device"`
	Size   int64  `json:"size"`
	Parts  []int  `json:"parts"` // indexes into Devices, in disk order
	// Ext is [off, len, object index, ...] sorted by off.
	Ext []int64 `json:"ext"`
	// Reads is [off, len, ...] sorted by off; ReadFirst[i] the first
	// time any byte of region i was read (apart, so that a golden file
	// can redact the times).
	Reads       []int64 `json:"reads"`
	ReadFirst   []int64 `json:"read_first"`
	ReadsApprox bool    `json:"reads_approx,omitempty"`
}

// htmlTL is the timeline: Bars[i] is [requests, bytes of Devices[0],
// bytes of Devices[1], ...] for [i*bucket_ns, (i+1)*bucket_ns).
type htmlTL struct {
	BucketNs int64     `json:"bucket_ns"`
	Bars     [][]int64 `json:"bars"`
}

// htmlCut counts what the caps left out (0: nothing).
type htmlCut struct {
	Parts    int `json:"parts"`
	Objects  int `json:"objects"`
	Extents  int `json:"extents"`
	Reads    int `json:"reads"`
	Unmapped int `json:"unmapped"`
}

type htmlLimits struct {
	Parts    int `json:"parts"`
	Objects  int `json:"objects"`
	Extents  int `json:"extents"`
	Reads    int `json:"reads"`
	Unmapped int `json:"unmapped"`
}

// mixWhite returns colour c ("#rrggbb") with only share of it kept over
// white.
func mixWhite(c string, share float64) string {
	var r, g, b int
	if _, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return c
	}
	m := func(v int) int { return int(float64(v)*share + 255*(1-share) + 0.5) }
	return fmt.Sprintf("#%02x%02x%02x", m(r), m(g), m(b))
}

// newHTMLData reshapes s for the page.
func newHTMLData(s *Summary) *htmlData {
	d := &htmlData{
		Start:    s.Start.UTC().Format("2006-01-02 15:04:05.000 UTC"),
		Duration: int64(s.Duration),
		Totals:   s.Totals,
		Objects:  []htmlObj{},
		Devices:  []htmlDev{},
		Disks:    []htmlDisk{},
		Unmapped: []Range{},
		Exports:  []htmlExport{},
		Limits:   htmlLimits{MaxHTMLParts, MaxHTMLObjects, MaxHTMLExtents, MaxHTMLReads, MaxHTMLUnmapped},
	}
	if s.Start.IsZero() {
		d.Start = ""
	}
	for _, e := range s.Exports {
		d.Exports = append(d.Exports, htmlExport{e.Name, e.Disk, e.Device, e.Image, e.Size})
	}

	// Objects, in order of first read; keep[i] is object i's index in
	// d.Objects or -1.
	order := make([]int, len(s.Objects))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(s.Objects[a].Order, s.Objects[b].Order) })
	keep := make([]int, len(s.Objects))
	for i := range keep {
		keep[i] = -1
	}
	for _, i := range order {
		if len(d.Objects) == MaxHTMLObjects {
			d.Cut.Objects = len(s.Objects) - MaxHTMLObjects
			break
		}
		o := &s.Objects[i]
		keep[i] = len(d.Objects)
		d.Objects = append(d.Objects, htmlObj{
			Order: o.Order, Type: string(rune(o.Type)), Disk: o.Disk, Device: o.Device,
			Path: o.Path, Inode: o.Inode, Size: o.Size,
			First: int64(o.First), Last: int64(o.Last), Reads: o.Reads, Bytes: o.Bytes,
			Distinct: o.DistinctBytes, Approx: o.Approx, Share: o.Share,
			Prio: bmap.Kind(o.Type).Priority(),
		})
		if o.FirstContents != nil {
			c := int64(*o.FirstContents)
			d.Objects[len(d.Objects)-1].Contents = &c
		}
	}

	// Devices: every disk's partitions in layout order (coloured), then
	// the disks (grey), then any other device the timeline names.
	devIdx := map[string]int{}
	addDev := func(dv htmlDev) int {
		if i, ok := devIdx[dv.Device]; ok {
			return i
		}
		devIdx[dv.Device] = len(d.Devices)
		d.Devices = append(d.Devices, dv)
		return len(d.Devices) - 1
	}
	nextColour := 0
	colour := func() string {
		c := partPalette[nextColour%len(partPalette)]
		nextColour++
		return c
	}
	extLeft, nparts := MaxHTMLExtents, 0
	for _, l := range s.Layout {
		hd := htmlDisk{Disk: l.Disk, Device: l.Device, Size: l.Size, Parts: []int{}, Ext: []int64{}, Reads: []int64{}, ReadFirst: []int64{}, ReadsApprox: l.ReadsApprox}
		parts := slices.Clone(l.Partitions)
		slices.SortStableFunc(parts, func(a, b Extent) int { return cmp.Compare(a.Off, b.Off) })
		for _, p := range parts {
			if _, ok := devIdx[p.Device]; ok {
				continue
			}
			if nparts == MaxHTMLParts {
				d.Cut.Parts++
				continue
			}
			nparts++
			c := colour()
			hd.Parts = append(hd.Parts, addDev(htmlDev{Device: p.Device, Disk: l.Disk, Colour: c, Tint: mixWhite(c, tintShare), Off: p.Off, Len: p.Len}))
		}
		type ext struct{ off, len, obj int64 }
		var exts []ext
		for _, lo := range l.Objects {
			if lo.Object < 0 || lo.Object >= len(keep) || keep[lo.Object] < 0 {
				d.Cut.Extents += len(lo.Extents)
				continue
			}
			for _, e := range lo.Extents {
				if extLeft == 0 {
					d.Cut.Extents++
					continue
				}
				extLeft--
				exts = append(exts, ext{e.Off, e.Len, int64(keep[lo.Object])})
			}
		}
		slices.SortStableFunc(exts, func(a, b ext) int { return cmp.Compare(a.off, b.off) })
		for _, e := range exts {
			hd.Ext = append(hd.Ext, e.off, e.len, e.obj)
		}
		reads := slices.Clone(l.Reads)
		slices.SortStableFunc(reads, func(a, b ReadRegion) int { return cmp.Compare(a.Off, b.Off) })
		if len(reads) > MaxHTMLReads {
			d.Cut.Reads += len(reads) - MaxHTMLReads
			reads = coarsenReads(reads, MaxHTMLReads)
			hd.ReadsApprox = true
		}
		for _, r := range reads {
			hd.Reads = append(hd.Reads, r.Off, r.Len)
			hd.ReadFirst = append(hd.ReadFirst, int64(r.First))
		}
		d.Disks = append(d.Disks, hd)
	}
	for _, l := range s.Layout {
		addDev(htmlDev{Device: l.Device, Disk: l.Disk, Colour: diskColour, Tint: "#e6e6e6", IsDisk: true, Len: l.Size})
	}
	for _, e := range s.Exports {
		addDev(htmlDev{Device: e.Device, Disk: e.Disk, Colour: diskColour, Tint: "#e6e6e6", IsDisk: true, Len: e.Size})
	}
	var others []string
	for _, b := range s.Timeline.Buckets {
		for dev := range b.ByDevice {
			if _, ok := devIdx[dev]; !ok && !slices.Contains(others, dev) {
				others = append(others, dev)
			}
		}
	}
	slices.Sort(others)
	for _, dev := range others {
		if nparts < MaxHTMLParts {
			nparts++
			c := colour()
			addDev(htmlDev{Device: dev, Colour: c, Tint: mixWhite(c, tintShare)})
			continue
		}
		// Past the cap, the timeline adds them up as one.
		devIdx[dev] = addDev(htmlDev{Device: otherDevices, Colour: otherColour, Tint: mixWhite(otherColour, tintShare)})
	}

	d.Timeline = newHTMLTimeline(s.Timeline, d.Devices, devIdx)

	for _, u := range s.Unmapped {
		if len(d.Unmapped) == MaxHTMLUnmapped {
			d.Cut.Unmapped = len(s.Unmapped) - MaxHTMLUnmapped
			break
		}
		d.Unmapped = append(d.Unmapped, u)
	}
	return d
}

// newHTMLTimeline merges the timeline's buckets into at most MaxHTMLBars
// bars, each split by device in the order of devs.
func newHTMLTimeline(tl Timeline, devs []htmlDev, devIdx map[string]int) htmlTL {
	n := len(tl.Buckets)
	k := 1
	if n > MaxHTMLBars {
		k = (n + MaxHTMLBars - 1) / MaxHTMLBars
	}
	out := htmlTL{BucketNs: int64(tl.BucketNs) * int64(k), Bars: [][]int64{}}
	for i := 0; i < n; i += k {
		bar := make([]int64, 1+len(devs))
		for _, b := range tl.Buckets[i:min(i+k, n)] {
			bar[0] += b.Requests
			for dev, v := range b.ByDevice {
				if j, ok := devIdx[dev]; ok {
					bar[1+j] += v
				}
			}
		}
		out.Bars = append(out.Bars, bar)
	}
	return out
}

// coarsenReads merges read regions (sorted by offset) until at most n are
// left, closing the smallest gaps first; a merged region keeps the
// earliest first read. The page then highlights a superset of what was
// read, and says so.
func coarsenReads(rs []ReadRegion, n int) []ReadRegion {
	if len(rs) <= n || n < 1 {
		return rs
	}
	gaps := make([]int64, 0, len(rs)-1)
	for i := 1; i < len(rs); i++ {
		gaps = append(gaps, rs[i].Off-(rs[i-1].Off+rs[i-1].Len))
	}
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	// Close every gap up to the threshold; ties past the quota stay open.
	drop := len(rs) - n
	limit := sorted[drop-1]
	closeable := 0
	for _, g := range gaps {
		if g < limit {
			closeable++
		}
	}
	atLimit := drop - closeable // gaps equal to the limit still to close
	out := []ReadRegion{rs[0]}
	for i := 1; i < len(rs); i++ {
		g := gaps[i-1]
		merge := g < limit
		if !merge && g == limit && atLimit > 0 {
			merge = true
			atLimit--
		}
		last := &out[len(out)-1]
		if merge {
			last.Len = max(last.Off+last.Len, rs[i].Off+rs[i].Len) - last.Off
			last.First = min(last.First, rs[i].First)
			continue
		}
		out = append(out, rs[i])
	}
	return out
}
