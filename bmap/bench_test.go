package bmap

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
)

// addSynthetic fills b with a map shaped like a real 8 GiB disk: one
// partition, 128 metadata structures, 5,000 directories and 50,000 files
// with 1-3 extents each (about 100,000 file extents), laid out in order
// with gaps, some files fragmented around others.
func addSynthetic(b *Builder) {
	r := rand.New(rand.NewPCG(42, 42))
	const disk, part = 8 << 30, 1 << 20
	b.AddDisk(Disk{Index: 1, Device: "/dev/sda", Size: disk})
	meta := func(off, n int64) []Extent {
		return []Extent{{Off: off, Len: n, FileOff: -1, Role: RoleMeta}}
	}
	b.Add(Object{Disk: 1, Kind: KindDisk, Device: "/dev/sda", Extents: meta(0, disk)})
	b.Add(Object{Disk: 1, Kind: KindPartition, Device: "/dev/sda1", Extents: meta(part, disk-part)})
	const group = 128 << 20
	for g := int64(0); g < 64; g++ {
		at := part + g*group
		b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda1", Path: fmt.Sprintf("group %d block bitmap", g), Extents: meta(at+4096, 4096)})
		b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda1", Path: fmt.Sprintf("group %d inode table", g), Extents: meta(at+8192, 512<<10)})
	}
	at := int64(part + 1<<20)
	next := func(blocks int) int64 {
		at += int64(r.IntN(4)) * 4096 // gaps
		o := at
		at += int64(blocks) * 4096
		return o
	}
	ext := make([]Extent, 0, 4)
	for d := 0; d < 5000; d++ {
		b.Add(Object{Disk: 1, Kind: KindDir, Device: "/dev/sda1", Path: fmt.Sprintf("/usr/share/d%04d", d), Inode: uint64(d + 2), Size: 4096,
			Extents: []Extent{{Off: next(1), Len: 4096, FileOff: 0, Role: RoleData}}})
	}
	for f := 0; f < 50000; f++ {
		ext = ext[:0]
		var fo int64
		for k := 1 + r.IntN(3); k > 0; k-- {
			n := 1 + r.IntN(16)
			ext = append(ext, Extent{Off: next(n), Len: int64(n) * 4096, FileOff: fo, Role: RoleData})
			fo += int64(n) * 4096
		}
		b.Add(Object{Disk: 1, Kind: KindFile, Device: "/dev/sda1", Path: fmt.Sprintf("/usr/share/d%04d/file-%06d.dat", f%5000, f),
			Inode: uint64(f + 10000), Size: fo, Extents: ext})
	}
}

func syntheticMap() *Map {
	b := NewBuilder()
	addSynthetic(b)
	return b.Map()
}

func countExtents(m *Map) int {
	n := 0
	for _, o := range m.Objects {
		n += len(o.Extents)
	}
	return n
}

// BenchmarkBuildAndWriteText is what virt-bmap does after the walk: add
// every object to a Builder and write the text form.
func BenchmarkBuildAndWriteText(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bl := NewBuilder()
		addSynthetic(bl)
		if err := WriteText(io.Discard, bl.Map()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteText(b *testing.B) {
	m := syntheticMap()
	b.ReportMetric(float64(countExtents(m)), "extents")
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteText(io.Discard, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	m := syntheticMap()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(io.Discard, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewIndex(b *testing.B) {
	m := syntheticMap()
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(m)
	}
}

// BenchmarkLookup looks up 512-byte and 64 KiB reads at random places of
// the synthetic map, as the NBD server does for every request.
func BenchmarkLookup(b *testing.B) {
	ix := NewIndex(syntheticMap())
	for _, size := range []int64{512, 64 << 10, 2 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			offs := make([]int64, 4096)
			for i := range offs {
				offs[i] = int64(r.IntN(1<<30)) &^ 511
			}
			dst := make([]Hit, 0, 1024)
			hits := 0
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				dst = ix.LookupAppend(dst[:0], 1, (1<<20)+offs[i&4095], size)
				hits += len(dst)
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
			b.ReportMetric(float64(hits)/float64(i), "hits/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system) in nanoseconds: on
// a machine shared with other jobs it varies less than the wall time
// ns/op reports, which counts the time the benchmark waited for a core.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkReadText(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteText(&buf, syntheticMap()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadText(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadJSON(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, syntheticMap()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadJSON(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
