package bmap

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// hitString shows a hit as "f /etc/passwd @c000+400 fo=0" for messages
// and comparisons.
func hitString(h Hit) string {
	return fmt.Sprintf("%c %s%s @%x+%x fo=%x", h.Object.Kind, h.Object.Device, h.Object.Path, h.Off, h.Len, h.FileOff)
}

func hitsString(hs []Hit) string {
	var s []string
	for _, h := range hs {
		s = append(s, hitString(h))
	}
	return strings.Join(s, "\n")
}

func TestLookupSample(t *testing.T) {
	ix := NewIndex(sampleMap())
	for _, tc := range []struct {
		name   string
		disk   int
		off, n int64
		want   []string
	}{
		{"MBR", 1, 0, 0x200, []string{
			"m /dev/sdaMBR @0+200 fo=-1",
			"v /dev/sda @0+200 fo=-1"}},
		{"last byte of the MBR", 1, 0x1ff, 1, []string{
			"m /dev/sdaMBR @1ff+1 fo=-1",
			"v /dev/sda @1ff+1 fo=-1"}},
		{"first byte after the MBR", 1, 0x200, 1, []string{
			"v /dev/sda @200+1 fo=-1"}},
		{"superblock edge", 1, 0x13ff, 2, []string{
			"m /dev/sda1superblock @1400+1 fo=-1",
			"p /dev/sda1 @13ff+2 fo=-1",
			"v /dev/sda @13ff+2 fo=-1"}},
		{"end of the partition", 1, 0x80fff, 2, []string{
			// sda2 is the narrower partition.
			"p /dev/sda2 @81000+1 fo=-1",
			"p /dev/sda1 @80fff+1 fo=-1",
			"v /dev/sda @80fff+2 fo=-1"}},
		{"fragmented file, second extent in file order", 1, 0x6010, 0x10, []string{
			"f /dev/sda1/etc/fragmented @6010+10 fo=1010",
			"p /dev/sda1 @6010+10 fo=-1",
			"v /dev/sda @6010+10 fo=-1"}},
		{"fragmented file, first extent in file order", 1, 0x8000, 0x200, []string{
			"f /dev/sda1/etc/fragmented @8000+200 fo=0",
			"p /dev/sda1 @8000+200 fo=-1",
			"v /dev/sda @8000+200 fo=-1"}},
		{"fragmented file, extent-index block", 1, 0x7100, 0x10, []string{
			"f /dev/sda1/etc/fragmented @7100+10 fo=-1",
			"p /dev/sda1 @7100+10 fo=-1",
			"v /dev/sda @7100+10 fo=-1"}},
		{"read across the fragmented file's pieces", 1, 0x6f00, 0x1200, []string{
			// 0x100 data + 0x400 index + 0x100 data; first hit's offsets.
			"f /dev/sda1/etc/fragmented @6f00+600 fo=1f00",
			"p /dev/sda1 @6f00+1200 fo=-1",
			"v /dev/sda @6f00+1200 fo=-1"}},
		{"hard links, same width: first added first", 1, 0xc000, 0x400, []string{
			"f /dev/sda1/etc/passwd @c000+400 fo=0",
			"f /dev/sda1/etc/passwd.link @c000+400 fo=0",
			"p /dev/sda1 @c000+400 fo=-1",
			"v /dev/sda @c000+400 fo=-1"}},
		{"file over metadata", 1, 0x10ff0, 0x20, []string{
			"f /dev/sda1/big @10ff0+10 fo=3ff0",
			"m /dev/sda1journal @10ff0+20 fo=-1",
			"p /dev/sda1 @10ff0+20 fo=-1",
			"v /dev/sda @10ff0+20 fo=-1"}},
		{"adjacent extents: one hit, second extent's offset", 1, 0x12ff0, 0x20, []string{
			"f /dev/sda1/adjacent @12ff0+20 fo=ff0",
			"p /dev/sda1 @12ff0+20 fo=-1",
			"v /dev/sda @12ff0+20 fo=-1"}},
		{"many segments: narrowest first", 1, 0x4000, 0x9000, []string{
			"f /dev/sda1/etc/odd\nname\\x @b000+400 fo=0",
			"f /dev/sda1/etc/passwd @c000+400 fo=0",
			"f /dev/sda1/etc/passwd.link @c000+400 fo=0",
			"f /dev/sda1/etc/fragmented @6000+2c00 fo=1000",
			"d /dev/sda1/ @5000+400 fo=0",
			"d /dev/sda1/etc @5400+800 fo=0",
			"m /dev/sda1group 0 inode table @4000+1000 fo=-1",
			"p /dev/sda1 @4000+9000 fo=-1",
			"v /dev/sda @4000+9000 fo=-1"}},
		{"second disk", 2, 0x2fff, 0x10, []string{
			"f /dev/sdb/bare @2fff+1 fo=fff",
			"v /dev/sdb @2fff+10 fo=-1"}},
		{"past the end of the disk", 1, 0x100000, 0x1000, nil},
		{"straddling the end of the disk", 1, 0xfffff, 0x1000, []string{
			"p /dev/sda2 @fffff+1 fo=-1",
			"v /dev/sda @fffff+1 fo=-1"}},
		{"past the end of disk 2", 2, 0x10000, 1, nil},
		{"no such disk", 3, 0, 0x1000, nil},
		{"disk 0", 0, 0, 0x1000, nil},
		{"zero length", 1, 0x1000, 0, nil},
		{"negative length", 1, 0x1000, -1, nil},
		{"negative offset", 1, -0x100, 0x101, []string{
			"m /dev/sdaMBR @0+1 fo=-1",
			"v /dev/sda @0+1 fo=-1"}},
		{"overflowing length", 2, 0xffff, 1<<63 - 1, []string{
			"v /dev/sdb @ffff+1 fo=-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := ix.Lookup(tc.disk, tc.off, tc.n)
			if got, want := hitsString(hits), strings.Join(tc.want, "\n"); got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
			for _, h := range hits {
				if h.Extent == nil || h.Off < h.Extent.Off || h.Off >= h.Extent.End() {
					t.Errorf("%s: extent %+v does not hold Off", hitString(h), h.Extent)
				}
				if h.rank != 0 {
					t.Errorf("%s: rank left set", hitString(h))
				}
			}
		})
	}
}

