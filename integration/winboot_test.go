package integration

// Windows-shaped boots through bmaplogger: testimages/winboot.sh builds a
// GPT disk laid out as Windows Setup lays it out (ESP FAT32 with GRUB as
// \EFI\Boot\bootx64.efi and a BCD, Microsoft Reserved, NTFS C:, NTFS
// recovery) and an MBR disk with GRUB's boot.img and core.img before the
// same C:. OVMF (UEFI) and SeaBIOS (BIOS) boot them under TCG from
// bmaplogger's read-only export; GRUB loads Linux from NTFS; the initramfs
// mounts C: with ntfs-3g and runs a script resident in its MFT record,
// which reads a hive-sized file and runs an ELF from C:.
//
// The trace must name, in this order, bootx64.efi (UEFI), GRUB's
// configuration, the kernel and initrd on C:, then the files the running
// system read; each file it names is checked against The Sleuth Kit: the
// name against fls, the first read of its contents against ifind -d (the
// MFT entry or FAT file owning that cluster or sector), a resident file's
// record against where istat puts $MFT's clusters, whole-file loads
// against istat's size. NTFS system files are metadata (m), never files;
// GRUB's boot.img in the MBR and core.img in the gap are named boot code.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const (
	winbootMarker = "VIRT-BMAP-WINBOOT-OK"
	winbootFailed = "VIRT-BMAP-WINBOOT-FAILED"
)

// The files winboot.sh's boot needs, with their Debian packages.
var winbootFiles = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"},
	{"/usr/lib/grub/x86_64-efi/ntfs.mod", "grub-efi-amd64-bin"},
	{"/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"},
	{"/usr/include/ntfs-3g/volume.h", "ntfs-3g-dev"},
}

// winbootImages is uefi.img and bios.img, built once per test run by
// testimages/winboot.sh, with their layouts ("uefi", "bios").
var winbootImages scriptImages

// winbootRun is one of the two boots.
type winbootRun struct {
	name  string
	img   string
	cDev  string    // C: as the trace names it
	order []bootKey // files whose contents are first read in this order
	whole []bootKey // files read from start to end
	after []bootKey // files the running system read (after GRUB's last initrd read)
	guest string    // C: as the guest names it
}

func winbootRuns() []winbootRun {
	sys := func(dev string) []bootKey {
		return []bootKey{{dev, "/Windows/System32/config/SYSTEM"}, {dev, "/Windows/System32/busybox.exe"}}
	}
	kern := func(dev string) []bootKey {
		return []bootKey{{dev, "/boot/vmlinuz"}, {dev, "/boot/initrd.img"}}
	}
	return []winbootRun{
		{
			name: "uefi", img: "uefi.img", cDev: "/dev/sda3", guest: "/dev/vda3",
			order: append(append([]bootKey{{"/dev/sda1", "/EFI/Boot/bootx64.efi"}, {"/dev/sda1", "/EFI/Boot/grub.cfg"}},
				kern("/dev/sda3")...), sys("/dev/sda3")...),
			whole: append([]bootKey{{"/dev/sda1", "/EFI/Boot/bootx64.efi"}, {"/dev/sda3", "/Windows/System32/config/SYSTEM"}}, kern("/dev/sda3")...),
			after: append([]bootKey{{"/dev/sda3", "/Windows/System32/init.sh"}}, sys("/dev/sda3")...),
		},
		{
			name: "bios", img: "bios.img", cDev: "/dev/sda1", guest: "/dev/vda1",
			order: append(append([]bootKey{{"/dev/sda1", "/boot/grub/grub.cfg"}}, kern("/dev/sda1")...), sys("/dev/sda1")...),
			whole: append([]bootKey{{"/dev/sda1", "/Windows/System32/config/SYSTEM"}}, kern("/dev/sda1")...),
			after: append([]bootKey{{"/dev/sda1", "/Windows/System32/init.sh"}}, sys("/dev/sda1")...),
		},
	}
}

func TestWinBootTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two guests under TCG (about 40 s each): not in -short")
	}
	setup(t)
	testutil.NeedTools(t, "qemu-system-x86_64", "fls", "ifind", "istat", "fsstat",
		"apt-get", "dpkg-deb", "mkfs.fat", "mcopy", "mkntfs", "ntfs-3g", "grub-mkimage", "sfdisk", "gcc", "cpio", "gzip", "openssl")
	for _, f := range winbootFiles {
		if _, err := os.Stat(f[0]); err != nil {
			t.Skipf("%s not found: install the Debian package '%s'", f[0], f[1])
		}
	}
	dir, layouts := winbootImages.build(t, "winboot.sh", "winboot", "uefi", "bios")
	bin := buildBmaplogger(t)
	for _, run := range winbootRuns() {
		t.Run(run.name, func(t *testing.T) {
			img := filepath.Join(dir, run.img)
			parts := layouts[run.name]
			tsk := newWinTSK(t, img, parts)
			tmp := t.TempDir()
			trace := filepath.Join(tmp, "trace.ndjson")
			qemu := "qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -nic none"
			if run.name == "uefi" {
				vars := filepath.Join(tmp, "vars.fd")
				b, err := os.ReadFile(filepath.Join(dir, "vars.fd"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(vars, b, 0o644); err != nil {
					t.Fatal(err)
				}
				qemu += " -drive if=pflash,format=raw,unit=0,readonly=on,file=" + filepath.Join(dir, "code.fd") +
					" -drive if=pflash,format=raw,unit=1,file=" + vars
			}
			qemu += " -drive file=$uri,format=raw,if=virtio,readonly=on"
			stdout, console := captiveBoot(t, run.name, bin, img, trace, qemu, 8*time.Minute, winbootMarker, winbootFailed)
			if !strings.Contains(console, "init: mounting C: ("+run.guest+") with ntfs-3g") {
				t.Errorf("the guest did not mount %s:\n%s", run.guest, tail(console, 30))
			}
			_, evs := readTrace(t, trace)
			t.Logf("%s: %d requests", run.name, len(evs))
			var d diffs
			checkWinbootTrace(&d, run, evs, tsk)
			d.report(t, run.name+" boot trace (NDJSON)")
			var dc diffs
			checkWinbootConsole(&dc, run, stdout)
			dc.report(t, run.name+" boot trace (console)")
			if run.name == "uefi" && !t.Failed() {
				checkWinbootChecks(t, run, evs, stdout, tsk)
			}
		})
	}
}

// winTSK is what The Sleuth Kit says about the disk's filesystems.
type winTSK struct {
	parts map[string]bootPart            // device -> partition
	names map[string]map[string]flsEntry // device -> "/path" -> fls entry
	unit  map[string]int64               // device -> ifind -d's unit (NTFS cluster, FAT sector)
	// ifind -d answers and istat facts, looked up once.
	ifind    map[string]string // "dev addr" -> first field of ifind's answer
	size     map[bootKey]int64
	resident map[bootKey]bool
	mftRuns  map[string][]int64 // device -> $MFT's clusters, in order (istat 0)
	t        *testing.T
	img      string
}

var reMFTRunLine = regexp.MustCompile(`^[0-9 ]+$`)

func newWinTSK(t *testing.T, img string, parts []bootPart) *winTSK {
	t.Helper()
	w := &winTSK{parts: map[string]bootPart{}, names: map[string]map[string]flsEntry{}, unit: map[string]int64{},
		ifind: map[string]string{}, size: map[bootKey]int64{}, resident: map[bootKey]bool{}, mftRuns: map[string][]int64{}, t: t, img: img}
	for _, p := range parts {
		if p.FSType == "none" {
			continue
		}
		w.parts[p.Device] = p
		off := strconv.FormatInt(p.Start, 10)
		list := fls
		if p.FSType == "ntfs" {
			list = flsNTFS
		}
		es, err := list(img, p.Start)
		if err != nil {
			t.Fatal(err)
		}
		w.names[p.Device] = map[string]flsEntry{}
		for _, e := range es {
			w.names[p.Device]["/"+e.Path] = e
		}
		w.unit[p.Device] = 512
		if p.FSType == "ntfs" {
			out, err := runTool("fsstat", "-o", off, img)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^Cluster Size: (\d+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("fsstat %s: no cluster size", p.Device)
			}
			w.unit[p.Device], _ = strconv.ParseInt(string(m[1]), 10, 64)
			out, err = runTool("istat", "-o", off, img, "0")
			if err != nil {
				t.Fatal(err)
			}
			// The unnamed $DATA's run list: the lines of numbers after it.
			in := false
			for line := range strings.SplitSeq(string(out), "\n") {
				if strings.HasPrefix(line, "Type: ") {
					in = strings.HasPrefix(line, "Type: $DATA") && strings.Contains(line, "Name: N/A")
					continue
				}
				if in && reMFTRunLine.MatchString(line) {
					for f := range strings.FieldsSeq(line) {
						n, _ := strconv.ParseInt(f, 10, 64)
						w.mftRuns[p.Device] = append(w.mftRuns[p.Device], n)
					}
				}
			}
			if len(w.mftRuns[p.Device]) == 0 {
				t.Fatalf("istat %s 0: no $DATA run list:\n%s", p.Device, out)
			}
		}
	}
	return w
}

// fsType is the partition's filesystem ("ntfs", "vfat").
func (w *winTSK) fsType(dev string) string { return w.parts[dev].FSType }

// owner is the file ifind -d says owns the unit holding disk offset off
// (its MFT entry or FAT directory-entry address), "" for none.
func (w *winTSK) owner(dev string, off int64) (string, error) {
	p := w.parts[dev]
	addr := (off - p.Start*512) / w.unit[dev]
	k := dev + " " + strconv.FormatInt(addr, 10)
	if s, ok := w.ifind[k]; ok {
		return s, nil
	}
	out, err := runTool("ifind", "-o", strconv.FormatInt(p.Start, 10), "-d", strconv.FormatInt(addr, 10), w.img)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(out))
	s, _, _ = strings.Cut(s, "-") // NTFS: ENTRY-TYPE-ID
	w.ifind[k] = s
	return s, nil
}

