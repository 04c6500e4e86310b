package reports

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRangeSetAdd(t *testing.T) {
	type add struct{ off, end, t int64 }
	tests := []struct {
		name string
		adds []add
		want []span
	}{
		{"empty range ignored", []add{{5, 5, 0}, {7, 3, 0}}, nil},
		{"sequential merge", []add{{0, 10, 1}, {10, 20, 2}}, []span{{0, 20, 1}}},
		{"gap kept", []add{{0, 10, 1}, {11, 20, 2}}, []span{{0, 10, 1}, {11, 20, 2}}},
		{"before all", []add{{10, 20, 1}, {0, 5, 2}}, []span{{0, 5, 2}, {10, 20, 1}}},
		{"adjacent before", []add{{10, 20, 5}, {0, 10, 2}}, []span{{0, 20, 2}}},
		{"bridge three", []add{{0, 2, 3}, {4, 6, 1}, {8, 10, 4}, {1, 9, 9}}, []span{{0, 10, 1}}},
		{"inside", []add{{0, 100, 7}, {20, 30, 1}}, []span{{0, 100, 1}}},
		{"insert between", []add{{0, 2, 0}, {10, 12, 0}, {5, 6, 3}}, []span{{0, 2, 0}, {5, 6, 3}, {10, 12, 0}}},
		{"overlap last start", []add{{0, 2, 0}, {10, 12, 0}, {10, 15, 3}}, []span{{0, 2, 0}, {10, 15, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRangeSet(0)
			for _, a := range tc.adds {
				r.add(a.off, a.end, a.t)
			}
			if !slices.Equal(r.s, tc.want) {
				t.Errorf("got %v, want %v", r.s, tc.want)
			}
		})
	}
}

// TestRangeSetRandom checks the set against a bitmap: the same union, the
// same first times, and overlap() for random windows; with a cap, a
// superset of the union in at most max ranges.
func TestRangeSetRandom(t *testing.T) {
	const size = 4096
	for _, cap := range []int{0, 64, 7} {
		rng := rand.New(rand.NewPCG(1, uint64(cap)))
		for round := range 200 {
			r := newRangeSet(cap)
			var bits [size]bool
			first := make([]int64, size)
			for i := range first {
				first[i] = -1
			}
			for i := range 1 + rng.IntN(60) {
				off := rng.Int64N(size)
				end := min(size, off+1+rng.Int64N(200))
				r.add(off, end, int64(i))
				for b := off; b < end; b++ {
					if !bits[b] {
						bits[b], first[b] = true, int64(i)
					}
				}
			}
			var n int64
			for _, b := range bits {
				if b {
					n++
				}
			}
			for i := 1; i < len(r.s); i++ {
				if r.s[i].off <= r.s[i-1].end {
					t.Fatalf("cap %d round %d: ranges not disjoint and apart: %v", cap, round, r.s)
				}
			}
			if cap > 0 && len(r.s) > cap {
				t.Fatalf("cap %d round %d: %d ranges", cap, round, len(r.s))
			}
			if !r.approx {
				if r.size() != n {
					t.Fatalf("cap %d round %d: size %d, bitmap %d", cap, round, r.size(), n)
				}
				for _, s := range r.s {
					for b := s.off; b < s.end; b++ {
						if !bits[b] {
							t.Fatalf("byte %d in %v not added", b, s)
						}
					}
					m := int64(1 << 62)
					for b := s.off; b < s.end; b++ {
						m = min(m, first[b])
					}
					if s.first != m {
						t.Fatalf("range %v: first %d, want %d", s, s.first, m)
					}
				}
				off := rng.Int64N(size)
				end := off + rng.Int64N(size-off+1)
				var want int64
				for b := off; b < end; b++ {
					if bits[b] {
						want++
					}
				}
				if got := r.overlap(off, end); got != want {
					t.Fatalf("overlap(%d, %d) = %d, want %d", off, end, got, want)
				}
			} else if r.size() < n {
				t.Fatalf("cap %d round %d: approx size %d below the union %d", cap, round, r.size(), n)
			}
			for b, in := range bits { // every byte added is still covered
				if in && r.overlap(int64(b), int64(b)+1) != 1 {
					t.Fatalf("cap %d round %d: byte %d lost", cap, round, b)
				}
			}
		}
	}
}

func TestCoalesce(t *testing.T) {
	s := []span{{0, 1, 5}, {2, 3, 4}, {10, 11, 3}, {12, 13, 2}, {100, 101, 1}}
	got := coalesce(slices.Clone(s), 3)
	want := []span{{0, 3, 4}, {10, 13, 2}, {100, 101, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := coalesce(slices.Clone(s), 1); !slices.Equal(got, []span{{0, 101, 1}}) {
		t.Errorf("to one: %v", got)
	}
}

// TestSearchEnd: searchEnd finds what a linear scan finds, on every
// length up to 40 and every x around the spans' ends.
func TestSearchEnd(t *testing.T) {
	for n := range 41 {
		s := make([]span, n)
		for i := range s {
			s[i] = span{off: int64(10 * i), end: int64(10*i + 5)}
		}
		for x := int64(-1); x <= int64(10*n+6); x++ {
			want := len(s)
			for i := range s {
				if s[i].end >= x {
					want = i
					break
				}
			}
			if got := searchEnd(s, x); got != want {
				t.Fatalf("%d spans, x=%d: searchEnd %d, want %d", n, x, got, want)
			}
		}
	}
}