// An index built from the text form gives the same objects; file offsets
// follow disk order (exact here for files whose blocks are in order).
func TestLookupFromText(t *testing.T) {
	m, err := ReadText(strings.NewReader(writeText(t, sampleMap())))
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(m)
	got := hitsString(ix.Lookup(1, 0x9010, 0x10))
	want := "d /dev/sda1/etc @9010+10 fo=410\np /dev/sda1 @9010+10 fo=-1\nv /dev/sda @9010+10 fo=-1"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// /etc/fragmented's second extent in file order comes first on disk:
	// the text form cannot know, and says 0x10 rather than the exact 0x1010.
	if h := ix.Lookup(1, 0x6010, 1)[0]; h.Object.Path != "/etc/fragmented" || h.FileOff != 0x10 {
		t.Errorf("got %s", hitString(h))
	}
}

// bruteLookup is the oracle: a linear scan over every extent of every
// object, written from the definition of Lookup without the segments.
func bruteLookup(m *Map, disk int, off, n int64) []Hit {
	end := off + n
	if n <= 0 {
		return nil
	}
	type cand struct {
		h     Hit
		idx   int
		width int64
		first int64
	}
	var cs []cand
	for i := range m.Objects {
		o := &m.Objects[i]
		if o.Disk != disk {
			continue
		}
		var width int64
		first := int64(1<<63 - 1)
		var pieces [][2]int64
		for _, e := range o.Extents {
			width += e.Len
			first = min(first, e.Off)
			a, b := max(e.Off, off), min(e.End(), end)
			if a < b {
				pieces = append(pieces, [2]int64{a, b})
			}
		}
		if len(pieces) == 0 {
			continue
		}
		slices.SortFunc(pieces, func(x, y [2]int64) int { return cmp.Compare(x[0], y[0]) })
		var union int64
		curA, curB := pieces[0][0], pieces[0][1]
		for _, p := range pieces[1:] {
			if p[0] <= curB {
				curB = max(curB, p[1])
				continue
			}
			union += curB - curA
			curA, curB = p[0], p[1]
		}
		union += curB - curA
		at := pieces[0][0]
		// The extent holding the first byte: lowest offset, then first listed.
		var ext *Extent
		for j := range o.Extents {
			e := &o.Extents[j]
			if e.Off <= at && at < e.End() && (ext == nil || e.Off < ext.Off) {
				ext = e
			}
		}
		fo := int64(-1)
		if ext.FileOff >= 0 {
			fo = ext.FileOff + at - ext.Off
		}
		cs = append(cs, cand{Hit{Object: o, Off: at, Len: union, FileOff: fo, Extent: ext}, i, width, first})
	}
	slices.SortFunc(cs, func(x, y cand) int {
		if c := cmp.Compare(y.h.Object.Kind.Priority(), x.h.Object.Kind.Priority()); c != 0 {
			return c
		}
		if c := cmp.Compare(x.width, y.width); c != 0 {
			return c
		}
		if c := cmp.Compare(x.first, y.first); c != 0 {
			return c
		}
		return cmp.Compare(x.idx, y.idx)
	})
	var hs []Hit
	for _, c := range cs {
		hs = append(hs, c.h)
	}
	return hs
}

func TestLookupMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	reads := 0
	for mi := 0; mi < 150; mi++ {
		m := randomMap(r, 1+r.IntN(80))
		ix := NewIndex(m)
		var dst []Hit
		for range 100 {
			disk := 1 + r.IntN(4)
			off := int64(r.IntN(1<<13+512)) - 256
			n := int64(1 + r.IntN(2048))
			if r.IntN(10) == 0 {
				n = int64(1 + r.IntN(4))
			}
			want := bruteLookup(m, disk, max(off, 0), n+min(off, 0))
			got := ix.Lookup(disk, off, n)
			dst = ix.LookupAppend(dst[:0], disk, off, n)
			if !slices.Equal(got, want) || !slices.Equal(dst, want) {
				t.Fatalf("map %d, disk %d, read %#x+%#x:\n--- index\n%s\n--- brute force\n%s",
					mi, disk, off, n, hitsString(got), hitsString(want))
			}
			reads++
		}
	}
	t.Logf("%d random reads agree", reads)
}

func TestLookupAppendAllocs(t *testing.T) {
	ix := NewIndex(sampleMap())
	dst := make([]Hit, 0, 64)
	for _, rd := range [][2]int64{{0x6010, 0x10}, {0x4000, 0x6000}, {0x200000, 1}} {
		allocs := testing.AllocsPerRun(1000, func() {
			dst = ix.LookupAppend(dst[:0], 1, rd[0], rd[1])
		})
		if allocs != 0 {
			t.Errorf("read %#x+%#x: %v allocations per lookup, want 0", rd[0], rd[1], allocs)
		}
	}
	// LookupAppend keeps what dst held.
	pre := ix.Lookup(2, 0, 1)
	out := ix.LookupAppend(pre, 1, 0, 1)
	if len(out) != len(pre)+2 || out[0].Object.Device != "/dev/sdb" || out[1].Object.Path != "MBR" {
		t.Errorf("append: %s", hitsString(out))
	}
}

func TestIndexEmpty(t *testing.T) {
	ix := NewIndex(&Map{})
	if hs := ix.Lookup(1, 0, 1<<20); len(hs) != 0 {
		t.Fatalf("%v", hs)
	}
	// Objects with bad extents (a hand-made Map) are left out, not fatal.
	ix = NewIndex(&Map{Objects: []Object{
		{Disk: 1, Kind: KindFile, Device: "/dev/sda", Extents: []Extent{{Off: -1, Len: 5}, {Off: 10, Len: 0}, {Off: maxOff, Len: 1}}},
		{Disk: 0, Kind: KindFile, Device: "/dev/sda", Extents: []Extent{{Off: 0, Len: 5}}},
	}})
	if hs := ix.Lookup(1, 0, maxOff); len(hs) != 0 {
		t.Fatalf("%v", hitsString(hs))
	}
}

// A hostile map of objects nested like parentheses would need N²/2 index
// entries; the index keeps its budget and the highest-priority objects.
func TestIndexNestedBudget(t *testing.T) {
	const n = 3000
	m := &Map{}
	for i := int64(0); i < n; i++ {
		m.Objects = append(m.Objects, Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Path: fmt.Sprint("/f", i),
			Extents: []Extent{{Off: i, Len: 2 * (n - i), FileOff: 0, Role: RoleData}}})
	}
	ix := NewIndex(m)
	if ix.Truncated() == 0 {
		t.Fatal("nothing truncated")
	}
	if len(ix.entries) > maxEntries(n) {
		t.Fatalf("%d entries, budget %d", len(ix.entries), maxEntries(n))
	}
	// In the middle every object covers the read: the narrowest, the
	// innermost, come first, and fewer than all are kept.
	hits := ix.Lookup(1, n, 1)
	if len(hits) == 0 || len(hits) >= n {
		t.Fatalf("%d hits in the middle", len(hits))
	}
	for i, h := range hits {
		if want := fmt.Sprint("/f", n-1-i); h.Object.Path != want {
			t.Fatalf("hit %d is %s, want %s", i, h.Object.Path, want)
		}
	}
	// Near the edges few objects cover a byte, and all of them are there.
	for _, off := range []int64{0, 5, 2*n - 6} {
		if got, want := ix.Lookup(1, off, 1), bruteLookup(m, 1, off, 1); !slices.Equal(got, want) {
			t.Errorf("at %d: %d hits, want %d", off, len(got), len(want))
		}
	}
	// Maps of real shape are never truncated.
	if ix := NewIndex(sampleMap()); ix.Truncated() != 0 {
		t.Errorf("sample map: %d segments truncated", ix.Truncated())
	}
}