// istatOf fills size and resident for a file from istat.
func (w *winTSK) istatOf(k bootKey) error {
	if _, ok := w.size[k]; ok {
		return nil
	}
	e, ok := w.names[k.dev][k.path]
	if !ok {
		return fmt.Errorf("fls does not list %s %s", k.dev, k.path)
	}
	out, err := runTool("istat", "-o", strconv.FormatInt(w.parts[k.dev].Start, 10), w.img, strconv.FormatUint(e.Inode, 10))
	if err != nil {
		return err
	}
	w.size[k] = istatSize(out)
	if w.fsType(k.dev) == "ntfs" {
		w.resident[k] = regexp.MustCompile(`(?m)^Type: \$DATA \(128-\d+\)\s+Name: N/A\s+Resident`).Match(out)
		if w.size[k] < 0 {
			// NTFS: the unnamed $DATA's size.
			m := regexp.MustCompile(`(?m)^Type: \$DATA \(128-\d+\)\s+Name: N/A\s+\S+.*size: (\d+)`).FindSubmatch(out)
			if m != nil {
				w.size[k], _ = strconv.ParseInt(string(m[1]), 10, 64)
			}
		}
	}
	return nil
}

// record is where MFT entry n lies on the disk, by istat's $MFT clusters.
func (w *winTSK) record(dev string, n uint64) (int64, error) {
	cl := w.unit[dev]
	byteOff := int64(n) * 1024
	runs := w.mftRuns[dev]
	i := byteOff / cl
	if i >= int64(len(runs)) {
		return 0, fmt.Errorf("%s: MFT entry %d past $MFT's %d clusters", dev, n, len(runs))
	}
	return w.parts[dev].Start*512 + runs[i]*cl + byteOff%cl, nil
}

