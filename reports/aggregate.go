package reports

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// objKey identifies an object across a live trace and its NDJSON: the
// fields an NDJSON event gives (with the event's disk).
type objKey struct {
	disk   int
	kind   bmap.Kind
	device string
	path   string
	inode  uint64
}

func keyOf(o *bmap.Object) objKey {
	return objKey{o.Disk, o.Kind, o.Device, o.Path, o.Inode}
}

// objStat accumulates what was read of one object.
type objStat struct {
	key       objKey
	size      int64
	sizeKnown bool
	// ext is the object's extents on disk, sorted and merged, when the
	// map is known; data its content extents (for share).
	ext  []span
	data []bmap.Extent

	first, last int64
	// firstData is when the object's contents (bytes with a file offset)
	// were first read, if hasData: a file's record or index blocks may be
	// read long before it is opened.
	firstData int64
	hasData   bool
	reads     int64
	bytes     int64
	set       rangeSet
}

// diskStat accumulates per disk.
type diskStat struct {
	disk     int
	device   string
	reads    rangeSet // every byte read
	unmapped rangeSet // bytes read in no object but the disk
}

// hit is one object of an event, whichever way it came.
type hit struct {
	id       int32 // index into objs; -1: dropped (MaxObjects)
	kind     bmap.Kind
	off, len int64
	fileOff  int64 // the file offset of off, -1: not contents
}

// Aggregator summarises a trace. It implements logger.Sink (Write, Flush,
// Close) for a live trace; AddJSON feeds it the events of an NDJSON
// trace. Either way, the same events give the same Summary. It is not
// safe for concurrent use (a logger calls its sinks from one goroutine);
// Summary may be called at any time, between events.
type Aggregator struct {
	opt        Options
	m          *bmap.Map
	maxObjects int // MaxObjects; lowered by tests
	maxSpans   int // MaxTotalRanges; lowered by tests

	byKey  map[objKey][]*bmap.Object // the map's objects, when a map is given
	byName map[objKey][]*bmap.Object // the same without inodes, made on first need
	// byObj is the id+1 of each object an event named (0: not seen yet),
	// by its index in the map's slice (an array load is one cache miss
	// where a map of pointers, on random reads over a large map, was two
	// or three: 15% of the aggregator's time in BenchmarkSinks).
	byObj    bmap.ObjectMap[int32]
	ids      map[objKey]int32
	objs     []*objStat
	disks    []*diskStat
	totals   Totals
	conns    map[uint64]struct{}
	maxCon   uint64
	end      int64 // end of the last request (t + dur)
	objIdx   []int // Summary: index in objs of each of s.Objects
	accepted int64 // SetConnections
	spans    int   // ranges held by the objects' sets

	bucketNs int64
	buckets  []Bucket

	// per-event scratch
	hits    []hit
	covered []span
}

// maxConns bounds the set of connection numbers kept to count them;
// past it Totals.Connections is the highest connection number.
const maxConns = 1 << 16

// NewAggregator returns an aggregator for a trace against m. m may be nil
// (an NDJSON trace without its map): sizes, shares and partitions not
// read are then unknown, and an object's distinct bytes are counted from
// each request's first byte in it and its byte count (exact unless the
// object's extents leave gaps inside one request). Objects of an NDJSON
// trace are found in m by disk, type, device, path and inode, or, when
// that fails (a trace made against a text map, without inodes), by name.
func NewAggregator(m *bmap.Map, opt Options) *Aggregator {
	if opt.MaxRanges <= 0 {
		opt.MaxRanges = DefaultMaxRanges
	}
	a := &Aggregator{
		opt:        opt,
		m:          m,
		byObj:      bmap.NewObjectMap[int32](m),
		ids:        make(map[objKey]int32),
		conns:      make(map[uint64]struct{}),
		bucketNs:   int64(MinBucket),
		maxObjects: MaxObjects,
		maxSpans:   MaxTotalRanges,
	}
	if m != nil {
		a.byKey = make(map[objKey][]*bmap.Object, len(m.Objects))
		for i := range m.Objects {
			o := &m.Objects[i]
			k := keyOf(o)
			a.byKey[k] = append(a.byKey[k], o)
		}
	}
	return a
}

