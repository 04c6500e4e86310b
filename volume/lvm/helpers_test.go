package lvm

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The PV heads are the first MiB of each PV of the images testimages/lvm.sh
// built with lvm2 (label, PV header, metadata area with four commits); the
// .lvs files are lvm2's own segment reports, in disk offsets, from the same
// run. pvDisk places each head: disk and the disk offset of the PV.
var pvHeads = []struct {
	file, lvs  string
	disk       int
	diskOff    int64
	uuid       string
	deviceSize int64
}{
	{"linear-pv1.head.xz", "lvm-linear.lvs", 1, 1 << 20, "LVMtst-0000-0000-0000-0000-0000-linpv1", 20 << 20},
	{"linear-pv2.head.xz", "lvm-linear.lvs", 1, 21 << 20, "LVMtst-0000-0000-0000-0000-0000-linpv2", 20 << 20},
	{"guest-pv1.head.xz", "guest.lvs", 1, 34816 * 512, "LVMtst-0000-0000-0000-0000-0000-gstpv1", 10 << 20},
	{"guest-pv2.head.xz", "guest.lvs", 2, 0, "LVMtst-0000-0000-0000-0000-0000-gstpv2", 16 << 20},
}

func head(t testing.TB, name string) []byte {
	t.Helper()
	testutil.NeedTools(t, "xz")
	b, err := exec.Command("xz", "-dc", "testdata/"+name).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", name, err)
	}
	return b
}

// lvsLine is one line of a .lvs file.
type lvsLine struct {
	vg, lv              string
	start, len, stripes int64
	stripeSize          int64
	areas               [][2]int64 // disk, offset
}

func readLVS(t testing.TB, name string) []lvsLine {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []lvsLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 {
			t.Fatalf("%s: bad line %q", name, sc.Text())
		}
		n := func(s string) int64 {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			return v
		}
		l := lvsLine{vg: f[0], lv: f[1], start: n(f[2]), len: n(f[3]), stripes: n(f[4]), stripeSize: n(f[5])}
		for _, a := range strings.Split(f[6], ",") {
			d, o, _ := strings.Cut(a, ":")
			l.areas = append(l.areas, [2]int64{n(d), n(o)})
		}
		out = append(out, l)
	}
	return out
}
