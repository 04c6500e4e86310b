package bmap

import (
	"cmp"
	"slices"
)

// The sweep is the Index's (WriteText has its own, textsweep.go, made for
// maps of millions of objects; join is what a text writer needs): it cuts
// each disk into elementary segments, the intervals between consecutive
// distinct extent boundaries, and reports for each segment the extents
// covering it.
// Sorting the boundaries costs O(N log N) in the number of extents N; each
// boundary then moves a few entries in or out of the active set, kept
// sorted by rank, so the work beyond the sort is proportional to the size
// of the output (segments times the objects covering each), never to
// segments times all objects.

// span is one extent of one object, the unit of the sweep.
type span struct {
	off, end int64
	disk     int32
	// id is what the sweep considers one object: an object index for
	// the Index (a text key (disk, type, device, path) for a writer).
	id  int32
	obj int32 // index of the object in Map.Objects
	ext int32 // index of the extent in the object's Extents
}

func cmpSpan(a, b span) int {
	if c := cmp.Compare(a.disk, b.disk); c != 0 {
		return c
	}
	if c := cmp.Compare(a.off, b.off); c != 0 {
		return c
	}
	if c := cmp.Compare(a.obj, b.obj); c != 0 {
		return c
	}
	return cmp.Compare(a.ext, b.ext)
}

// sweep sorts spans and calls emit once per segment, in order of disk and
// offset, with the indices (into spans) of the spans covering the segment,
// sorted by (rank[id], index); spans of one id are therefore next to each
// other. active is only valid during the call.
//
// nid is the number of distinct ids, rank has one entry per id. With join
// set, neighbouring segments covered by the same set of ids are reported
// as one, as the original virt-bmap's interval map joined them; without
// it, every boundary starts a new segment.
func sweep(spans []span, nid int, rank []int32, join bool, emit func(disk int32, start, end int64, active []int32)) {
	slices.SortFunc(spans, cmpSpan)
	var (
		cnt     []int32  // number of active spans per id (join only)
		mark    []uint32 // generation an id was last touched in
		gen     uint32
		touched []int32
		before  []bool
		ends    []int32
		active  []int32
	)
	if join {
		cnt = make([]int32, nid)
		mark = make([]uint32, nid)
	}
	less := func(a, b int32) int {
		if c := cmp.Compare(rank[spans[a].id], rank[spans[b].id]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	for g := 0; g < len(spans); {
		disk := spans[g].disk
		h := g
		for h < len(spans) && spans[h].disk == disk {
			h++
		}
		ends = ends[:0]
		for k := g; k < h; k++ {
			ends = append(ends, int32(k))
		}
		slices.SortFunc(ends, func(a, b int32) int { return cmp.Compare(spans[a].end, spans[b].end) })
		active = active[:0]
		var segStart int64
		for i, j := g, 0; j < len(ends); {
			x := spans[ends[j]].end
			if i < h && spans[i].off < x {
				x = spans[i].off
			}
			je := j
			for je < len(ends) && spans[ends[je]].end == x {
				je++
			}
			ie := i
			for ie < h && spans[ie].off == x {
				ie++
			}
			changed := true
			if join {
				gen++
				if gen == 0 { // wrapped: forget every mark
					clear(mark)
					gen = 1
				}
				touched, before = touched[:0], before[:0]
				touch := func(id int32, d int32) {
					if mark[id] != gen {
						mark[id] = gen
						touched = append(touched, id)
						before = append(before, cnt[id] > 0)
					}
					cnt[id] += d
				}
				for _, k := range ends[j:je] {
					touch(spans[k].id, -1)
				}
				for k := i; k < ie; k++ {
					touch(spans[k].id, +1)
				}
				changed = false
				for t, id := range touched {
					if (cnt[id] > 0) != before[t] {
						changed = true
						break
					}
				}
			}
			if len(active) > 0 && changed {
				emit(disk, segStart, x, active)
				segStart = x
			}
			if len(active) == 0 {
				segStart = x
			}
			for _, k := range ends[j:je] {
				if p, ok := slices.BinarySearchFunc(active, k, less); ok {
					active = slices.Delete(active, p, p+1)
				}
			}
			for k := i; k < ie; k++ {
				p, _ := slices.BinarySearchFunc(active, int32(k), less)
				active = slices.Insert(active, p, int32(k))
			}
			i, j = ie, je
		}
		g = h
	}
}