// Write implements logger.Sink.
func (a *Aggregator) Write(ev *logger.Event) error {
	a.hits = a.hits[:0]
	for i := range ev.Objects {
		o := &ev.Objects[i]
		id, ok := a.byObj.Get(o.Object)
		id--
		if !ok {
			id = a.idOf(keyOf(o.Object), o.Object)
			a.byObj.Put(o.Object, id+1) // id -1 (not kept) puts nothing
		}
		a.hits = append(a.hits, hit{id, o.Kind, o.Off, o.Len, o.FileOff})
	}
	errored := ev.Err != nil
	a.add(int64(ev.Time), int64(ev.Dur), ev.Conn, ev.Disk, ev.Off, int64(ev.Len), ev.Cache, errored)
	return nil
}

// SetConnections tells the number of connections the server accepted,
// those that read nothing included (nbdinfo asks for the size and the
// map, and reads nothing): the reads alone only show the connections
// that read. The summary counts the larger of n and the connections
// seen in reads.
func (a *Aggregator) SetConnections(n int64) { a.accepted = n }

// Flush implements logger.Sink; it does nothing.
func (a *Aggregator) Flush() error { return nil }

// Close implements logger.Sink; it does nothing: Summary stays usable.
func (a *Aggregator) Close() error { return nil }

// AddJSON adds an event of an NDJSON trace.
func (a *Aggregator) AddJSON(ev *logger.JSONEvent) {
	a.hits = a.hits[:0]
	for i := range ev.Objects {
		o := &ev.Objects[i]
		if !o.Type.Valid() {
			continue
		}
		k := objKey{ev.Disk, o.Type, o.Device, o.Name(), o.Inode}
		id, ok := a.ids[k]
		if !ok {
			id = a.idOf(k, nil)
		}
		a.hits = append(a.hits, hit{id, o.Type, o.Off, o.Len, o.FileOff})
	}
	a.add(ev.T, ev.Dur, ev.Conn, ev.Disk, ev.Off, int64(ev.Len), ev.Cache, ev.Error != "")
}

// idOf returns the id of the object with key k, making its record on
// first sight; o is the object an event pointed at (nil from NDJSON).
// -1 when MaxObjects records exist already and there is no map.
func (a *Aggregator) idOf(k objKey, o *bmap.Object) int32 {
	if id, ok := a.ids[k]; ok {
		return id
	}
	srcs := a.byKey[k]
	if len(srcs) == 0 && a.m != nil && o == nil {
		// A trace made with another form of the map (a text map has
		// no inodes; a map built from the image has them): match by
		// name alone.
		if a.byName == nil {
			a.byName = make(map[objKey][]*bmap.Object, len(a.m.Objects))
			for i := range a.m.Objects {
				n := keyOf(&a.m.Objects[i])
				n.inode = 0
				a.byName[n] = append(a.byName[n], &a.m.Objects[i])
			}
		}
		n := k
		n.inode = 0
		srcs = a.byName[n]
	}
	if len(srcs) == 0 && o != nil {
		srcs = []*bmap.Object{o}
	}
	if len(srcs) == 0 && len(a.objs) >= a.maxObjects {
		a.totals.ObjectsDropped++
		return -1
	}
	st := &objStat{key: k, set: newRangeSet(a.opt.MaxRanges)}
	var ext []span
	for _, src := range srcs {
		if src.Kind == bmap.KindFile || src.Kind == bmap.KindDir {
			if src.Size > 0 || src.Inode != 0 {
				st.size, st.sizeKnown = src.Size, true
			}
		}
		for _, e := range src.Extents {
			if e.Len <= 0 || e.Off < 0 || e.Off+e.Len < e.Off {
				continue
			}
			ext = append(ext, span{off: e.Off, end: e.Off + e.Len})
			if e.FileOff >= 0 && (src.Kind == bmap.KindFile || src.Kind == bmap.KindDir) {
				st.data = append(st.data, e)
			}
		}
	}
	if len(srcs) > 0 {
		st.ext = mergeSpans(ext)
		if st.key.kind != bmap.KindFile && st.key.kind != bmap.KindDir {
			for _, s := range st.ext {
				st.size += s.end - s.off
			}
			st.sizeKnown = st.size > 0
		}
	}
	id := int32(len(a.objs))
	a.objs = append(a.objs, st)
	a.ids[k] = id
	return id
}

