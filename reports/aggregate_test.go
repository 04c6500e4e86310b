package reports

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// liveEvents turns the events of an NDJSON trace back into the events a
// logger hands its sinks: each request looked up in ix, as the logger
// does.
func liveEvents(ix *bmap.Index, evs []logger.JSONEvent) []logger.Event {
	out := make([]logger.Event, len(evs))
	for i, je := range evs {
		ev := logger.Event{Time: time.Duration(je.T), Dur: time.Duration(je.Dur), Conn: je.Conn, Export: je.Export,
			Disk: je.Disk, Off: je.Off, Len: je.Len, Cache: je.Cache}
		if je.Error != "" {
			ev.Err = errors.New(je.Error)
		}
		for _, h := range ix.Lookup(je.Disk, je.Off, int64(je.Len)) {
			ev.Objects = append(ev.Objects, logger.Object{Object: h.Object, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
		}
		out[i] = ev
	}
	return out
}

// TestLiveEqualsNDJSON: the aggregator fed live events (as a logger
// sink) and the same trace's NDJSON give the same summary.
func TestLiveEqualsNDJSON(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	m := readMap(t, "testdata/sample.bmap.json")
	live := NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})
	for _, ev := range liveEvents(bmap.NewIndex(m), evs) {
		if err := live.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := live.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	got, want := live.Summary(), summarise(h, evs, m)
	if !reflect.DeepEqual(got, want) {
		var g, w bytes.Buffer
		WriteJSON(&g, got)
		WriteJSON(&w, want)
		t.Errorf("live summary differs from the NDJSON one:\n%s\nwant\n%s", g.String(), w.String())
	}
}

// TestLiveObjectsOutsideMap: live events whose objects are not elements
// of the aggregator's map (an index built from a copy of it) are found
// by pointer and key as well, and give the summary of events pointing
// into the map itself.
func TestLiveObjectsOutsideMap(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	m := readMap(t, "testdata/sample.bmap.json")
	cp := *m
	cp.Objects = slices.Clone(m.Objects)
	summary := func(ix *bmap.Index) *Summary {
		a := NewAggregator(m, Options{Start: h.Start, Exports: h.Exports})
		for _, ev := range liveEvents(ix, evs) {
			if err := a.Write(&ev); err != nil {
				t.Fatal(err)
			}
		}
		return a.Summary()
	}
	inside, outside := summary(bmap.NewIndex(m)), summary(bmap.NewIndex(&cp))
	if len(inside.Objects) == 0 {
		t.Fatal("no objects in the summary")
	}
	if !reflect.DeepEqual(inside, outside) {
		t.Errorf("objects outside the map give another summary: %d objects against %d", len(outside.Objects), len(inside.Objects))
	}
}

// sectorSet is a brute-force set of 512-byte sectors (every request and
// extent of the fixture is sector-aligned).
type sectorSet map[int64]bool

func (s sectorSet) add(off, end int64) {
	for x := off / 512; x*512 < end; x++ {
		s[x] = true
	}
}

// TestSummaryAgainstTrace recomputes the summary of the fixture from the
// raw events and the map, sector by sector, without the aggregator's
// range sets, and compares.
func TestSummaryAgainstTrace(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	m := readMap(t, "testdata/sample.bmap.json")
	for _, withMap := range []bool{true, false} {
		t.Run(fmt.Sprint("map=", withMap), func(t *testing.T) {
			var mm *bmap.Map
			if withMap {
				mm = m
			}
			s := summarise(h, evs, mm)
			type want struct {
				reads, bytes int64
				first, last  int64
				sectors      sectorSet
			}
			objs := map[string]*want{}
			var order []string
			var tot Totals
			disk := sectorSet{}
			unmapped := sectorSet{}
			byKey := map[string]*bmap.Object{}
			for i := range m.Objects {
				o := &m.Objects[i]
				byKey[string(o.Kind)+" "+o.Device+" "+o.Path] = o
			}
			var end int64
			conns := map[uint64]bool{}
			for _, ev := range evs {
				tot.Requests++
				tot.Bytes += int64(ev.Len)
				conns[ev.Conn] = true
				end = max(end, ev.T+ev.Dur)
				disk.add(ev.Off, ev.Off+int64(ev.Len))
				covered := sectorSet{}
				for _, o := range ev.Objects {
					k := string(o.Type) + " " + o.Device + " " + o.Name()
					w := objs[k]
					if w == nil {
						w = &want{first: ev.T, sectors: sectorSet{}}
						objs[k] = w
						order = append(order, k)
					}
					w.reads++
					w.bytes += o.Len
					w.last = ev.T
					// The object's sectors of the request: from the
					// map's extents, or (no map) from off and len.
					req := sectorSet{}
					if withMap {
						for _, e := range byKey[k].Extents {
							lo, hi := max(e.Off, ev.Off), min(e.End(), ev.Off+int64(ev.Len))
							if lo < hi {
								req.add(lo, hi)
							}
						}
					} else {
						req.add(o.Off, o.Off+o.Len)
					}
					for x := range req {
						w.sectors[x] = true
						if o.Type != bmap.KindDisk {
							covered[x] = true
						}
					}
				}
				var unm int64
				for x := ev.Off / 512; x*512 < ev.Off+int64(ev.Len); x++ {
					if !covered[x] {
						unmapped[x] = true
						unm += 512
					}
				}
				tot.UnmappedBytes += unm
				tot.MappedBytes += int64(ev.Len) - unm
				switch {
				case len(covered) == 0:
					tot.UnmappedRequests++
				case unm == 0:
					tot.MappedRequests++
				case unm == int64(ev.Len):
					tot.UnmappedRequests++
				default:
					tot.PartlyMappedRequests++
				}
			}
			tot.DistinctBytes = int64(len(disk)) * 512
			tot.Connections = int64(len(conns))
			tot.Objects = int64(len(objs))
			if s.Totals != tot {
				t.Errorf("totals %+v, want %+v", s.Totals, tot)
			}
			if s.Duration != Nanos(end) || !s.Start.Equal(h.Start) {
				t.Errorf("start %v duration %d, want %v %d", s.Start, s.Duration, h.Start, end)
			}
			if len(s.Objects) != len(order) {
				t.Fatalf("%d objects, want %d", len(s.Objects), len(order))
			}
			for i, o := range s.Objects {
				k := string(o.Type) + " " + o.Device + " " + o.Path
				w := objs[k]
				if k != order[i] || o.Order != i+1 {
					t.Errorf("object %d (order %d) is %q, want %q", i, o.Order, k, order[i])
					continue
				}
				if o.Reads != w.reads || o.Bytes != w.bytes || int64(o.First) != w.first || int64(o.Last) != w.last ||
					o.DistinctBytes != int64(len(w.sectors))*512 || o.Approx {
					t.Errorf("%s: reads %d bytes %d first %d last %d distinct %d, want %d %d %d %d %d", k,
						o.Reads, o.Bytes, o.First, o.Last, o.DistinctBytes, w.reads, w.bytes, w.first, w.last, len(w.sectors)*512)
				}
				mo := byKey[k]
				if !withMap {
					if o.Size != 0 || o.Share != nil {
						t.Errorf("%s: size %d share %v without a map", k, o.Size, o.Share)
					}
					continue
				}
				// Share: the sectors of the contents [0, size) read.
				size, dataSectors := mo.Size, sectorSet{}
				for _, e := range mo.Extents {
					if o.Type == bmap.KindFile || o.Type == bmap.KindDir {
						if e.FileOff >= 0 && e.FileOff < size {
							dataSectors.add(e.Off, e.Off+min(e.Len, size-e.FileOff))
						}
					} else {
						size += e.Len
					}
				}
				var read int64
				for x := range dataSectors {
					if w.sectors[x] {
						read += 512
					}
				}
				var wantShare float64
				if o.Type == bmap.KindFile || o.Type == bmap.KindDir {
					wantShare = min(1, float64(read)/float64(size))
				} else {
					wantShare = float64(len(w.sectors)*512) / float64(size)
				}
				if o.Size != size || o.Share == nil || *o.Share != wantShare {
					t.Errorf("%s: size %d share %v, want %d %v", k, o.Size, o.Share, size, wantShare)
				}
			}
			// Unmapped ranges: exactly the sectors read in no object but
			// the disk.
			got := sectorSet{}
			for _, r := range s.Unmapped {
				got.add(r.Off, r.Off+r.Len)
			}
			if !reflect.DeepEqual(got, unmapped) || s.UnmappedApprox {
				t.Errorf("unmapped %v, want sectors %v", s.Unmapped, unmapped)
			}
			// Timeline: every request in the bucket of its time.
			var req, byt, dev int64
			for i, b := range s.Timeline.Buckets {
				req += b.Requests
				byt += b.Bytes
				var d int64
				for _, n := range b.ByDevice {
					d += n
				}
				if d != b.Bytes {
					t.Errorf("bucket %d: by_device sums to %d, bytes %d", i, d, b.Bytes)
				}
				dev += d
			}
			if req != tot.Requests || byt != tot.Bytes {
				t.Errorf("timeline: %d requests %d bytes, want %d %d", req, byt, tot.Requests, tot.Bytes)
			}
			for _, ev := range evs {
				if b := ev.T / int64(s.Timeline.BucketNs); b >= int64(len(s.Timeline.Buckets)) || s.Timeline.Buckets[b].Requests == 0 {
					t.Errorf("request at %d: bucket %d empty", ev.T, b)
				}
			}
			// Layout: the read regions are the disk's sectors read.
			if len(s.Layout) != 1 {
				t.Fatalf("%d disk layouts", len(s.Layout))
			}
			l := s.Layout[0]
			got = sectorSet{}
			for _, r := range l.Reads {
				got.add(r.Off, r.Off+r.Len)
			}
			if !reflect.DeepEqual(got, disk) || l.Size != h.Exports[0].Size || l.Device != "/dev/sda" {
				t.Errorf("layout: size %d device %s reads %v", l.Size, l.Device, l.Reads)
			}
			if withMap && (len(l.Partitions) != 2 || l.Partitions[0].Device != "/dev/sda1" || l.Partitions[0].Off != 2048*512 || l.Partitions[1].Len != 49152*512) {
				t.Errorf("partitions %+v, want sfdisk's /dev/sda1 at sector 2048 and /dev/sda2 of 49152 sectors", l.Partitions)
			}
			for _, lo := range l.Objects {
				if k := s.Objects[lo.Object].Type; k == bmap.KindPartition || k == bmap.KindDisk || len(lo.Extents) == 0 {
					t.Errorf("layout object %d: type %c, %d extents", lo.Object, k, len(lo.Extents))
				}
			}
		})
	}
}

// TestLimits: a trace with more scattered reads than the range cap keeps
// at most the cap, flags approx, and never counts fewer bytes than read;
// the timeline widens past MaxBuckets; objects past the object cap of a
// trace without a map are counted, not kept.
func TestLimits(t *testing.T) {
	a := NewAggregator(nil, Options{MaxRanges: 8})
	a.maxObjects = 5
	var ev logger.JSONEvent
	const n = 1000
	for i := range n {
		off := int64(i) * 4096
		ev = logger.JSONEvent{T: int64(i) * int64(10*time.Millisecond), Conn: 1, Disk: 1, Off: off, Len: 512,
			Objects: []logger.JSONObject{
				{Type: bmap.KindFile, Device: "/dev/sda1", Path: fmt.Sprintf("/f%d", i%7), Off: off, Len: 512},
				{Type: bmap.KindDisk, Device: "/dev/sda", Off: off, Len: 512},
			}}
		a.AddJSON(&ev)
	}
	s := a.Summary()
	if len(s.Objects) != 5 || s.Totals.ObjectsDropped == 0 {
		t.Errorf("%d objects, %d dropped: want 5 kept", len(s.Objects), s.Totals.ObjectsDropped)
	}
	for _, o := range s.Objects {
		if o.Type == bmap.KindDisk && (!o.Approx || o.DistinctBytes < n*512) {
			t.Errorf("disk: approx %v distinct %d, want an upper bound of %d", o.Approx, o.DistinctBytes, n*512)
		}
	}
	l := s.Layout[0]
	if len(l.Reads) > 8 || !l.ReadsApprox || s.Totals.DistinctBytes < n*512 {
		t.Errorf("%d read regions (approx %v), distinct %d", len(l.Reads), l.ReadsApprox, s.Totals.DistinctBytes)
	}
	if len(s.Timeline.Buckets) > MaxBuckets || s.Timeline.BucketNs <= Nanos(MinBucket) {
		t.Errorf("timeline: %d buckets of %d ns", len(s.Timeline.Buckets), s.Timeline.BucketNs)
	}
	var req int64
	for _, b := range s.Timeline.Buckets {
		req += b.Requests
	}
	if req != n || s.Totals.UnmappedBytes != 0 || s.Totals.Requests != n {
		t.Errorf("timeline holds %d requests, totals %+v", req, s.Totals)
	}
	if (n-1)*int64(10*time.Millisecond)/int64(s.Timeline.BucketNs) >= MaxBuckets {
		t.Errorf("bucket %d ns too narrow for the trace", s.Timeline.BucketNs)
	}
}

// TestBudgets: past the total range budget growing objects are cut to a
// few ranges (flagged approx, never fewer bytes than read); past MaxDisks
// disks the reads count in the totals only.
func TestBudgets(t *testing.T) {
	a := NewAggregator(nil, Options{})
	a.maxSpans = 100
	const n = 2000
	for i := range n {
		off := int64(i) * 8192
		ev := logger.JSONEvent{T: int64(i), Conn: 1, Disk: 1, Off: off, Len: 512,
			Objects: []logger.JSONObject{{Type: bmap.KindFile, Device: "/dev/sda1", Path: fmt.Sprintf("/f%d", i%3), Off: off, Len: 512}}}
		a.AddJSON(&ev)
	}
	if a.spans > 100+3*minRanges {
		t.Errorf("%d ranges held, budget 100", a.spans)
	}
	s := a.Summary()
	for _, o := range s.Objects {
		if !o.Approx || o.DistinctBytes < n/3*512 {
			t.Errorf("%s: approx %v distinct %d", o.Path, o.Approx, o.DistinctBytes)
		}
	}

	a = NewAggregator(nil, Options{})
	for i := range n {
		ev := logger.JSONEvent{T: int64(i), Conn: 1, Disk: 1 + i%(MaxDisks+10), Off: 0, Len: 512,
			Objects: []logger.JSONObject{{Type: bmap.KindPartition, Device: "/dev/sdx1", Off: 0, Len: 512}}}
		a.AddJSON(&ev)
	}
	s = a.Summary()
	if len(s.Layout) != MaxDisks || s.Totals.Requests != n || s.Totals.Bytes != n*512 || s.Totals.UnmappedBytes != 0 {
		t.Errorf("%d disk layouts, totals %+v", len(s.Layout), s.Totals)
	}
}

// TestOtherMapForm: a trace made against a text map (no inodes) reported
// with the JSON map of the same image (inodes) finds every object's size
// by name.
func TestOtherMapForm(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	m := readMap(t, "testdata/sample.bmap.json")
	for i := range evs {
		objs := slices.Clone(evs[i].Objects)
		for j := range objs {
			objs[j].Inode = 0
		}
		evs[i].Objects = objs
	}
	s := summarise(h, evs, m)
	n := 0
	for _, o := range s.Objects {
		if o.Type == bmap.KindFile {
			if o.Size == 0 || o.Share == nil {
				t.Errorf("%s: no size or share", o.Path)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no file read in the fixture")
	}
}

// TestOddEvents: errors, cache requests, several connections, bad kinds
// and negative lengths are counted or ignored, never a panic.
func TestOddEvents(t *testing.T) {
	a := NewAggregator(nil, Options{})
	evs := []logger.JSONEvent{
		{T: 5, Conn: 1, Disk: 1, Off: 0, Len: 512, Cache: true, Objects: []logger.JSONObject{{Type: bmap.KindDisk, Device: "/dev/sda", Off: 0, Len: 512}}},
		{T: 3, Conn: 2, Disk: 1, Off: 512, Len: 512, Error: "EIO", Objects: []logger.JSONObject{}},
		{T: -7, Conn: 2, Disk: 2, Off: 100, Len: 0, Objects: []logger.JSONObject{{Type: 'x', Device: "?"}, {Type: bmap.KindFile, Device: "/dev/sdb1", Path: "/a", Off: 5, Len: -9}}},
	}
	for i := range evs {
		a.AddJSON(&evs[i])
	}
	s := a.Summary()
	want := Totals{Requests: 3, Bytes: 1024, DistinctBytes: 1024, UnmappedRequests: 3, UnmappedBytes: 1024, CacheRequests: 1, Errors: 1, Connections: 2, Objects: 2}
	if s.Totals != want {
		t.Errorf("totals %+v, want %+v", s.Totals, want)
	}
	if len(s.Layout) != 2 || s.Layout[1].Device != "/dev/sdb" {
		t.Errorf("layout %+v", s.Layout)
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, 3); err != nil || !strings.Contains(b.String(), "1 cache request, 1 error") {
		t.Errorf("text: %v\n%s", err, b.String())
	}
}

// TestJSONRoundTrip: ReadJSON gives back what WriteJSON wrote.
func TestJSONRoundTrip(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	s := summarise(h, evs, readMap(t, "testdata/sample.bmap.json"))
	var b bytes.Buffer
	if err := WriteJSON(&b, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip differs:\n%+v\n%+v", got, s)
	}
	if _, err := ReadJSON(strings.NewReader(`{"version":2}`)); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}
}

func TestKeysMergeAcrossObjects(t *testing.T) {
	// Two map objects with one key (a hard link's path listed twice, or
	// two metadata structures of one name) are one record with both
	// objects' extents, live and from NDJSON.
	m := &bmap.Map{Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}}, Objects: []bmap.Object{
		{Disk: 1, Kind: bmap.KindMeta, Device: "/dev/sda1", Path: "backup", Extents: []bmap.Extent{{Off: 0, Len: 512, FileOff: -1}}},
		{Disk: 1, Kind: bmap.KindMeta, Device: "/dev/sda1", Path: "backup", Extents: []bmap.Extent{{Off: 4096, Len: 512, FileOff: -1}}},
	}}
	ix := bmap.NewIndex(m)
	je := []logger.JSONEvent{{Disk: 1, Off: 0, Len: 8192}}
	ev := liveEvents(ix, je)
	for _, h := range ev[0].Objects {
		je[0].Objects = append(je[0].Objects, logger.JSONObject{Type: h.Kind, Device: h.Device, Path: h.Path, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
	}
	live := NewAggregator(m, Options{})
	live.Write(&ev[0])
	rep := NewAggregator(m, Options{})
	rep.AddJSON(&je[0])
	a, b := live.Summary(), rep.Summary()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("live %+v\nndjson %+v", a.Objects, b.Objects)
	}
	if len(a.Objects) != 1 || a.Objects[0].DistinctBytes != 1024 || a.Objects[0].Size != 1024 || a.Totals.UnmappedBytes != 8192-1024 {
		t.Errorf("objects %+v totals %+v", a.Objects, a.Totals)
	}
}

// TestFirstContents: a file whose MFT record (no file offset) is read
// long before its contents: First is the record's read, FirstContents
// the first read of its contents, live and from NDJSON alike; a file of
// which only the record was read has no FirstContents.
func TestFirstContents(t *testing.T) {
	m := &bmap.Map{Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}}, Objects: []bmap.Object{
		{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/vmlinuz", Inode: 65, Size: 8192, Extents: []bmap.Extent{
			{Off: 1024, Len: 1024, FileOff: -1, Role: bmap.RoleRecord}, {Off: 65536, Len: 8192, FileOff: 0, Role: bmap.RoleData}}},
		{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/unread", Inode: 66, Size: 4096, Extents: []bmap.Extent{
			{Off: 2048, Len: 1024, FileOff: -1, Role: bmap.RoleRecord}, {Off: 131072, Len: 4096, FileOff: 0, Role: bmap.RoleData}}},
	}}
	ix := bmap.NewIndex(m)
	je := []logger.JSONEvent{{T: 100, Disk: 1, Off: 0, Len: 4096}, {T: 200, Disk: 1, Off: 65536, Len: 4096}, {T: 300, Disk: 1, Off: 65536 + 4096, Len: 4096}}
	evs := liveEvents(ix, je)
	live, rep := NewAggregator(m, Options{}), NewAggregator(m, Options{})
	for i := range evs {
		for _, h := range evs[i].Objects {
			je[i].Objects = append(je[i].Objects, logger.JSONObject{Type: h.Kind, Device: h.Device, Path: h.Path, Inode: h.Inode, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
		}
		live.Write(&evs[i])
		rep.AddJSON(&je[i])
	}
	a, b := live.Summary(), rep.Summary()
	if !reflect.DeepEqual(a.Objects, b.Objects) {
		t.Errorf("live %+v\nndjson %+v", a.Objects, b.Objects)
	}
	got := map[string]ObjectStats{}
	for _, o := range a.Objects {
		got[o.Path] = o
	}
	if o := got["/vmlinuz"]; o.First != 100 || o.FirstContents == nil || *o.FirstContents != 200 || o.Share == nil || *o.Share != 1 {
		t.Errorf("/vmlinuz: first %d, first contents %v, share %v; want 100, 200, 1", o.First, o.FirstContents, o.Share)
	}
	if o, ok := got["/unread"]; !ok || o.FirstContents != nil {
		t.Errorf("/unread (record only): %+v (listed %v), want no first contents", o, ok)
	}
}
