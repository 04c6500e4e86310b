package vmdk

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestQemuSubformats converts a raw source with holes, zeros and data to
// every VMDK subformat qemu-img writes, with option and size variants, and
// compares our reads with qemu-img convert -O raw of the same file and our
// allocation with qemu-img map.
func TestQemuSubformats(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	sizes := map[string]int64{
		"5M":     5 << 20,
		"odd":    5<<20 + 3*512,  // not a multiple of the grain
		"tiny":   7 * 512,        // less than one grain
		"3grain": 3<<16 + 64<<10, // whole grains
	}
	cases := []struct {
		name, size string
		opts       string
	}{
		{"monolithicSparse", "5M", "subformat=monolithicSparse"},
		{"monolithicSparse-odd", "odd", "subformat=monolithicSparse"},
		{"monolithicSparse-tiny", "tiny", "subformat=monolithicSparse"},
		{"monolithicSparse-zeroed", "5M", "subformat=monolithicSparse,zeroed_grain=on"},
		{"monolithicSparse-compat6", "5M", "subformat=monolithicSparse,compat6=on"},
		{"monolithicSparse-scsi-hw6", "odd", "subformat=monolithicSparse,adapter_type=lsilogic,hwversion=6"},
		{"monolithicFlat", "5M", "subformat=monolithicFlat"},
		{"monolithicFlat-odd", "odd", "subformat=monolithicFlat,adapter_type=buslogic"},
		{"twoGbMaxExtentSparse", "odd", "subformat=twoGbMaxExtentSparse"},
		{"twoGbMaxExtentFlat", "odd", "subformat=twoGbMaxExtentFlat"},
		{"streamOptimized", "5M", "subformat=streamOptimized"},
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
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".vmdk")
			qemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", c.opts, srcs[c.size], p)
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
			qemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+base, src, b)
			s1 := filepath.Join(d, "snap1.vmdk")
			runIn(t, d, "qemu-img", "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "snap1.vmdk")
			qemuIO(t, s1, "write -P 0x5a 64k 64k", "write -P 0x33 1000k 100k")
			s2 := filepath.Join(d, "snap2.vmdk")
			runIn(t, d, "qemu-img", "create", "-f", "vmdk", "-o", "zeroed_grain=on", "-b", "snap1.vmdk", "-F", "vmdk", "snap2.vmdk")
			qemuIO(t, s2, "write -P 0x77 128k 4k", "write -z 1024k 64k", "write -z 2048k 128k")
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
