package vmdk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestQemuSubformats converts a raw source with holes, zeros and data to
// every VMDK subformat qemu-img writes, with option and size variants, and
// compares our reads with qemu-img convert -O raw of the same file and our
// allocation with qemu-img map.
func TestQemuSubformats(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	sizes := map[string]int64{
		"3M":     3 << 20,
		"odd":    2<<20 + 3*512,  // not a multiple of the grain
		"tiny":   7 * 512,        // less than one grain
		"3grain": 3<<16 + 64<<10, // whole grains
	}
	cases := []struct{ name, size, opts string }{
		{"monolithicSparse", "3M", "subformat=monolithicSparse"},
		{"monolithicSparse-odd", "odd", "subformat=monolithicSparse"},
		{"monolithicSparse-tiny", "tiny", "subformat=monolithicSparse"},
		{"monolithicSparse-zeroed", "3M", "subformat=monolithicSparse,zeroed_grain=on"},
		{"monolithicSparse-compat6", "3M", "subformat=monolithicSparse,compat6=on"},
		{"monolithicSparse-scsi-hw6", "odd", "subformat=monolithicSparse,adapter_type=lsilogic,hwversion=6"},
		{"monolithicFlat", "3M", "subformat=monolithicFlat"},
		{"monolithicFlat-odd", "odd", "subformat=monolithicFlat,adapter_type=buslogic"},
		{"twoGbMaxExtentSparse", "odd", "subformat=twoGbMaxExtentSparse"},
		{"twoGbMaxExtentFlat", "odd", "subformat=twoGbMaxExtentFlat"},
		{"streamOptimized", "3M", "subformat=streamOptimized"},
		{"streamOptimized-odd", "odd", "subformat=streamOptimized"},
		{"streamOptimized-tiny", "tiny", "subformat=streamOptimized"},
		{"streamOptimized-3grain", "3grain", "subformat=streamOptimized,adapter_type=lsilogic"},
	}
	srcs := map[string]string{}
	for name, size := range sizes {
		p := filepath.Join(dir, "src-"+name+".raw")
		makeSource(t, p, size, uint64(size))
		srcs[name] = p
	}
	if _, err := exec.LookPath("mkfs.ext4"); err == nil {
		// A small ext4 filled from a directory: the shape of a real disk.
		tree := filepath.Join(dir, "tree")
		os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
		os.WriteFile(filepath.Join(tree, "etc", "hostname"), []byte("vmdk-test\n"), 0o644)
		var big bytes.Buffer
		for i := range 30000 {
			fmt.Fprintf(&big, "line %d of a file that spans many grains\n", i)
		}
		os.WriteFile(filepath.Join(tree, "big.txt"), big.Bytes(), 0o644)
		p := filepath.Join(dir, "src-ext4.raw")
		testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-d", tree, "-E", "root_owner=0:0", "-U", "6a0b7c56-1d8e-4f3c-9e2a-0123456789ab", p, "6M")
		srcs["ext4"] = p
		cases = append(cases,
			struct{ name, size, opts string }{"ext4-monolithicSparse", "ext4", "subformat=monolithicSparse"},
			struct{ name, size, opts string }{"ext4-streamOptimized", "ext4", "subformat=streamOptimized"},
			struct{ name, size, opts string }{"ext4-twoGbMaxExtentSparse", "ext4", "subformat=twoGbMaxExtentSparse"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vmdk")
			imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", c.opts, srcs[c.size], p)
			want := qemuRaw(t, p)
			d, err := openTest(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			checkDisk(t, d.Disk, want)
			checkMap(t, d.Disk, p)
			if info := d.Info(); info.CID == 0 && info.CreateType == "" {
				t.Errorf("Info() = %+v: no descriptor read", info)
			}
		})
	}
}

// TestSnapshotChain makes a base and two levels of snapshots with qemu-img
// create -b and writes into them with qemu-io (data, zeroed grains with
// zeroed_grain=on), and compares the top with qemu-img's raw and map.
func TestSnapshotChain(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 3<<20, 5)
	for _, base := range []string{"monolithicSparse", "twoGbMaxExtentFlat", "streamOptimized"} {
		t.Run(base, func(t *testing.T) {
			d := t.TempDir()
			b := filepath.Join(d, "base.vmdk")
			imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+base, src, b)
			s1 := filepath.Join(d, "snap1.vmdk")
			runIn(t, d, "qemu-img", "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "snap1.vmdk")
			imagetest.QemuIO(t, "vmdk", s1, "write -P 0x5a 64k 64k", "write -P 0x33 1000k 100k")
			s2 := filepath.Join(d, "snap2.vmdk")
			runIn(t, d, "qemu-img", "create", "-f", "vmdk", "-o", "zeroed_grain=on", "-b", "snap1.vmdk", "-F", "vmdk", "snap2.vmdk")
			imagetest.QemuIO(t, "vmdk", s2, "write -P 0x77 128k 4k", "write -z 1024k 64k", "write -z 2048k 128k")
			for _, p := range []string{s1, s2} {
				disk, err := openTest(t, p)
				if err != nil {
					t.Fatal(err)
				}
				checkDisk(t, disk.Disk, qemuRaw(t, p))
				checkMap(t, disk.Disk, p)
				disk.Close()
			}
		})
	}
}

