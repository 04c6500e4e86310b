package vdi

import (
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// run is a run of a disk with one allocation state.
type run struct {
	off, len   int64
	data, zero bool
}

func merge(in []run) []run {
	var out []run
	for _, r := range in {
		if n := len(out); n > 0 && out[n-1].off+out[n-1].len == r.off && out[n-1].data == r.data && out[n-1].zero == r.zero {
			out[n-1].len += r.len
			continue
		}
		out = append(out, r)
	}
	return out
}

// makeSource writes the package's test disk (internal/testutil/imagetest),
// with holes twice as likely as in the other formats' so that whole
// blocks stay unallocated.
func makeSource(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	imagetest.MakeSource(t, path, size, seed, imagetest.Source{MaxRun: 700 << 10, Label: "vdi", Holes: 2})
}

// qemuRaw is qemu-img's raw conversion of the VDI at path: the oracle.
func qemuRaw(t testing.TB, path string) []byte {
	t.Helper()
	return imagetest.QemuRaw(t, path, "vdi")
}

// qemuMap is qemu-img map of the VDI at path, as merged runs.
func qemuMap(t testing.TB, path string) []run {
	t.Helper()
	var runs []run
	for _, e := range imagetest.QemuMap(t, path, "vdi") {
		runs = append(runs, run{e.Start, e.Length, e.Data, e.Zero})
	}
	return merge(runs)
}

// ourMap is img's allocation over the whole disk, as merged runs.
func ourMap(t testing.TB, img *Image) []run {
	t.Helper()
	var runs []run
	for _, e := range imagetest.AllExtents(t, img, img.Size()) {
		runs = append(runs, run{e.Off, e.Len, !e.Hole, e.Zero})
	}
	return merge(runs)
}

// checkRead compares everything img gives with want (imagetest.CheckRead).
func checkRead(t *testing.T, img *Image, want []byte) {
	t.Helper()
	imagetest.CheckRead(t, img, want, imagetest.Reads{Unit: img.h.blockSize, N: 50, Goroutines: 2, Max: 1 << 20})
}