// mergeSpans sorts s and merges overlapping and adjacent spans, in place.
func mergeSpans(s []span) []span {
	slices.SortFunc(s, func(x, y span) int { return cmp.Compare(x.off, y.off) })
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && x.off <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// disk returns the record of disk d, nil past MaxDisks disks.
func (a *Aggregator) disk(d int, dev string) *diskStat {
	for _, ds := range a.disks {
		if ds.disk == d {
			if ds.device == "" {
				ds.device = dev
			}
			return ds
		}
	}
	if len(a.disks) >= MaxDisks {
		return nil
	}
	ds := &diskStat{disk: d, device: dev, reads: newRangeSet(a.opt.MaxRanges), unmapped: newRangeSet(a.opt.MaxRanges)}
	a.disks = append(a.disks, ds)
	slices.SortFunc(a.disks, func(x, y *diskStat) int { return cmp.Compare(x.disk, y.disk) })
	return ds
}

// add accounts one request whose objects are in a.hits.
func (a *Aggregator) add(t, dur int64, conn uint64, disk int, off, n int64, cache, errored bool) {
	t = max(t, 0)
	end := off + n
	if n < 0 || end < off {
		n, end = 0, off
	}
	tot := &a.totals
	tot.Requests++
	tot.Bytes += n
	if cache {
		tot.CacheRequests++
	}
	if errored {
		tot.Errors++
	}
	if len(a.conns) < maxConns {
		a.conns[conn] = struct{}{}
	}
	a.maxCon = max(a.maxCon, conn)
	a.end = max(a.end, t+max(dur, 0))

	diskDev := ""
	a.covered = a.covered[:0]
	var inPart int64
	bk := a.bucket(t)
	for _, h := range a.hits {
		if h.id < 0 { // not kept, but mapped all the same
			if h.kind != bmap.KindDisk && h.len > 0 {
				a.covered = append(a.covered, span{off: h.off, end: h.off + h.len})
			}
			continue
		}
		st := a.objs[h.id]
		if st.reads == 0 {
			st.first = t
		}
		st.reads++
		st.last = max(st.last, t)
		if h.fileOff >= 0 && !st.hasData && (h.kind == bmap.KindFile || h.kind == bmap.KindDir) {
			st.firstData, st.hasData = t, true
		}
		st.bytes += h.len
		// The object's bytes of the request, as disk ranges.
		from := len(a.covered)
		if st.ext != nil {
			a.covered = intersect(a.covered, st.ext, max(h.off, off), end)
		} else if h.len > 0 {
			a.covered = append(a.covered, span{off: h.off, end: h.off + h.len})
		}
		before := len(st.set.s)
		for _, s := range a.covered[from:] {
			st.set.add(s.off, s.end, t)
		}
		if a.spans+len(st.set.s)-before > a.maxSpans && st.set.max > minRanges {
			// Over the budget: this object keeps few ranges from now on.
			st.set.max = minRanges
			st.set.trim()
		}
		a.spans += len(st.set.s) - before
		switch st.key.kind {
		case bmap.KindDisk:
			diskDev = st.key.device
			a.covered = a.covered[:from] // not "mapped"
		case bmap.KindPartition:
			inPart += h.len
			if h.len > 0 {
				bk.ByDevice[st.key.device] += h.len
			}
		}
	}
	ds := a.disk(disk, diskDev)
	if ds != nil {
		ds.reads.add(off, end, t)
	}
	bk.Requests++
	bk.Bytes += n
	if rest := n - inPart; rest > 0 {
		dev := diskDev
		if ds != nil && ds.device != "" {
			dev = ds.device
		}
		if dev == "" {
			dev = a.exportDevice(disk)
		}
		bk.ByDevice[dev] += rest
	}

	// Unmapped: the request minus every object but the disk.
	covered := mergeSpans(a.covered)
	a.covered = covered
	var unm int64
	pos := off
	gap := func(from, to int64) {
		if ds != nil {
			ds.unmapped.add(from, to, t)
		}
		unm += to - from
	}
	for _, c := range covered {
		if c.off > pos {
			gap(pos, min(c.off, end))
		}
		pos = max(pos, c.end)
	}
	if pos < end {
		gap(pos, end)
	}
	// A request is counted once: wholly mapped, wholly unmapped, or
	// partly (bytes of both), so the three add up to Requests.
	tot.UnmappedBytes += unm
	tot.MappedBytes += n - unm
	switch {
	case len(covered) == 0:
		tot.UnmappedRequests++
	case unm == 0:
		tot.MappedRequests++
	case unm == n:
		tot.UnmappedRequests++
	default:
		tot.PartlyMappedRequests++
	}
}

// intersect appends the parts of [off, end) inside the sorted spans ext.
func intersect(dst, ext []span, off, end int64) []span {
	i := searchEnd(ext, off+1)
	for ; i < len(ext) && ext[i].off < end; i++ {
		dst = append(dst, span{off: max(ext[i].off, off), end: min(ext[i].end, end)})
	}
	return dst
}

func (a *Aggregator) exportDevice(disk int) string {
	for _, e := range a.opt.Exports {
		if e.Disk == disk && e.Device != "" {
			return e.Device
		}
	}
	if a.m != nil {
		for _, d := range a.m.Disks {
			if d.Index == disk {
				return d.Device
			}
		}
	}
	return diskName(disk)
}

// diskName is the device name the map gives disk d: /dev/sda, /dev/sdb...
func diskName(d int) string {
	if d >= 1 && d <= 26 {
		return "/dev/sd" + string(rune('a'+d-1))
	}
	return "disk" + strconv.Itoa(d)
}

// bucket returns the timeline bucket of time t, widening the buckets
// (doubling, merging pairs) while t lies past MaxBuckets of them.
func (a *Aggregator) bucket(t int64) *Bucket {
	for t/a.bucketNs >= MaxBuckets {
		a.bucketNs *= 2
		merged := a.buckets[:0:0]
		for i := 0; i < len(a.buckets); i += 2 {
			b := a.buckets[i]
			if i+1 < len(a.buckets) {
				c := a.buckets[i+1]
				b.Requests += c.Requests
				b.Bytes += c.Bytes
				for k, v := range c.ByDevice {
					b.ByDevice[k] += v
				}
			}
			merged = append(merged, b)
		}
		a.buckets = merged
	}
	i := int(t / a.bucketNs)
	for len(a.buckets) <= i {
		a.buckets = append(a.buckets, Bucket{ByDevice: map[string]int64{}})
	}
	return &a.buckets[i]
}

// Summary returns the summary of the events so far.
func (a *Aggregator) Summary() *Summary {
	s := &Summary{
		Version:  Version,
		Start:    a.opt.Start.UTC(),
		Duration: Nanos(a.end),
		Exports:  a.opt.Exports,
		Totals:   a.totals,
		Objects:  make([]ObjectStats, 0, len(a.objs)),
		Unmapped: []Range{},
		Timeline: Timeline{BucketNs: Nanos(a.bucketNs), Buckets: make([]Bucket, len(a.buckets))},
		Layout:   []DiskLayout{},
	}
	if s.Exports == nil {
		s.Exports = []logger.ExportEntry{}
	}
	s.Totals.Connections = int64(len(a.conns))
	if len(a.conns) >= maxConns {
		s.Totals.Connections = int64(a.maxCon)
	}
	s.Totals.Connections = max(s.Totals.Connections, a.accepted)
	for i, b := range a.buckets {
		b.ByDevice = maps(b.ByDevice)
		s.Timeline.Buckets[i] = b
	}
	// Order counts the objects read, without gaps (objects made but
	// not read take no number).
	a.objIdx = a.objIdx[:0]
	for i, st := range a.objs {
		if st.reads == 0 {
			continue
		}
		o := ObjectStats{
			Type:          st.key.kind,
			Disk:          st.key.disk,
			Device:        st.key.device,
			Path:          st.key.path,
			Inode:         st.key.inode,
			First:         Nanos(st.first),
			Last:          Nanos(st.last),
			Reads:         st.reads,
			Bytes:         st.bytes,
			DistinctBytes: st.set.size(),
			Approx:        st.set.approx,
			Order:         len(s.Objects) + 1,
		}
		if st.hasData {
			fd := Nanos(st.firstData)
			o.FirstContents = &fd
		}
		if st.sizeKnown {
			o.Size = st.size
			if sh, ok := share(st); ok {
				o.Share = &sh
			}
		}
		s.Objects = append(s.Objects, o)
		a.objIdx = append(a.objIdx, i)
	}
	s.Totals.Objects = int64(len(s.Objects))
	for _, ds := range a.disks {
		s.Totals.DistinctBytes += ds.reads.size()
		for _, u := range ds.unmapped.s {
			s.Unmapped = append(s.Unmapped, Range{Disk: ds.disk, Off: u.off, Len: u.end - u.off})
		}
		s.UnmappedApprox = s.UnmappedApprox || ds.unmapped.approx
		s.Layout = append(s.Layout, a.layout(ds, s))
	}
	return s
}

// maps copies m (a Summary does not share the aggregator's maps).
func maps(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// share is the part of an object read: for a file or directory the bytes
// of its contents [0, size) read over size, for others distinct/size.
func share(st *objStat) (float64, bool) {
	if st.size <= 0 {
		return 0, false
	}
	k := st.key.kind
	if (k != bmap.KindFile && k != bmap.KindDir) || st.ext == nil {
		return min(1, float64(st.set.size())/float64(st.size)), true
	}
	var n int64
	for _, e := range st.data {
		l := min(e.Len, st.size-e.FileOff)
		if l <= 0 {
			continue
		}
		n += st.set.overlap(e.Off, e.Off+l)
	}
	return min(1, float64(n)/float64(st.size)), true
}

// layout places disk ds's partitions, objects read and read regions.
func (a *Aggregator) layout(ds *diskStat, s *Summary) DiskLayout {
	l := DiskLayout{
		Disk:        ds.disk,
		Device:      ds.device,
		Partitions:  []Extent{},
		Objects:     []LayoutObject{},
		Reads:       make([]ReadRegion, 0, len(ds.reads.s)),
		ReadsApprox: ds.reads.approx,
	}
	if l.Device == "" {
		l.Device = a.exportDevice(ds.disk)
	}
	for _, e := range a.opt.Exports {
		if e.Disk == ds.disk {
			l.Size = e.Size
		}
	}
	if a.m != nil {
		for _, d := range a.m.Disks {
			if d.Index == ds.disk && l.Size == 0 {
				l.Size = d.Size
			}
		}
		for i := range a.m.Objects {
			o := &a.m.Objects[i]
			if o.Disk != ds.disk || o.Kind != bmap.KindPartition {
				continue
			}
			for _, e := range o.Extents {
				l.Partitions = append(l.Partitions, Extent{Device: o.Device, Off: e.Off, Len: e.Len})
			}
		}
	} else {
		// Without a map: the partitions read, as the hull of their reads.
		for _, st := range a.objs {
			if st.key.disk == ds.disk && st.key.kind == bmap.KindPartition && len(st.set.s) > 0 {
				lo, hi := st.set.s[0].off, st.set.s[len(st.set.s)-1].end
				l.Partitions = append(l.Partitions, Extent{Device: st.key.device, Off: lo, Len: hi - lo})
			}
		}
	}
	slices.SortStableFunc(l.Partitions, func(x, y Extent) int { return cmp.Compare(x.Off, y.Off) })
	for _, r := range ds.reads.s {
		l.Reads = append(l.Reads, ReadRegion{Off: r.off, Len: r.end - r.off, First: Nanos(r.first)})
		l.Size = max(l.Size, r.end)
	}
	// Objects read: files and directories first, then metadata and LVs,
	// each group in order of first read.
	budget := MaxLayoutTotal
	for _, group := range [][]bmap.Kind{{bmap.KindFile, bmap.KindDir}, {bmap.KindMeta, bmap.KindLV}} {
		for i, o := range s.Objects {
			if len(l.Objects) >= MaxLayoutObjects || budget <= 0 {
				break
			}
			if o.Disk != ds.disk || !slices.Contains(group, o.Type) {
				continue
			}
			st := a.objs[a.objIdx[i]]
			src := st.ext
			if src == nil {
				src = st.set.s
			}
			src = coalesce(slices.Clone(src), min(MaxLayoutExtents, budget))
			budget -= len(src)
			lo := LayoutObject{Object: i, Extents: make([]Span, len(src))}
			for j, x := range src {
				lo.Extents[j] = Span{Off: x.off, Len: x.end - x.off}
			}
			l.Objects = append(l.Objects, lo)
		}
	}
	return l
}

var _ logger.Sink = (*Aggregator)(nil)