// runIn runs a tool in dir (relative names in what it writes).
func runIn(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestCacheBounded reads a streamOptimized disk at random with small
// caches and checks they stay within their budget.
func TestCacheBounded(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 4<<20, 11)
	p := filepath.Join(dir, "s.vmdk")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, p)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	const budget = 200 << 10
	d, err := New(f, st.Size(), Config{CacheBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(src)
	imagetest.RandomReads(t, d, want, vmdkReads(100))
	// Each cache may hold one entry over its budget (the one just added).
	if n := d.c.grain.Cost(); n > budget+64<<10+64 {
		t.Errorf("grain cache holds %d bytes, budget %d", n, budget)
	}
	if n := d.c.gt.Cost(); n > budget+2<<10+64 {
		t.Errorf("grain table cache holds %d bytes, budget %d", n, budget)
	}
	if s := d.Stats(); s.GrainMisses == 0 || s.GTHits == 0 {
		t.Errorf("Stats() = %+v", s)
	}
}

// TestPartialGrains reads small pieces of compressed grains in the order
// that exercises the partly inflated grains of the cache: a read in the
// middle of a grain (inflated up to its end only), one before it (served
// from that prefix), one after it (the whole grain inflated), the whole
// grain, and reads across grains; every read against qemu-img's raw.
func TestPartialGrains(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	t.Run("slack", func(t *testing.T) { partialGrains(t) })
	// Too little compressed data read for the first bytes of a grain:
	// the rest must be read and inflated again.
	defer func(f func(int64) int64) { prefixSlack = f }(prefixSlack)
	prefixSlack = func(n int64) int64 { return -n / 2 }
	t.Run("short", func(t *testing.T) { partialGrains(t) })
}

func partialGrains(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 2<<20, 5)
	p := filepath.Join(dir, "s.vmdk")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, p)
	want := qemuRaw(t, p)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	d, err := New(f, st.Size(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := d.Info().GrainSize
	read := func(off, n int64) {
		t.Helper()
		buf := make([]byte, n)
		if _, err := d.ReadAt(buf, off); err != nil {
			t.Fatalf("ReadAt(%d bytes at %#x): %v", n, off, err)
		}
		if !bytes.Equal(buf, want[off:off+n]) {
			t.Errorf("ReadAt(%d bytes at %#x) differs from qemu-img at %#x", n, off, off+int64(imagetest.FirstDiff(buf, want[off:off+n])))
		}
	}
	for base := int64(0); base+2*g <= d.Size(); base += 2 * g {
		read(base+g/2, 4096)
		read(base+4096, 4096)
		read(base+g-4096, 4096)
		read(base, g)
		read(base+g+g/4, 512)
		read(base+g, g)   // whole, with a prefix of it cached
		read(base+g/2, g) // the rest of this grain, half of the next
	}
	if s := d.Stats(); s.GrainHits == 0 || s.GrainMisses == 0 {
		t.Errorf("Stats() = %+v: the reads should both hit and miss the grain cache", s)
	}
}
