package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// pvsOf reads the PV heads of one image set, placed as the disks hold them.
func pvsOf(t *testing.T, lvs string) []*PV {
	var pvs []*PV
	for _, h := range pvHeads {
		if h.lvs != lvs {
			continue
		}
		b := head(t, h.file)
		pv, err := ReadPV(bytes.NewReader(b), int64(len(b)), func(err error) { t.Error(err) })
		if err != nil {
			t.Fatal(err)
		}
		pv.Disk, pv.Off, pv.Device = h.disk, h.diskOff, h.file
		pvs = append(pvs, pv)
	}
	return pvs
}

// TestSegmentsMatchLVS checks every LV's mapping against lvm2's own report
// (lvs --segments, pvs -o pe_start, recorded by lvm.sh): each byte range of
// each segment, stripe by stripe, lands on the disk offset lvm2 gives.
func TestSegmentsMatchLVS(t *testing.T) {
	for _, set := range []string{"lvm-linear.lvs", "guest.lvs"} {
		t.Run(set, func(t *testing.T) {
			vgs := Assemble(pvsOf(t, set), func(err error) { t.Error(err) })
			if len(vgs) != 1 {
				t.Fatalf("%d VGs", len(vgs))
			}
			vg := vgs[0]
			want := readLVS(t, set)
			for _, l := range want {
				lv := vg.LV(l.lv)
				if lv == nil || !lv.Visible || lv.Note != "" {
					t.Fatalf("LV %s: %+v", l.lv, lv)
				}
				// Expected pieces: the segment cut into stripe chunks.
				var exp []string
				chunk := l.len
				if l.stripes > 1 {
					chunk = l.stripeSize
				}
				for k := int64(0); k*chunk < l.len; k++ {
					a := l.areas[k%l.stripes]
					exp = append(exp, fmt.Sprintf("%d %#x+%#x", a[0], a[1]+(k/l.stripes)*chunk, chunk))
				}
				var got []string
				err := vg.Map(lv, l.start, l.len, func(p Piece) error {
					got = append(got, fmt.Sprintf("%d %#x+%#x", p.PV.PV.Disk, p.PV.PV.Off+p.PVOff, p.Len))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, "\n") != strings.Join(exp, "\n") {
					t.Errorf("%s [%#x,+%#x):\ngot  %q\nwant %q", l.lv, l.start, l.len, got, exp)
				}
			}
		})
	}
}

// TestMissingPV assembles the two-disk VG from disk 1 alone: it is found,
// the missing PV is warned about, and /home maps up to the missing part.
func TestMissingPV(t *testing.T) {
	var warns []string
	vgs := Assemble(pvsOf(t, "guest.lvs")[:1], func(err error) { warns = append(warns, err.Error()) })
	if len(vgs) != 1 || len(warns) != 1 || !strings.Contains(warns[0], "not found on any disk") {
		t.Fatalf("vgs %d warns %q", len(vgs), warns)
	}
	lv := vgs[0].LV("home")
	var n int64
	err := vgs[0].Map(lv, 0, lv.Size, func(p Piece) error { n += p.Len; return nil })
	if !errors.Is(err, ErrUnmapped) || n != 6<<20 {
		t.Errorf("mapped %#x, err %v", n, err)
	}
}

func TestMapperName(t *testing.T) {
	for _, c := range []struct{ vg, lv, name string }{
		{"vgguest", "home", "/dev/mapper/vgguest-home"},
		{"my-vg", "lv-a--b", "/dev/mapper/my--vg-lv--a----b"},
	} {
		if got := MapperName(c.vg, c.lv); got != c.name {
			t.Errorf("MapperName(%q, %q) = %q, want %q", c.vg, c.lv, got, c.name)
		}
		vg, lv, ok := ParseMapperName(c.name)
		if !ok || vg != c.vg || lv != c.lv {
			t.Errorf("ParseMapperName(%q) = %q %q %v", c.name, vg, lv, ok)
		}
	}
	for _, bad := range []string{"/dev/mapper/nodash", "-x", "x-", "a--b"} {
		if _, _, ok := ParseMapperName(bad); ok {
			t.Errorf("ParseMapperName(%q) ok", bad)
		}
	}
}

// TestExtents: the LV object's runs are lvm2's stripe areas, whole.
func TestExtents(t *testing.T) {
	vg := Assemble(pvsOf(t, "lvm-linear.lvs"), nil)[0]
	var got []string
	ext, err := vg.Extents(vg.LV("striped"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ext {
		got = append(got, fmt.Sprintf("%d:%d+%d", e.PV.PV.Disk, e.PV.PV.Off+e.PVOff, e.Len))
	}
	var want []string
	for _, l := range readLVS(t, "lvm-linear.lvs") {
		if l.lv == "striped" {
			for _, a := range l.areas {
				want = append(want, fmt.Sprintf("%d:%d+%d", a[0], a[1], l.len/l.stripes))
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v want %v", got, want)
	}
}
