package qcow2

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestMapFile checks MapFile on qcow2 images qemu-img and qemu-io made:
// plain, compressed, with 512-byte clusters, an overlay with every kind of
// cluster (data, zero, partial, over a backing file), one with extended
// L2 subclusters, and one with an external data file: every run in a
// file holds the guest's bytes (qemu-img convert -O raw) at the offset
// qemu-img map gives, zero runs read as zeros, the backing file and
// compressed clusters are never mapped.
func TestMapFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	for _, c := range []struct {
		name    string
		convert []string // qemu-img convert options for the base
		top     string   // the overlay's -o options ("-": no overlay)
		through bool     // some runs are read through ReadAt (compressed, backing)
	}{
		{"plain", nil, "-", false},
		// qemu-img stores the clusters that do not shrink uncompressed.
		{"compressed", []string{"-c"}, "-", true},
		{"c512", []string{"-o", "cluster_size=512"}, "-", false},
		{"overlay", nil, "", true},
		{"overlay-compressed-base", []string{"-c"}, "", true},
		{"overlay-extl2", nil, "extended_l2=on", true},
		{"data-file", []string{"-o", "data_file=DATA"}, "-", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.raw")
			makeSource(t, src, 4<<20, 13)
			base := filepath.Join(dir, "base.qcow2")
			var allow []string
			args := []string{"convert", "-f", "raw", "-O", "qcow2"}
			for _, a := range c.convert {
				if a == "data_file=DATA" {
					data := filepath.Join(dir, "base.data")
					a, allow = "data_file="+data, append(allow, data)
				}
				args = append(args, a)
			}
			imagetest.QemuImg(t, append(args, src, base)...)
			p := base
			if c.top != "-" {
				p = filepath.Join(dir, "top.qcow2")
				args = []string{"create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2"}
				if c.top != "" {
					args = append(args, "-o", c.top)
				}
				imagetest.QemuImg(t, append(args, p)...)
				imagetest.QemuIO(t, "qcow2", p, writes...)
			}
			want := imagetest.QemuRaw(t, p, "qcow2")
			qm := imagetest.QemuMap(t, p, "qcow2")
			img, err := Open(p, allow...)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			imagetest.CheckMapFiles(t, img, want, qm, true)
			through := false
			for _, r := range imagetest.AllFileRuns(t, img, img.Size(), 0) {
				through = through || r.File == nil && !r.Zero
			}
			if through != c.through {
				t.Errorf("runs read through ReadAt: %v, want %v", through, c.through)
			}
		})
	}
}

// TestMapFileBadEntry: an L2 entry pointing past the end of the file makes
// MapFile of that cluster fail with a FormatError, as ReadAt does; the
// other clusters still map.
func TestMapFileBadEntry(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 2<<20, 21)
	p := filepath.Join(dir, "bad.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, p)
	b := readFile(t, p)
	at := l2EntryAt(t, b, isData)
	e := be.Uint64(b[at:])
	be.PutUint64(b[at:], e&^offsetMask|1<<40)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	// The guest cluster that entry maps: find it by walking.
	var bad int64 = -1
	for off := int64(0); off < img.Size(); off += img.clusterSize {
		if _, err := img.MapFile(off, img.clusterSize); err != nil {
			var fe *diskerr.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("MapFile(%#x): %v, want a FormatError", off, err)
			}
			if _, rerr := img.ReadAt(make([]byte, 512), off); rerr == nil {
				t.Fatalf("MapFile(%#x) fails (%v), ReadAt does not", off, err)
			}
			if bad >= 0 {
				t.Fatalf("two bad clusters: %#x and %#x", bad, off)
			}
			bad = off
		}
	}
	if bad < 0 {
		t.Fatal("no cluster fails")
	}
}
