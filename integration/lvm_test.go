package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/volume/lvm"
)

// lvmSeg is one line of the .lvs file testimages/lvm.sh writes from lvm2's
// own reports (lvs --segments, pvs -o pe_start): the oracle for where an
// LV's bytes are.
type lvmSeg struct {
	vg, lv                       string
	start, len, stripes, stripeS int64
	areas                        [][2]int64 // disk, offset
}

func readLVSFile(t *testing.T, path string) []lvmSeg {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []lvmSeg
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 {
			t.Fatalf("%s: %q", path, sc.Text())
		}
		n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
		s := lvmSeg{vg: f[0], lv: f[1], start: n(f[2]), len: n(f[3]), stripes: n(f[4]), stripeS: n(f[5])}
		for _, a := range strings.Split(f[6], ",") {
			d, o, _ := strings.Cut(a, ":")
			s.areas = append(s.areas, [2]int64{n(d), n(o)})
		}
		out = append(out, s)
	}
	return out
}

// lvPlace translates an LV byte offset to (disk, disk offset) through
// lvm2's segments.
func lvPlace(segs []lvmSeg, lv string, off int64) (int64, int64, bool) {
	for _, s := range segs {
		if s.lv != lv || off < s.start || off >= s.start+s.len {
			continue
		}
		in := off - s.start
		if s.stripes == 1 {
			return s.areas[0][0], s.areas[0][1] + in, true
		}
		k := in / s.stripeS
		a := s.areas[k%s.stripes]
		return a[0], a[1] + (k/s.stripes)*s.stripeS + in%s.stripeS, true
	}
	return 0, 0, false
}

