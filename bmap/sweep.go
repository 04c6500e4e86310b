package bmap

import (
	"cmp"
	"slices"
)

// The sweep is the Index's (WriteText has its own, textsweep.go, made for
// maps of millions of objects): it cuts
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
	// id is what the sweep orders the active spans by (through rank):
	// the Index's object index.
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
// rank has one entry per id. Every boundary starts a new segment (the
// text writer's sweep, which joins neighbouring segments covered by the
// same texts as the original virt-bmap's interval map did, is
// textsweep.go's).
func sweep(spans []span, rank []int32, emit func(disk int32, start, end int64, active []int32)) {
	slices.SortFunc(spans, cmpSpan)
	var ends, active []int32
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
			if len(active) > 0 {
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
