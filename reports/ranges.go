package reports

import (
	"cmp"
	"slices"
)

// span is a half-open byte range [off, end) with the first time any of
// its bytes was read.
type span struct {
	off, end int64
	first    int64
}

// rangeSet is a set of disjoint, non-adjacent byte ranges in order: the
// union of what was added. It holds at most max ranges: when an Add makes
// it longer, the ranges separated by the smallest gaps are merged (gaps
// included) until it holds max/2, and approx is set: from then on the
// union is an upper bound.
type rangeSet struct {
	s      []span
	max    int
	approx bool
}

func newRangeSet(max int) rangeSet { return rangeSet{max: max} }

// add adds [off, end), read first at t.
func (r *rangeSet) add(off, end, t int64) {
	if end <= off {
		return
	}
	s := r.s
	n := len(s)
	// Fast paths: sequential reads extend or follow the last range.
	if n == 0 || off > s[n-1].end {
		r.s = append(s, span{off, end, t})
		r.trim()
		return
	}
	if off >= s[n-1].off {
		last := &s[n-1]
		last.end = max(last.end, end)
		last.first = min(last.first, t)
		return
	}
	// i: first range whose end >= off (it touches or follows [off,end)).
	i := searchEnd(s, off)
	// j: first range whose off > end (it does not touch [off,end)).
	j := i
	for j < n && s[j].off <= end {
		j++
	}
	if i == j {
		r.s = slices.Insert(s, i, span{off, end, t})
		r.trim()
		return
	}
	m := span{min(off, s[i].off), max(end, s[j-1].end), t}
	for _, x := range s[i:j] {
		m.first = min(m.first, x.first)
	}
	s[i] = m
	r.s = slices.Delete(s, i+1, j)
}

// searchEnd returns the index of the first span of the sorted spans s
// whose end is >= x, len(s) if none. (A loop of our own:
// slices.BinarySearchFunc, which calls the comparison at each step, was
// 40% of the aggregator's time on random reads, where a disk's set is
// large; this is about 10% less.)
func searchEnd(s []span, x int64) int {
	i, w := 0, len(s)
	for w > 0 {
		half := w >> 1
		if s[i+half].end < x {
			i += half + 1
			w -= half + 1
		} else {
			w = half
		}
	}
	return i
}

// trim merges the closest ranges once the set holds more than max.
func (r *rangeSet) trim() {
	if r.max <= 0 || len(r.s) <= r.max {
		return
	}
	r.s = coalesce(r.s, max(r.max/2, 1))
	r.approx = true
}

// coalesce merges the ranges of s separated by the smallest gaps until at
// most n remain. Ties merge the leftmost gaps first.
func coalesce(s []span, n int) []span {
	if len(s) <= n {
		return s
	}
	gaps := make([]int, len(s)-1) // gaps[i] is between s[i] and s[i+1]
	for i := range gaps {
		gaps[i] = i
	}
	slices.SortStableFunc(gaps, func(a, b int) int {
		return cmp.Compare(s[a+1].off-s[a].end, s[b+1].off-s[b].end)
	})
	merge := make([]bool, len(s)-1)
	for _, g := range gaps[:len(s)-n] {
		merge[g] = true
	}
	out := s[:1]
	for i := 1; i < len(s); i++ {
		if merge[i-1] {
			last := &out[len(out)-1]
			last.end = s[i].end
			last.first = min(last.first, s[i].first)
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// size is the number of bytes in the set.
func (r *rangeSet) size() int64 {
	var n int64
	for _, x := range r.s {
		n += x.end - x.off
	}
	return n
}

// overlap is the number of bytes of [off, end) in the set.
func (r *rangeSet) overlap(off, end int64) int64 {
	s := r.s
	i, _ := slices.BinarySearchFunc(s, off, func(x span, off int64) int { return cmp.Compare(x.end, off+1) })
	var n int64
	for ; i < len(s) && s[i].off < end; i++ {
		n += min(s[i].end, end) - max(s[i].off, off)
	}
	return n
}
