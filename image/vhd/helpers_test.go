package vhd

import (
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// testOpener is image's chain.Opener in small, for the package's own
// tests (which cannot import image): the chain policy, the loop tracker,
// and every image opened as a VHD.
type testOpener struct {
	policy  chain.Policy
	tracker chain.Tracker
	warn    func(string)
}

func (o *testOpener) OpenFile(from, name string) (chain.File, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	f, err := chain.OpenFile(path)
	return f, path, err
}

func (o *testOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	img, err := o.open(path)
	return img, path, err
}

// fileDisk is a Disk that closes its file.
type fileDisk struct {
	*Disk
	f chain.File
}

func (d *fileDisk) Close() error { d.Disk.Close(); return d.f.Close() }

func (o *testOpener) open(path string) (*fileDisk, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, err
	}
	f, err := chain.OpenFile(path)
	if err != nil {
		return nil, err
	}
	d, err := New(f, f.Size(), Config{Path: path, Open: o, Warn: o.warn})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileDisk{d, f}, nil
}

// openPath opens the VHD at path with a fresh test opener.
func openPath(t testing.TB, path string) (*fileDisk, error) {
	t.Helper()
	o := &testOpener{warn: func(m string) { t.Log("warning:", m) }}
	return o.open(path)
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