// checkWinbootTrace checks the order of the boot's reads and every file
// the trace names against TSK.
func checkWinbootTrace(d *diffs, run winbootRun, evs []traceEvent, w *winTSK) {
	if len(evs) == 0 {
		d.add("empty trace")
		return
	}
	// Resident files (istat): their contents are in their MFT record, any
	// read of it reads them.
	for _, k := range append(append([]bootKey(nil), run.order...), run.after...) {
		if err := w.istatOf(k); err != nil {
			d.add("%v", err)
		}
	}
	firstData := map[bootKey]int{} // the first request that read a file's contents
	firstObj := map[bootKey]traceObject{}
	lastData := map[bootKey]int{}
	touched := map[bootKey][]int{} // every request naming the file, record or contents
	read := map[bootKey][][2]int64{}
	for i, e := range evs {
		if e.Error != "" {
			d.add("request %d (off %#x len %d) failed: %s", i, e.Off, e.Len, e.Error)
		}
		for _, o := range e.Objects {
			if o.Type != "f" && o.Type != "d" {
				continue
			}
			if strings.HasPrefix(o.Path, "/$") && w.fsType(o.Device) == "ntfs" {
				d.add("request %d: %s %s %s: an NTFS system file traced as a file, not metadata (m)", i, o.Type, o.Device, o.Path)
				continue
			}
			if _, ok := w.names[o.Device][o.Path]; !ok && o.Path != "/" {
				d.add("request %d: %s %s %s: fls does not list that name", i, o.Type, o.Device, o.Path)
				continue
			}
			k := bootKey{o.Device, o.Path}
			touched[k] = append(touched[k], i)
			if o.Type != "f" || o.FileOff < 0 && !w.resident[k] {
				continue
			}
			if _, ok := firstData[k]; !ok {
				firstData[k], firstObj[k] = i, o
			}
			lastData[k] = i
			if o.FileOff >= 0 {
				read[k] = append(read[k], [2]int64{o.FileOff, o.FileOff + o.Len})
			}
		}
	}

	// BIOS: the MBR's code and core.img in the gap before the partition
	// are boot code, named (m), not the bare disk.
	if run.name == "bios" {
		gapEnd := w.parts[run.cDev].Start * 512
		named := map[string]int{}
		for i, e := range evs {
			if e.Off+e.Len > gapEnd {
				continue
			}
			var ms []string
			for _, o := range e.Objects {
				if o.Type == "m" && o.Device == "/dev/sda" {
					ms = append(ms, o.Path)
				}
			}
			switch {
			case e.Off >= 512 && !slices.Contains(ms, "GRUB core.img"):
				d.add("request %d (%#x+%d) in the gap after the MBR: %v, not GRUB core.img", i, e.Off, e.Len, ms)
			case e.Off == 0 && !slices.Contains(ms, "MBR boot code (GRUB)"):
				d.add("request %d reads the MBR: %v, not MBR boot code (GRUB)", i, ms)
			}
			for _, m := range ms {
				named[m]++
			}
		}
		for _, m := range []string{"MBR boot code (GRUB)", "GRUB core.img"} {
			if named[m] == 0 {
				d.add("no request names %s", m)
			}
		}
	}

	// In order: each file's contents first read after the one before's.
	prev, prevName := -1, "the start"
	for _, k := range run.order {
		i, ok := firstData[k]
		if !ok {
			d.add("%s %s: its contents never read", k.dev, k.path)
			continue
		}
		if i <= prev {
			d.add("%s %s first read by request %d, not after %s (request %d)", k.dev, k.path, i, prevName, prev)
		}
		prev, prevName = i, k.dev+" "+k.path
	}
	// The running system's reads come after GRUB's last read of the
	// initrd; init.sh, resident, is read with its record.
	ird := bootKey{run.cDev, "/boot/initrd.img"}
	kernel, ok := lastData[ird]
	if !ok {
		kernel = len(evs)
	}
	for _, k := range run.after {
		n := 0
		for _, i := range touched[k] {
			if i > kernel {
				n++
			}
		}
		if n == 0 {
			d.add("%s %s: no request after GRUB's last read of the initrd (request %d) names it", k.dev, k.path, kernel)
		}
	}

	// Whole-file loads: the file offsets read cover each file (istat's size).
	for _, k := range run.whole {
		if err := w.istatOf(k); err != nil {
			d.add("%v", err)
			continue
		}
		if w.size[k] <= 0 {
			d.add("istat %s %s: no size", k.dev, k.path)
			continue
		}
		if hole := firstHole(read[k], w.size[k]); hole >= 0 {
			d.add("%s %s: %d bytes; the trace never shows file offset %d read", k.dev, k.path, w.size[k], hole)
		}
	}

	// The first contents read of each file is the file's by TSK: ifind -d
	// names the owner of the unit read; a resident file's bytes lie in its
	// own MFT entry, where istat's $MFT clusters put it.
	check := func(k bootKey, o traceObject) {
		e := w.names[k.dev][k.path]
		if err := w.istatOf(k); err != nil {
			d.add("%v", err)
			return
		}
		if w.resident[k] {
			rec, err := w.record(k.dev, e.Inode)
			if err != nil {
				d.add("%v", err)
				return
			}
			if o.Off < rec || o.Off+o.Len > rec+1024 {
				d.add("%s %s (resident, MFT entry %d): read at disk %#x+%d, outside its record at %#x (istat 0)", k.dev, k.path, e.Inode, o.Off, o.Len, rec)
			}
			return
		}
		got, err := w.owner(k.dev, o.Off)
		if err != nil {
			d.add("%s %s: %v", k.dev, k.path, err)
			return
		}
		if want := strconv.FormatUint(e.Inode, 10); got != want {
			d.add("%s %s: read at disk %#x: ifind -d says that unit belongs to %q, fls gives the file address %s", k.dev, k.path, o.Off, got, want)
		}
	}
	for _, k := range run.order {
		if o, ok := firstObj[k]; ok {
			check(k, o)
		}
	}
	// Every read of what the running system read: contents, or a resident
	// file's record.
	for _, k := range run.after {
		for _, i := range touched[k] {
			if i <= kernel {
				continue
			}
			for _, o := range evs[i].Objects {
				if o.Device == k.dev && o.Path == k.path && (o.FileOff >= 0 || w.resident[k]) {
					check(k, o)
				}
			}
		}
	}
}

