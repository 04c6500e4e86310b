package qcow2

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// qemuInfo is the part of `qemu-img info --output=json` the tests compare.
type qemuInfo struct {
	VirtualSize     int64  `json:"virtual-size"`
	ClusterSize     int64  `json:"cluster-size"`
	BackingFilename string `json:"backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
	FormatSpecific  struct {
		Data struct {
			Compat          string `json:"compat"`
			CompressionType string `json:"compression-type"`
			ExtendedL2      bool   `json:"extended-l2"`
			LazyRefcounts   bool   `json:"lazy-refcounts"`
			Corrupt         bool   `json:"corrupt"`
			RefcountBits    int    `json:"refcount-bits"`
			DataFile        string `json:"data-file"`
			DataFileRaw     bool   `json:"data-file-raw"`
		} `json:"data"`
	} `json:"format-specific"`
}

// checkInfo compares Info with what qemu-img info says about path.
func checkInfo(t *testing.T, path string, got Info) {
	t.Helper()
	var q qemuInfo
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	d := q.FormatSpecific.Data
	wantVersion := map[string]int{"0.10": 2, "1.1": 3}[d.Compat]
	if d.CompressionType == "" {
		d.CompressionType = "zlib" // version 2 images do not report it
	}
	want := Info{
		Version: wantVersion, Size: q.VirtualSize, ClusterSize: q.ClusterSize,
		Compression: d.CompressionType, BackingFile: q.BackingFilename, BackingFormat: q.BackingFormat,
		DataFile: d.DataFile, DataFileRaw: d.DataFileRaw, ExtendedL2: d.ExtendedL2,
		Corrupt: d.Corrupt, LazyRefcounts: d.LazyRefcounts, RefcountBits: d.RefcountBits,
		Snapshots: got.Snapshots, Dirty: got.Dirty,
	}
	if got != want {
		t.Errorf("Info() = %+v\nqemu-img info gives %+v", got, want)
	}
}

// convertCases are the qemu-img convert variants every source is put
// through.
var convertCases = []struct {
	name string
	args []string
}{
	{"v3", nil},
	{"v2", []string{"-o", "compat=0.10"}},
	{"zlib", []string{"-c"}},
	{"zlib-v2", []string{"-c", "-o", "compat=0.10"}},
	{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
	{"c512", []string{"-o", "cluster_size=512"}},
	{"c512-zlib", []string{"-c", "-o", "cluster_size=512"}},
	{"c4k", []string{"-o", "cluster_size=4k"}},
	{"c4k-zstd", []string{"-c", "-o", "cluster_size=4k,compression_type=zstd"}},
	{"c2M", []string{"-o", "cluster_size=2M"}},
	{"c2M-zlib", []string{"-c", "-o", "cluster_size=2M"}},
	{"c2M-zstd", []string{"-c", "-o", "cluster_size=2M,compression_type=zstd"}},
	{"extl2", []string{"-o", "extended_l2=on"}},
	{"extl2-16k", []string{"-o", "extended_l2=on,cluster_size=16k"}},
	{"extl2-zlib", []string{"-c", "-o", "extended_l2=on"}},
	{"lazy-refcount1", []string{"-o", "lazy_refcounts=on,refcount_bits=1"}},
	{"prealloc-metadata", []string{"-o", "preallocation=metadata"}},
	{"prealloc-falloc", []string{"-o", "preallocation=falloc"}},
}

// sources are the raw disks converted: a synthetic one with an odd size,
// and the committed sample disk (a real MBR disk with ext2 and ext4).
func sources(t *testing.T) map[string]string {
	dir := t.TempDir()
	src := map[string]string{}
	synth := filepath.Join(dir, "synthetic.raw")
	makeSource(t, synth, 6<<20+3*512, 7)
	src["synthetic"] = synth
	if _, err := exec.LookPath("xz"); err == nil {
		sample := filepath.Join(dir, "sample.raw")
		out, err := exec.Command("xz", "-dc", "../../testimages/sample.img.xz").Output()
		if err != nil {
			t.Fatalf("xz -dc sample.img.xz: %v", err)
		}
		if err := os.WriteFile(sample, out, 0o644); err != nil {
			t.Fatal(err)
		}
		src["sample"] = sample
	}
	return src
}

// TestConvertMatrix converts each source with every variant of qemu-img
// convert and compares our reads with qemu-img's conversion back to raw.
// It also checks that reading never changes an input file.
func TestConvertMatrix(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "cmp")
	for sname, src := range sources(t) {
		for _, c := range convertCases {
			if sname == "sample" && len(c.args) > 0 && c.name != "zlib" && c.name != "zstd" && c.name != "extl2" && c.name != "c512-zlib" {
				continue // the big source only through the main variants
			}
			t.Run(sname+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				img := filepath.Join(dir, "x.qcow2")
				imagetest.QemuImg(t, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, c.args...), src, img)...)
				raw := filepath.Join(dir, "x.raw")
				imagetest.QemuImg(t, "convert", "-f", "qcow2", "-O", "raw", img, raw)
				want, err := os.ReadFile(raw)
				if err != nil {
					t.Fatal(err)
				}
				before := stamp(t, img)
				q, err := Open(img)
				if err != nil {
					t.Fatal(err)
				}
				checkInfo(t, img, q.Info())
				checkImage(t, q, want, raw)
				if err := q.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if after := stamp(t, img); after != before {
					t.Errorf("reading changed the image: %+v -> %+v", before, after)
				}
			})
		}
	}
}

// TestPartialClusters reads small pieces of compressed clusters in the
// order that exercises the partly decompressed clusters of the cache: a
// read in the middle of a cluster (decompressed up to its end only), one
// before it (served from that prefix), one after it (the whole cluster
// decompressed), the whole cluster, and reads across clusters; every read
// against qemu-img's raw.
func TestPartialClusters(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 2<<20, 5)
	for _, comp := range []string{"zlib", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			p := filepath.Join(dir, comp+".qcow2")
			imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type="+comp, src, p)
			raw := filepath.Join(dir, comp+".raw")
			imagetest.QemuImg(t, "convert", "-f", "qcow2", "-O", "raw", p, raw)
			want, err := os.ReadFile(raw)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			c := img.Info().ClusterSize
			read := func(off, n int64) {
				t.Helper()
				buf := make([]byte, n)
				if _, err := img.ReadAt(buf, off); err != nil {
					t.Fatalf("ReadAt(%d bytes at %#x): %v", n, off, err)
				}
				if !bytes.Equal(buf, want[off:off+n]) {
					t.Errorf("ReadAt(%d bytes at %#x) differs from qemu-img at %#x", n, off, off+int64(imagetest.FirstDiff(buf, want[off:off+n])))
				}
			}
			for base := int64(0); base+2*c <= img.Size(); base += 2 * c {
				read(base+c/2, 4096)
				read(base+4096, 4096)
				read(base+c-4096, 4096)
				read(base, c)
				read(base+c+c/4, 512)
				read(base+c, c)   // whole, with a prefix of it cached
				read(base+c/2, c) // the rest of this cluster, half of the next
			}
			if s := img.Stats(); s.ClusterHits == 0 || s.ClusterMisses == 0 {
				t.Errorf("Stats() = %+v: the reads should both hit and miss the cluster cache", s)
			}
		})
	}
}
