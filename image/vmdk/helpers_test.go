package vmdk

import (
	"errors"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// testOpener is image's chain.Opener in small (imagetest.Opener), every
// image opened with New.
type testOpener = imagetest.Opener[format, *fileDisk]

// format opens a VMDK for testOpener.
type format struct{}

func (format) New(f chain.File, path string, o chain.Opener, warn func(string)) (*fileDisk, error) {
	d, err := New(f, f.Size(), Config{Open: o, Path: path, Warn: warn, CacheBytes: 256 << 10})
	if err != nil {
		return nil, err
	}
	return &fileDisk{d, f}, nil
}

// fileDisk is a Disk that closes its file.
type fileDisk struct {
	*Disk
	f chain.File
}

func (d *fileDisk) Close() error { return errors.Join(d.Disk.Close(), d.f.Close()) }

// openTest opens path as a VMDK with a fresh testOpener.
func openTest(t testing.TB, path string, allow ...string) (*fileDisk, error) {
	t.Helper()
	o := &testOpener{Policy: chain.Policy{Allow: allow}, Warn: func(s string) { t.Log("warning: " + s) }}
	return o.Open(path)
}

// makeSource writes the package's test disk (internal/testutil/imagetest).
func makeSource(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	imagetest.MakeSource(t, path, size, seed, imagetest.Source{MaxRun: 200 << 10, Label: "vmdk"})
}

// qemuRaw is qemu-img's raw conversion of the VMDK at path: the oracle.
func qemuRaw(t testing.TB, path string) []byte {
	t.Helper()
	return imagetest.QemuRaw(t, path, "vmdk")
}

// vmdkReads is n random reads a goroutine in 4, across 64 KiB grains.
func vmdkReads(n int) imagetest.Reads {
	return imagetest.Reads{Unit: 64 << 10, N: n, Goroutines: 4, Max: 160 << 10}
}

// checkDisk compares everything d gives with want (imagetest.CheckRead).
func checkDisk(t *testing.T, d *Disk, want []byte) {
	t.Helper()
	imagetest.CheckRead(t, d, want, vmdkReads(50))
}

// checkMap compares d's allocation with qemu-img map's of path, sector by
// sector.
func checkMap(t *testing.T, d *Disk, path string) {
	t.Helper()
	imagetest.CheckMapExact(t, imagetest.AllExtents(t, d, d.Size()), imagetest.QemuMap(t, path, "vmdk"), d.Size())
}
