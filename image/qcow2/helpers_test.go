package qcow2

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// fileStamp is what a test input looks like from outside: content hash,
// size and modification time.
type fileStamp struct {
	sum   [32]byte
	size  int64
	mtime int64
}

func stamp(t testing.TB, path string) fileStamp {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileStamp{sha256.Sum256(b), st.Size(), st.ModTime().UnixNano()}
}

// runIn runs a tool in directory dir and fails the test on error.
func runIn(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// memOpener is a chain.Opener that serves every name from memory, as a
// raw file: open records each call as "name|format" (format "data-file"
// for OpenFile).
type memOpener struct {
	data  []byte
	asked []string
}

type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

func (o *memOpener) OpenFile(from, name string) (chain.File, string, error) {
	o.asked = append(o.asked, name+"|data-file")
	return memFile{bytes.NewReader(o.data)}, name, nil
}

func (o *memOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	o.asked = append(o.asked, name+"|"+format)
	return memFile{bytes.NewReader(o.data)}, name, nil
}

// makeSource writes the package's test disk (internal/testutil/imagetest).
func makeSource(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	imagetest.MakeSource(t, path, size, seed, imagetest.Source{MaxRun: 300 << 10, Label: "qcow2"})
}

// checkImage compares everything img gives with want (the oracle's raw
// image): a full read written to a file and compared with cmp against
// rawPath, then imagetest.CheckRead's size, full, random, concurrent
// (across cluster and subcluster boundaries) and end-of-disk reads.
func checkImage(t *testing.T, img *Image, want []byte, rawPath string) {
	t.Helper()
	if rawPath != "" {
		got := make([]byte, img.Size())
		if n, err := img.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
			t.Fatalf("full read: %d bytes, %v", n, err)
		}
		imagetest.Cmp(t, rawPath, got)
	}
	imagetest.CheckRead(t, img, want, imagetest.Reads{Unit: img.Info().ClusterSize, N: 400, Goroutines: 4, Max: 256 << 10})
}

// checkExtents walks img's allocation over the whole disk: the extents
// must be consecutive and cover it, and every extent said to read as
// zeros must be zeros in want (qemu-img's raw conversion).
func checkExtents(t *testing.T, img *Image, want []byte) {
	t.Helper()
	imagetest.CheckZeros(t, imagetest.AllExtents(t, img, img.Size()), want)
}