// extractLV writes the LV's bytes, read from the disk images at lvm2's
// offsets, to a file.
func extractLV(t *testing.T, segs []lvmSeg, lv string, disks []string, out string) []byte {
	t.Helper()
	var data []byte
	imgs := make([][]byte, len(disks))
	for i, d := range disks {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = b
	}
	var size int64
	for _, s := range segs {
		if s.lv == lv {
			size = max(size, s.start+s.len)
		}
	}
	for off := int64(0); off < size; off += 512 {
		d, o, ok := lvPlace(segs, lv, off)
		if !ok {
			t.Fatalf("%s: byte %#x not in any segment", lv, off)
		}
		data = append(data, imgs[d-1][o:o+512]...)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLVM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("testimages/lvm.sh needs root (losetup)")
	}
	testutil.NeedTools(t, "pvcreate", "losetup", "mkfs.ext4", "sfdisk", "fls", "istat")
	dir := t.TempDir()
	if out, err := exec.Command("bash", "../testimages/lvm.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("lvm.sh: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "virt-bmap")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/virt-bmap").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name  string
		disks []string
		lvs   string
		fs    []string // VG/LV with a filesystem
	}{
		{"linear", []string{"lvm-linear.img"}, "lvm-linear.lvs", []string{"vgtest/root", "vgtest/striped"}},
		{"guest", []string{"guest-d1.img", "guest-d2.img"}, "guest.lvs", []string{"vgguest/home"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var disks, args []string
			for _, d := range c.disks {
				disks = append(disks, filepath.Join(dir, d))
				args = append(args, "-a", filepath.Join(dir, d))
			}
			segs := readLVSFile(t, filepath.Join(dir, c.lvs))
			jsonOut := filepath.Join(dir, c.name+".json")
			cmd := exec.Command(bin, append([]string{"-q", "--json", "-o", jsonOut}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
				t.Fatalf("virt-bmap: %v\n%s", err, out)
			}
			var m jsonMap
			b, _ := os.ReadFile(jsonOut)
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, vglv := range c.fs {
				vg, lv, _ := strings.Cut(vglv, "/")
				t.Run(lv, func(t *testing.T) {
					checkLV(t, &m, segs, vg, lv, disks, dir)
				})
			}
		})
	}
	// The two-disk guest's text map: /home's files have lines on disk 2,
	// / is on disk 1.
	out, err := exec.Command(bin, "-q", "-o", "-", filepath.Join(dir, "guest-d1.img"), filepath.Join(dir, "guest-d2.img")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var d2home, d1home, d1root bool
	for line := range strings.SplitSeq(string(out), "\n") {
		d2home = d2home || strings.HasPrefix(line, "2 ") && strings.Contains(line, " f /dev/vgguest/home /alice/docs/video")
		d1home = d1home || strings.HasPrefix(line, "1 ") && strings.Contains(line, " f /dev/vgguest/home /alice/docs/video")
		d1root = d1root || strings.HasPrefix(line, "1 ") && strings.Contains(line, " f /dev/sda1 /etc/fstab")
	}
	if !d2home || !d1home || !d1root {
		t.Errorf("text map: /home video on disk 2 %v, on disk 1 %v; /etc/fstab on disk 1 %v", d2home, d1home, d1root)
	}
	t.Run("on LUKS", func(t *testing.T) {
		lvmOnLUKS(t, dir, bin)
	})
	t.Run("bmaplogger", func(t *testing.T) {
		traceSpanningLV(t, dir, filepath.Join(dir, "guest.lvs"),
			[]string{filepath.Join(dir, "guest-d1.img"), filepath.Join(dir, "guest-d2.img")})
	})
}

// traceSpanningLV serves the two-disk guest through bmaplogger and reads,
// with qemu-io on the second disk's export, the blocks The Sleuth Kit's
// istat gives for the file in /home (an LV spanning both disks) that lie on
// disk 2 (placed through lvm2's own segments): each read must be traced
// as that file, at the file offset istat gives, on the console and in the
// NDJSON trace.
func traceSpanningLV(t *testing.T, dir, lvsFile string, disks []string) {
	bmaplogger(t)
	segs := readLVSFile(t, lvsFile)
	lvFile := filepath.Join(dir, "vgguest-home.trace.lv")
	extractLV(t, segs, "home", disks, lvFile)
	ents, err := fls(lvFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 1024 // lvm.sh makes every ext4 with -b 1024
	type want struct {
		path         string
		off, fileOff int64
	}
	var reads []want
	for _, e := range ents {
		if e.Type != "r/r" || len(reads) >= 6 {
			continue
		}
		ist, err := istatAll(lvFile, 0, []uint64{e.Inode}, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, blk := range ist[e.Inode].Direct {
			d, o, ok := lvPlace(segs, "home", int64(blk)*bs)
			if ok && d == 2 {
				reads = append(reads, want{"/" + e.Path, o, int64(i) * bs})
				break
			}
		}
	}
	if len(reads) == 0 {
		t.Fatal("no file of /dev/vgguest/home has a block on disk 2: the guest image changed")
	}
	var run strings.Builder
	run.WriteString(`qemu-io -r -f raw`)
	for _, r := range reads {
		fmt.Fprintf(&run, " -c 'read %d %d'", r.off, bs)
	}
	run.WriteString(` "nbd+unix:///$(basename ` + disks[1] + `)?socket=$unixsocket" >/dev/null`)
	trace := filepath.Join(dir, "span.ndjson")
	stdout, stderr, st := runLogger(t, "--json", trace, disks[0], disks[1], "--run", run.String())
	if st != 0 {
		t.Fatalf("bmaplogger: status %d\n%s", st, stderr)
	}
	_, evs := readNDJSONTrace(t, trace)
	for _, r := range reads {
		found := false
		for _, ev := range evs {
			if ev.Off != r.off || ev.Disk != 2 {
				continue
			}
			for _, o := range ev.Objects {
				if o.Type == 'f' && o.Device == "/dev/vgguest/home" && o.Name() == r.path {
					found = true
					if o.FileOff != r.fileOff {
						t.Errorf("read %#x on disk 2: %s at file offset %d, istat says %d", r.off, r.path, o.FileOff, r.fileOff)
					}
				}
			}
		}
		if !found {
			t.Errorf("read %#x on disk 2 (%s): not traced as the file", r.off, r.path)
		}
		if !strings.Contains(stdout, "read f /dev/vgguest/home "+r.path+"\n") {
			t.Errorf("console has no line for %s", r.path)
		}
	}
	t.Logf("%d reads on disk 2 traced as files of the spanning LV", len(reads))
}

// checkLV compares the map's objects of one LV with The Sleuth Kit run on
// the LV's bytes (extracted at lvm2's offsets): every block istat lists,
// translated through lvm2's segments, is where the map puts the file.
func checkLV(t *testing.T, m *jsonMap, segs []lvmSeg, vg, lv string, disks []string, dir string) {
	dev := lvm.DevicePath(vg, lv)
	lvFile := filepath.Join(dir, vg+"-"+lv+".lv")
	data := extractLV(t, segs, lv, disks, lvFile)

	// Our LV reader gives the same bytes as lvm2's offsets.
	var pvs []*lvm.PV
	for i, d := range disks {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		for _, o := range m.Objects {
			if o.Disk == i+1 && o.Kind == bmap.KindMeta && o.Path == "LVM label" {
				dv := o.Device
				var start, size int64
				for _, p := range m.Objects {
					if p.Device == dv && (p.Kind == bmap.KindPartition || p.Kind == bmap.KindDisk) {
						start, size = p.Extents[0].Off, p.Extents[0].Len
					}
				}
				if size == 0 {
					size = st.Size()
				}
				pv, err := lvm.ReadPV(ioSection(f, start, size), size, nil)
				if err != nil {
					t.Fatal(err)
				}
				pv.Disk, pv.Off = i+1, start
				pvs = append(pvs, pv)
			}
		}
	}
	vgs := lvm.Assemble(pvs, func(err error) { t.Error(err) })
	if len(vgs) != 1 || vgs[0].LV(lv) == nil {
		t.Fatalf("VG not assembled: %d VGs", len(vgs))
	}
	got := make([]byte, len(data))
	if _, err := vgs[0].NewReader(vgs[0].LV(lv)).ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("LV reader: err %v, bytes equal %v", err, bytes.Equal(got, data))
	}

	// The LV object covers exactly lvm2's segments.
	var want, have []string
	for off := int64(0); off < int64(len(data)); off += 1 << 16 {
		d, o, _ := lvPlace(segs, lv, off)
		want = append(want, fmt.Sprintf("%d:%x", d, o))
	}
	for _, o := range m.Objects {
		if o.Kind == bmap.KindLV && o.Device == dev {
			for _, e := range o.Extents {
				for x := e.Off; x < e.End(); x += 1 << 16 {
					have = append(have, fmt.Sprintf("%d:%x", o.Disk, x))
				}
			}
		}
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		t.Errorf("LV object: %d 64 KiB pieces, lvm2 says %d", len(have), len(want))
	}

	// Files and directories vs fls + istat (1 KiB blocks: lvm.sh makes
	// every ext4 with -b 1024).
	const bs = 1024
	ents, err := fls(lvFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	var inodes []uint64
	for _, e := range ents {
		inodes = append(inodes, e.Inode)
	}
	ist, err := istatAll(lvFile, 0, inodes, 2)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string][]string{} // path -> sorted "disk:off" of each data block
	for _, o := range m.Objects {
		if o.Device != dev || (o.Kind != bmap.KindFile && o.Kind != bmap.KindDir) {
			continue
		}
		for _, e := range o.Extents {
			if e.Role != bmap.RoleData {
				continue
			}
			for x := e.Off; x < e.End(); x += bs {
				ours[o.Path] = append(ours[o.Path], fmt.Sprintf("%d:%x", o.Disk, x))
			}
		}
	}
	files := 0
	for _, e := range ents {
		if e.Type != "r/r" && e.Type != "d/d" {
			continue
		}
		var tsk []string
		for _, blk := range ist[e.Inode].Direct {
			d, o, ok := lvPlace(segs, lv, int64(blk)*bs)
			if !ok {
				t.Fatalf("%s: block %d outside the LV", e.Path, blk)
			}
			tsk = append(tsk, fmt.Sprintf("%d:%x", d, o))
		}
		p := "/" + e.Path
		o := ours[p]
		slices.Sort(o)
		slices.Sort(tsk)
		if !slices.Equal(o, tsk) {
			t.Errorf("%s %s: map has %d blocks, istat %d (first map %v, istat %v)", dev, p, len(o), len(tsk), first(o), first(tsk))
		}
		if e.Type == "r/r" {
			files++
		}
	}
	if files == 0 {
		t.Error("no files compared")
	}
	t.Logf("%s: %d files and their blocks match istat through lvm2's segments", dev, files)
}

func first(s []string) []string { return s[:min(3, len(s))] }

func ioSection(f *os.File, off, n int64) *io.SectionReader { return io.NewSectionReader(f, off, n) }

// lvmOnLUKS encrypts the two-disk guest's second disk (a whole-disk PV of
// vgguest) with cryptsetup's own offline LUKS2 encryption, as an
// installer puts LVM inside LUKS, and maps both disks with the key: the
// files of /home, an LV with segments on disk 1 and inside the LUKS volume
// on disk 2, must be where istat (on the LV extracted from the clear
// disks) and lvm2's segments put them, disk 2's pieces moved by the LUKS
// payload offset.
func lvmOnLUKS(t *testing.T, dir, bin string) {
	testutil.NeedTools(t, "cryptsetup")
	const pass = "installer passphrase"
	clear := []string{filepath.Join(dir, "guest-d1.img"), filepath.Join(dir, "guest-d2.img")}
	segs := readLVSFile(t, filepath.Join(dir, "guest.lvs"))
	lvFile := filepath.Join(dir, "vgguest-home.luks.lv")
	extractLV(t, segs, "home", clear, lvFile)

	enc := filepath.Join(dir, "guest-d2-luks.img")
	b, err := os.ReadFile(clear[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(enc, append(b, make([]byte, 16<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, pass, "cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--batch-mode", "--key-file", "-",
		"--reduce-device-size", "16M", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", enc)
	dump := testutil.Run(t, "", "cryptsetup", "luksDump", enc)
	var payload int64 = -1
	for line := range strings.SplitSeq(dump, "\n") {
		if f := strings.Fields(line); payload < 0 && len(f) == 3 && f[0] == "offset:" && f[2] == "[bytes]" {
			payload, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if payload < 0 {
		t.Fatalf("no data segment offset in luksDump:\n%s", dump)
	}
	moved := make([]lvmSeg, len(segs))
	for i, s := range segs {
		moved[i] = s
		moved[i].areas = slices.Clone(s.areas)
		for j, a := range moved[i].areas {
			if a[0] == 2 {
				moved[i].areas[j][1] += payload
			}
		}
	}

	jsonOut := filepath.Join(dir, "luks.json")
	out, err := exec.Command(bin, "-q", "--json", "--key", "all:key:"+pass, "-o", jsonOut, clear[0], enc).CombinedOutput()
	if err != nil {
		t.Fatalf("virt-bmap: %v\n%s", err, out)
	}
	var m jsonMap
	jb, _ := os.ReadFile(jsonOut)
	if err := json.Unmarshal(jb, &m); err != nil {
		t.Fatal(err)
	}
	ents, err := fls(lvFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	var inodes []uint64
	for _, e := range ents {
		inodes = append(inodes, e.Inode)
	}
	ist, err := istatAll(lvFile, 0, inodes, 2)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 1024
	ours := map[string][]string{}
	for _, o := range m.Objects {
		if o.Device != "/dev/vgguest/home" || o.Kind != bmap.KindFile {
			continue
		}
		for _, e := range o.Extents {
			if e.Role == bmap.RoleData {
				for x := e.Off; x < e.End(); x += bs {
					ours[o.Path] = append(ours[o.Path], fmt.Sprintf("%d:%x", o.Disk, x))
				}
			}
		}
	}
	files, onLUKS := 0, 0
	for _, e := range ents {
		if e.Type != "r/r" {
			continue
		}
		var want []string
		for _, blk := range ist[e.Inode].Direct {
			d, o, _ := lvPlace(moved, "home", int64(blk)*bs)
			want = append(want, fmt.Sprintf("%d:%x", d, o))
			if d == 2 {
				onLUKS++
			}
		}
		got := ours["/"+e.Path]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("/%s: map %v, istat through lvm2 and LUKS %v", e.Path, first(got), first(want))
		}
		files++
	}
	if files == 0 || onLUKS == 0 {
		t.Errorf("%d files compared, %d blocks inside the LUKS volume", files, onLUKS)
	}
}
