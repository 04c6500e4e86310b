package imagetest

import (
	"bytes"
	"io"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// FileRun is an alloc.FileRun at its guest offset.
type FileRun struct {
	Off int64
	alloc.FileRun
}

// AllFileRuns walks m's MapFile over [0, size), asking step bytes at a
// time (the rest of the disk when step is 0), checking that every run is
// at least one byte and no more than asked, and returns the runs.
func AllFileRuns(t testing.TB, m alloc.FileMapper, size, step int64) []FileRun {
	t.Helper()
	var runs []FileRun
	for off := int64(0); off < size; {
		n := size - off
		if step > 0 {
			n = min(n, step)
		}
		r, err := m.MapFile(off, n)
		if err != nil {
			t.Fatalf("MapFile(%#x, %d): %v", off, n, err)
		}
		if r.Len <= 0 || r.Len > n {
			t.Fatalf("MapFile(%#x, %d) = %+v: length out of range", off, n, r)
		}
		runs = append(runs, FileRun{off, r})
		off += r.Len
	}
	return runs
}

// MapFileSteps are the steps CheckMapFiles asks MapFile in: the whole
// disk, 1 MiB, and two that cross block and sector boundaries.
var MapFileSteps = []int64{0, 1 << 20, 3*4096 + 512, 777}

// CheckMapFiles runs CheckMapFile at each of MapFileSteps and fails the
// test when bytes were mapped to a file and mapped is false, or none
// were and mapped is true.
func CheckMapFiles(t *testing.T, m alloc.FileMapper, want []byte, qemu []QemuExtent, mapped bool) {
	t.Helper()
	for _, step := range MapFileSteps {
		if n := CheckMapFile(t, m, want, qemu, step); (n > 0) != mapped {
			t.Fatalf("step %d: %d bytes mapped to a file", step, n)
		}
	}
}

// CheckMapFile checks m's runs over the disk (want: its bytes, from qemu-img
// convert) against the bytes and against qemu-img map: a run in a file
// holds, at FileOff, exactly the guest's bytes, and sits where qemu's map
// says the data is in the image file ("offset"); a zero run reads as zeros;
// where qemu's map gives an offset, the run is in the file (not left to
// ReadAt), except in a backing file (qemu's depth > 0), which is never
// mapped. With qemu nil (a format whose qemu driver gives no offsets),
// only the bytes are checked. It returns how many bytes were mapped to a file.
func CheckMapFile(t *testing.T, m alloc.FileMapper, want []byte, qemu []QemuExtent, step int64) int64 {
	t.Helper()
	size := int64(len(want))
	runs := AllFileRuns(t, m, size, step)
	var mapped int64
	qi := 0
	for _, r := range runs {
		g := want[r.Off : r.Off+r.Len]
		switch {
		case r.File != nil:
			got := make([]byte, r.Len)
			if n, err := r.File.ReadAt(got, r.FileOff); int64(n) != r.Len && err != io.EOF {
				t.Fatalf("run %+v: reading the file: %v", r, err)
			}
			if !bytes.Equal(got, g) {
				t.Fatalf("run at %#x (%d bytes, file offset %#x): the file differs from the guest at +%#x", r.Off, r.Len, r.FileOff, FirstDiff(got, g))
			}
			mapped += r.Len
		case r.Zero:
			if i := bytes.IndexFunc(g, func(c rune) bool { return c != 0 }); i >= 0 {
				t.Fatalf("run at %#x (%d bytes) is Zero, the guest has data at +%#x", r.Off, r.Len, i)
			}
		}
		// Against qemu's map, extent by extent over the run.
		for at := r.Off; qemu != nil && at < r.Off+r.Len; {
			for qi < len(qemu) && qemu[qi].Start+qemu[qi].Length <= at {
				qi++
			}
			if qi == len(qemu) {
				t.Fatalf("qemu-img map ends before %#x", at)
			}
			q := qemu[qi]
			end := min(r.Off+r.Len, q.Start+q.Length)
			if q.Depth > 0 {
				// In a backing file: read through ReadAt (or zeros past
				// its end), never mapped to a file here.
				if r.File != nil {
					t.Fatalf("qemu-img map says %#x is in a backing file (%+v), we say %+v", at, q, r)
				}
				at = end
				continue
			}
			switch {
			case q.Offset != nil && r.File == nil && !(q.Zero && r.Zero):
				t.Fatalf("qemu-img map says %#x is in the file at %#x (%+v), we say %+v", at, *q.Offset+at-q.Start, q, r)
			case q.Offset != nil && r.File != nil && *q.Offset+at-q.Start != r.FileOff+at-r.Off:
				t.Fatalf("qemu-img map says %#x is in the file at %#x, we say %#x", at, *q.Offset+at-q.Start, r.FileOff+at-r.Off)
			case q.Offset == nil && r.File != nil:
				t.Fatalf("qemu-img map says %#x is not in the file (%+v), we say %+v", at, q, r)
			case q.Offset == nil && r.Zero && !q.Zero:
				t.Fatalf("qemu-img map says %#x is not zeros (%+v), we say %+v", at, q, r)
			}
			at = end
		}
	}
	return mapped
}

// WalkFileRuns asks m for the runs of [off, off+n) (clipped to size) one
// after the other, as the NBD server does, for the fuzz targets: an error
// ends the walk (a corrupt image may give one), a run that breaks
// MapFile's contract (empty, longer than asked) fails the test.
func WalkFileRuns(t testing.TB, m alloc.FileMapper, size, off, n int64) {
	t.Helper()
	for end := min(off+n, size); off >= 0 && off < end; {
		r, err := m.MapFile(off, end-off)
		if err != nil {
			return
		}
		if r.Len <= 0 || r.Len > end-off {
			t.Fatalf("MapFile(%d, %d) = %+v: length out of range", off, end-off, r)
		}
		off += r.Len
	}
}