// checkWinbootConsole checks that the console names the boot's files in
// order and never an NTFS system file as a file.
func checkWinbootConsole(d *diffs, run winbootRun, out string) {
	first := map[bootKey]int{}
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		m := reConsoleRead.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		n++
		if m[1] == "f" && strings.HasPrefix(m[3], "/$") {
			d.add("console line %d: read f %s %s: an NTFS system file as a file", n, m[2], m[3])
		}
		k := bootKey{m[2], m[3]}
		if _, ok := first[k]; !ok && m[1] == "f" {
			first[k] = n
		}
	}
	if n == 0 {
		d.add("no console trace line (read TYPE DEVICE PATH) in the output")
		return
	}
	prev, prevName := 0, "the start"
	for _, k := range run.order {
		i, ok := first[k]
		if !ok {
			d.add("no console line read f %s %s", k.dev, k.path)
			continue
		}
		if i <= prev {
			d.add("read f %s %s is console trace line %d, not after %s (line %d)", k.dev, k.path, i, prevName, prev)
		}
		prev, prevName = i, k.dev+" "+k.path
	}
}

// checkWinbootChecks makes sure the checks above can fail: each mutation of
// the real, passing trace is a mistake a logger could make.
func checkWinbootChecks(t *testing.T, run winbootRun, evs []traceEvent, console string, w *winTSK) {
	t.Helper()
	clone := func() []traceEvent {
		c := make([]traceEvent, len(evs))
		for i := range evs {
			c[i] = evs[i]
			c[i].Objects = append([]traceObject(nil), evs[i].Objects...)
		}
		return c
	}
	each := func(evs []traceEvent, path string, fn func(o *traceObject)) {
		for i := range evs {
			for j := range evs[i].Objects {
				if evs[i].Objects[j].Path == path {
					fn(&evs[i].Objects[j])
				}
			}
		}
	}
	for _, mu := range []struct {
		name   string
		mutate func([]traceEvent) []traceEvent
	}{
		{"$MFT traced as a file", func(evs []traceEvent) []traceEvent {
			evs[len(evs)/2].Objects = append(evs[len(evs)/2].Objects, traceObject{Type: "f", Device: run.cDev, Path: "/$MFT", FileOff: 0})
			return evs
		}},
		{"the kernel one cluster early", func(evs []traceEvent) []traceEvent {
			each(evs, "/boot/vmlinuz", func(o *traceObject) { o.Off -= 4096 })
			return evs
		}},
		{"init.sh's record one record off", func(evs []traceEvent) []traceEvent {
			each(evs, "/Windows/System32/init.sh", func(o *traceObject) { o.Off += 1024 })
			return evs
		}},
		{"bootx64.efi never read", func(evs []traceEvent) []traceEvent {
			each(evs, "/EFI/Boot/bootx64.efi", func(o *traceObject) { o.Type = "m"; o.Path = "FAT 1" })
			return evs
		}},
		{"SYSTEM read before the kernel", func(evs []traceEvent) []traceEvent {
			each(evs, "/Windows/System32/config/SYSTEM", func(o *traceObject) { o.Path = "/boot/initrd.img" })
			return evs
		}},
		{"the end of the initrd lost", func(evs []traceEvent) []traceEvent {
			each(evs, "/boot/initrd.img", func(o *traceObject) {
				if o.FileOff+o.Len >= w.size[bootKey{run.cDev, "/boot/initrd.img"}] {
					o.FileOff = 0
				}
			})
			return evs
		}},
	} {
		var d diffs
		checkWinbootTrace(&d, run, mu.mutate(clone()), w)
		if len(d.list) == 0 {
			t.Errorf("mutation %q: the trace checks saw nothing", mu.name)
		} else {
			t.Logf("mutation %q: %s", mu.name, d.list[0])
		}
	}
	for name, bad := range map[string]string{
		"grub.cfg missing":  strings.ReplaceAll(console, "read f /dev/sda1 /EFI/Boot/grub.cfg\n", ""),
		"$MFT as a file":    console + "read f /dev/sda3 /$MFT\n",
		"kernel after init": strings.ReplaceAll(console, "read f /dev/sda3 /boot/vmlinuz\n", "") + "read f /dev/sda3 /boot/vmlinuz\n",
	} {
		var d diffs
		checkWinbootConsole(&d, run, bad)
		if len(d.list) == 0 {
			t.Errorf("console check: %s: saw nothing", name)
		}
	}
}