// The NBD server looks up reads of several connections at once.
func TestLookupConcurrent(t *testing.T) {
	m := syntheticMap()
	ix := NewIndex(m)
	if ix.Truncated() != 0 {
		t.Errorf("synthetic disk map: %d segments truncated", ix.Truncated())
	}
	want := make(map[int64]string)
	for off := int64(1 << 20); off < 1<<30; off += 7 << 20 {
		want[off] = hitsString(ix.Lookup(1, off, 1<<16))
	}
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			var dst []Hit
			for off, w := range want {
				dst = ix.LookupAppend(dst[:0], 1, off, 1<<16)
				if got := hitsString(dst); got != w {
					done <- fmt.Errorf("at %#x: got\n%s\nwant\n%s", off, got, w)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestLookupManyHits reads across more segments than foldHits keeps keys
// for on the stack: 3,000 one-sector files, each in a partition on a disk
// covered by a fragmented directory, so the raw hits number in the
// thousands before they fold into one per object.
func TestLookupManyHits(t *testing.T) {
	m := &Map{Disks: []Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 30}}}
	m.Objects = append(m.Objects,
		Object{Disk: 1, Kind: KindDisk, Device: "/dev/sda", Extents: []Extent{{Off: 0, Len: 1 << 30, FileOff: -1}}},
		Object{Disk: 1, Kind: KindPartition, Device: "/dev/sda1", Extents: []Extent{{Off: 1 << 20, Len: 1 << 29, FileOff: -1}}})
	dir := Object{Disk: 1, Kind: KindDir, Device: "/dev/sda1", Path: "/d"}
	for i := range 3000 {
		off := int64(1<<20 + i*1024)
		m.Objects = append(m.Objects, Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: fmt.Sprintf("/d/f%d", i),
			Extents: []Extent{{Off: off, Len: 512, FileOff: 0, Role: RoleData}}})
		dir.Extents = append(dir.Extents, Extent{Off: off + 512, Len: 512, FileOff: int64(i) * 512, Role: RoleData})
	}
	m.Objects = append(m.Objects, dir)
	ix := NewIndex(m)
	off, n := int64(1<<20), int64(3000*1024)
	want := bruteLookup(m, 1, off, n)
	got := ix.LookupAppend(nil, 1, off, n)
	if len(want) != 3003 || !slices.Equal(got, want) {
		t.Fatalf("%d hits, brute force %d; first differences:\n%s\n---\n%s", len(got), len(want), hitsString(got[:min(5, len(got))]), hitsString(want[:min(5, len(want))]))
	}
}

// TestIndexOf: the objects of hits are found at their index in the map's
// slice; a copy of an object, another slice's, a pointer inside one, a
// nil map and a nil object are not.
func TestIndexOf(t *testing.T) {
	m := &Map{Objects: make([]Object, 5)}
	for i := range m.Objects {
		m.Objects[i] = Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: fmt.Sprint("/f", i),
			Extents: []Extent{{Off: int64(i) * 4096, Len: 4096, FileOff: 0, Role: RoleData}}}
	}
	for i, h := range NewIndex(m).Lookup(1, 0, 5*4096) {
		if got := m.IndexOf(h.Object); got != i {
			t.Errorf("hit %d (%s): IndexOf %d", i, h.Object.Path, got)
		}
	}
	cp := m.Objects[2]
	inside := (*Object)(unsafe.Add(unsafe.Pointer(&m.Objects[2]), 8))
	var nilMap *Map
	for name, got := range map[string]int{
		"copy":        m.IndexOf(&cp),
		"inside":      m.IndexOf(inside),
		"nil object":  m.IndexOf(nil),
		"nil map":     nilMap.IndexOf(&m.Objects[0]),
		"other slice": m.IndexOf(&slices.Clone(m.Objects)[1]),
	} {
		if got != -1 {
			t.Errorf("%s: IndexOf %d, want -1", name, got)
		}
	}
}
