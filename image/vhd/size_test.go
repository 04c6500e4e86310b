package vhd

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestSizeRule: fixed VHDs whose footer disagrees with the file, made by
// changing the creator, the geometry and current_size of a fixed VHD
// qemu made. Each is compared with what qemu-img reads from the same
// file: the size comes from the CHS geometry or from current_size by
// qemu's rule (footer.sizeFromCurrentSize), and bytes past the end of the
// file read as zeros.
func TestSizeRule(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 3<<20, 7)
	fixed := filepath.Join(dir, "fixed.vhd")
	imagetest.QemuImg(t, "convert", "-O", "vpc", "-o", "subformat=fixed,force_size=on", src, fixed)
	orig := imagetest.MustRead(t, fixed)
	be := binary.BigEndian
	for _, c := range []struct {
		name             string
		app              string
		size             uint64
		cyls, heads, spt int
	}{
		{"hyper-v smaller than the file", "win ", 2 << 20, 100, 16, 63},
		{"hyper-v larger than the file", "win ", 5 << 20, 100, 16, 63},
		{"virtual pc by geometry", "vpc ", 3 << 20, 60, 16, 17},
		{"virtual pc geometry past the file", "vpc ", 3 << 20, 200, 16, 17},
		{"virtual pc max geometry", "vpc ", 3<<20 - 4096, 65535, 16, 255},
		{"disk2vhd", "d2v ", 3<<20 - 512, 1, 1, 1},
		{"xenserver", "tap\x00", 1 << 20, 1, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), orig...)
			f := b[len(b)-512:]
			copy(f[28:32], c.app)
			be.PutUint64(f[48:], c.size)
			be.PutUint16(f[56:], uint16(c.cyls))
			f[58], f[59] = byte(c.heads), byte(c.spt)
			be.PutUint32(f[64:], vhdChecksum(f, 64))
			p := filepath.Join(dir, "v.vhd")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			want := imagetest.QemuRaw(t, p, "vpc")
			d, err := openPath(t, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			checkRead(t, d, want)
		})
	}
}
