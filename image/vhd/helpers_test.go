package vhd

import (
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// testOpener is image's chain.Opener in small (imagetest.Opener), every
// image opened as a VHD.
type testOpener = imagetest.Opener[format, *fileDisk]

// format opens a VHD for testOpener.
type format struct{}

func (format) New(f chain.File, path string, o chain.Opener, warn func(string)) (*fileDisk, error) {
	d, err := New(f, f.Size(), Config{Path: path, Open: o, Warn: warn})
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

func (d *fileDisk) Close() error { d.Disk.Close(); return d.f.Close() }

// openPath opens the VHD at path with a fresh test opener.
func openPath(t testing.TB, path string) (*fileDisk, error) {
	t.Helper()
	o := &testOpener{Warn: func(m string) { t.Log("warning:", m) }}
	return o.Open(path)
}

// makeSource writes the package's test disk (internal/testutil/imagetest).
func makeSource(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	imagetest.MakeSource(t, path, size, seed, imagetest.Source{MaxRun: 700 << 10, Label: "vhd"})
}

// checkRead compares everything r gives with want (imagetest.CheckRead).
func checkRead(t *testing.T, r imagetest.Reader, want []byte) {
	t.Helper()
	imagetest.CheckRead(t, r, want, imagetest.Reads{Unit: 2 << 20, N: 60, Goroutines: 4, Max: 256 << 10})
}
