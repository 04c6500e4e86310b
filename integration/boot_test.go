package integration

// A real boot through bmaplogger: testimages/boot.sh builds a disk with
// SYSLINUX on a FAT partition, a Debian kernel and a busybox initramfs that
// mounts an ext4 partition and runs programs from it; qemu (TCG) boots it
// from bmaplogger's read-only NBD export. The trace must show what the
// boot read, in the order it read it, and every file it names is checked
// against The Sleuth Kit: the name against fls, the disk block of its
// first read against ifind (which file owns that block), and the part of
// the kernel and initramfs read against istat's size.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// bootMarker is what boot.sh's /init prints once it has run the ext4
// root's programs; bootFailed what it prints when a step fails.
const (
	bootMarker = "VIRT-BMAP-BOOT-OK"
	bootFailed = "VIRT-BMAP-BOOT-FAILED"
)

// The trace's NDJSON records, the fields this test reads (schema in
// logger/ndjson.go; declared here so that the test reads the documented
// format, not the package's own decoder).
type traceHeader struct {
	Version int `json:"version"`
	Exports []struct {
		Name   string `json:"name"`
		Device string `json:"device"`
		Size   int64  `json:"size"`
	} `json:"exports"`
}

type traceEvent struct {
	Off     int64         `json:"off"`
	Len     int64         `json:"len"`
	Error   string        `json:"error"`
	Objects []traceObject `json:"objects"`
}

type traceObject struct {
	Type    string `json:"type"`
	Device  string `json:"device"`
	Path    string `json:"path"`
	Off     int64  `json:"off"`
	Len     int64  `json:"len"`
	FileOff int64  `json:"file_off"`
}

// bootPart is a partition of boot.img as boot.layout lists it.
type bootPart struct {
	Device string
	Start  int64 // sector
	Size   int64 // sectors
	FSType string
}

// bootImages is the images testimages/boot.sh builds, once per test run.
var bootImages scriptImages

// bootImage builds boot.img once per test run (the kernel download is
// cached by boot.sh) and returns its path and layout, or skips the test
// when the kernel cannot be had.
func bootImage(t *testing.T) (string, []bootPart) {
	t.Helper()
	dir, parts := bootImages.build(t, "boot.sh", "boot", "boot")
	return filepath.Join(dir, "boot.img"), parts["boot"]
}

// scriptImages runs a script of testimages/ that builds boot disks once
// per test run, and reads the layout it writes beside each disk.
type scriptImages struct {
	env   []string // added to the script's environment
	done  bool
	dir   string                // "" when the script failed
	parts map[string][]bootPart // by disk name: NAME.layout
}

// build runs testimages/SCRIPT into workDir/SUB and parses the layouts
// of the disks named: a line a partition, "device start-sector
// size-in-sectors fstype". It skips the test when the script could not
// get a kernel (no network, no package lists).
func (s *scriptImages) build(t *testing.T, script, sub string, names ...string) (string, map[string][]bootPart) {
	t.Helper()
	if s.done {
		if s.dir == "" {
			t.Skipf("testimages/%s failed (see the first test's log)", script)
		}
		return s.dir, s.parts
	}
	s.done = true
	dir := filepath.Join(workDir, sub)
	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "testimages", script), dir)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		o := string(out)
		if strings.Contains(o, "apt-get download") || strings.Contains(o, "no kernel") {
			t.Skipf("testimages/%s could not get a kernel: %s", script, strings.TrimSpace(o))
		}
		t.Fatalf("testimages/%s %s: %v\n%s", script, dir, err, out)
	}
	t.Logf("%s: %.1fs: %s", script, time.Since(start).Seconds(), strings.TrimSpace(string(out)))
	parts := map[string][]bootPart{}
	for _, name := range names {
		lay, err := os.ReadFile(filepath.Join(dir, name+".layout"))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(lay)), "\n") {
			var p bootPart
			if _, err := fmt.Sscan(line, &p.Device, &p.Start, &p.Size, &p.FSType); err != nil {
				t.Fatalf("%s.layout: %q: %v", name, line, err)
			}
			parts[name] = append(parts[name], p)
		}
	}
	s.dir, s.parts = dir, parts
	return dir, parts
}

// buildBmaplogger builds cmd/bmaplogger into the work directory once
// (under its own name: bmaplogger_test.go's helper needs NBD client tools
// this test does not).
var bmapLoggerBin string

func buildBmaplogger(t *testing.T) string {
	t.Helper()
	if bmapLoggerBin != "" {
		return bmapLoggerBin
	}
	bin := filepath.Join(workDir, "bmaplogger-boot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bmaplogger")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/bmaplogger: %v\n%s", err, out)
	}
	bmapLoggerBin = bin
	return bin
}

// captiveBoot boots a guest through bmaplogger --run: bin serves img
// with the NDJSON trace to trace and runs the qemu command line. It fails
// the test unless qemu exits 0 and the guest printed ok and not failed;
// it returns bmaplogger's stdout and the whole console (stdout and stderr).
// flags go to bmaplogger before the others.
func captiveBoot(t *testing.T, name, bin, img, trace, qemu string, timeout time.Duration, ok, failed string, flags ...string) (stdout, console string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(flags, "--json", trace, img, "--run", qemu)...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	console = out.String() + errb.String()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("bmaplogger --run %q: %v (after %v)\n%s", qemu, err, took, tail(console, 60))
		}
		code = ee.ExitCode()
	}
	t.Logf("%s: boot through bmaplogger took %.1fs", name, took.Seconds())
	if code != 0 {
		t.Errorf("exit status %d, want qemu's 0", code)
	}
	if !strings.Contains(console, ok) || strings.Contains(console, failed) {
		t.Fatalf("the guest did not finish its init (no %s line):\n%s", ok, tail(console, 60))
	}
	return out.String(), console
}

// readTrace decodes an NDJSON trace: the header and the events in the
// order they were logged.
func readTrace(t *testing.T, path string) (traceHeader, []traceEvent) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var h traceHeader
	var evs []traceEvent
	for n := 1; sc.Scan(); n++ {
		if n == 1 {
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				t.Fatalf("%s:1: header: %v", path, err)
			}
			continue
		}
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"connections":`)) {
			continue // the last line: the connections the server accepted
		}
		var e traceEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 {
		t.Fatalf("%s: trace version %d, want 1", path, h.Version)
	}
	return h, evs
}

// The boot, over IDE (the BIOS, SYSLINUX and the kernel's ata_piix: the
// sector-by-sector case, tens of thousands of 512-byte reads) and over
// virtio (fewer, larger reads). qemu refuses a read-only export as an IDE
// disk without a snapshot overlay.
var bootRuns = []struct {
	name  string
	drive string
	dev   string // the ext4 root as the guest names it
}{
	{"ide", "-drive file=$uri,format=raw,if=ide,snapshot=on", "/dev/sda2"},
	{"virtio", "-drive file=$uri,format=raw,if=virtio,readonly=on", "/dev/vda2"},
}

func TestBootTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG (about 10 s a run): not in -short")
	}
	setup(t)
	testutil.NeedTools(t, "qemu-system-x86_64", "fls", "ifind", "istat",
		"apt-get", "dpkg-deb", "syslinux", "mkfs.fat", "mcopy", "cpio", "gzip")
	img, parts := bootImage(t)
	bin := buildBmaplogger(t)
	var fat, ext bootPart
	for _, p := range parts {
		switch p.FSType {
		case "vfat":
			fat = p
		case "ext4":
			ext = p
		}
	}
	if fat.Device != "/dev/sda1" || ext.Device != "/dev/sda2" {
		t.Fatalf("boot.layout: want sda1 vfat and sda2 ext4, got %+v", parts)
	}
	names := map[string]map[string]flsEntry{} // device -> path -> fls entry
	for _, p := range parts {
		es, err := fls(img, p.Start)
		if err != nil {
			t.Fatal(err)
		}
		names[p.Device] = map[string]flsEntry{}
		for _, e := range es {
			names[p.Device]["/"+e.Path] = e
		}
	}
	for _, run := range bootRuns {
		t.Run(run.name, func(t *testing.T) {
			dir := t.TempDir()
			trace := filepath.Join(dir, "trace.ndjson")
			qemu := "qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -nic none " + run.drive
			stdout, console := captiveBoot(t, run.name, bin, img, trace, qemu, 5*time.Minute, bootMarker, bootFailed)
			os.WriteFile(filepath.Join(dir, "console.txt"), []byte(console), 0o644)
			if !strings.Contains(console, "init: mounting "+run.dev) {
				t.Errorf("the guest did not mount %s:\n%s", run.dev, tail(console, 30))
			}

			h, evs := readTrace(t, trace)
			if len(h.Exports) != 1 || h.Exports[0].Device != "/dev/sda" {
				t.Errorf("trace header exports %+v, want one /dev/sda", h.Exports)
			}
			t.Logf("%s: %d requests", run.name, len(evs))
			var d diffs
			checkBootTrace(t, &d, img, evs, fat, ext, names)
			d.report(t, run.name+" boot trace (NDJSON)")
			var dc diffs
			checkBootConsole(&dc, stdout, ext.Device)
			dc.report(t, run.name+" boot trace (console)")
			if run.name == "ide" {
				if !t.Failed() {
					checkBootChecks(t, img, evs, fat, ext, names)
				}
			}
		})
	}
}

// bootKey names a file or directory of the trace.
type bootKey struct{ dev, path string }

// bootOrder is what the boot must read, first reads in this order:
// SYSLINUX's files, the kernel and initramfs it loads, and the programs
// /init runs from the ext4 root, which is the device extDev (/dev/sda2,
// or the LUKS volume inside it).
func bootOrder(extDev string) []bootKey {
	return []bootKey{
		{"/dev/sda1", "/ldlinux.sys"},
		{"/dev/sda1", "/ldlinux.c32"},
		{"/dev/sda1", "/syslinux.cfg"},
		{"/dev/sda1", "/vmlinuz"},
		{"/dev/sda1", "/initrd.gz"},
		{extDev, "/bin/hello"},
		{extDev, "/usr/bin/report"},
		{extDev, "/bin/busybox"},
	}
}

// checkBootTrace checks the order of the boot's reads and every file the
// trace names against TSK; a failing tool fails the test.
func checkBootTrace(t *testing.T, d *diffs, img string, evs []traceEvent, fat, ext bootPart, names map[string]map[string]flsEntry) {
	t.Helper()
	if len(evs) == 0 {
		d.add("empty trace")
		return
	}
	type key = bootKey
	first := map[key]int{} // index of the first request that read a file or directory
	last := map[key]int{}  // index of the last
	firstObj := map[key]traceObject{}
	read := map[key][][2]int64{} // file_off ranges read
	firstSda2 := -1
	for i, e := range evs {
		if e.Error != "" {
			d.add("request %d (off %#x len %d) failed: %s", i, e.Off, e.Len, e.Error)
		}
		if firstSda2 < 0 && e.Off+e.Len > ext.Start*512 && e.Off < (ext.Start+ext.Size)*512 {
			firstSda2 = i
		}
		for _, o := range e.Objects {
			if o.Type != "f" && o.Type != "d" {
				continue
			}
			k := key{o.Device, o.Path}
			if _, ok := names[o.Device][o.Path]; !ok && o.Path != "/" {
				d.add("request %d: %s %s %s: fls does not list that name", i, o.Type, o.Device, o.Path)
			}
			if _, ok := first[k]; !ok {
				first[k] = i
				firstObj[k] = o
			}
			last[k] = i
			if o.Type == "f" && o.FileOff >= 0 {
				read[k] = append(read[k], [2]int64{o.FileOff, o.FileOff + o.Len})
			}
		}
	}

	// The BIOS reads the MBR first, then mbr.bin the active partition's
	// boot sector.
	if evs[0].Off != 0 {
		d.add("first request at %#x, want the MBR at 0", evs[0].Off)
	}
	bootSector := slices.IndexFunc(evs, func(e traceEvent) bool { return e.Off == fat.Start*512 })

	order := bootOrder(ext.Device)
	prev, prevName := bootSector, "sda1's boot sector"
	if bootSector < 0 {
		d.add("sda1's boot sector (%#x) never read", fat.Start*512)
	}
	for _, k := range order {
		i, ok := first[k]
		if !ok {
			d.add("%s %s never read", k.dev, k.path)
			continue
		}
		if i <= prev {
			d.add("%s %s first read by request %d, not after %s (request %d)", k.dev, k.path, i, prevName, prev)
		}
		prev, prevName = i, k.dev+" "+k.path
	}
	// report reads these; they are read after report itself is.
	for _, p := range []string{"/etc/motd", "/etc/os-release", "/data/numbers"} {
		k := key{ext.Device, p}
		if i, ok := first[k]; !ok {
			d.add("%s %s never read", ext.Device, p)
		} else if i < first[key{ext.Device, "/usr/bin/report"}] {
			d.add("%s %s read (request %d) before /usr/bin/report (request %d)", ext.Device, p, i, first[key{ext.Device, "/usr/bin/report"}])
		}
	}
	// Nothing touches the ext4 partition before the kernel runs, that is
	// before SYSLINUX has read all of the initramfs.
	if ird, ok := last[key{"/dev/sda1", "/initrd.gz"}]; ok && firstSda2 >= 0 && firstSda2 < ird {
		d.add("sda2 read by request %d, before SYSLINUX finished the initramfs (request %d)", firstSda2, ird)
	}

	// SYSLINUX reads the whole kernel and initramfs: the file offsets read
	// cover each file, whose size istat gives.
	for _, p := range []string{"/vmlinuz", "/initrd.gz"} {
		k := key{"/dev/sda1", p}
		e := names["/dev/sda1"][p]
		out, err := runTool("istat", "-o", strconv.FormatInt(fat.Start, 10), img, strconv.FormatUint(e.Inode, 10))
		if err != nil {
			t.Fatal(err)
		}
		size := istatSize(out)
		if size <= 0 {
			t.Fatalf("istat %s: no size in\n%s", p, out)
		}
		if hole := firstHole(read[k], size); hole >= 0 {
			d.add("%s: %d bytes; the trace never shows file offset %d read", p, size, hole)
		}
	}

	// The first read of each file is inside that file according to TSK:
	// ifind names the file owning the block (ext4) or sector (FAT).
	for _, k := range order {
		o, ok := firstObj[k]
		if !ok {
			continue
		}
		p, unit := fat, int64(512)
		if k.dev == ext.Device {
			p, unit = ext, 4096
		}
		addr := (o.Off - p.Start*512) / unit
		out, err := runTool("ifind", "-o", strconv.FormatInt(p.Start, 10), "-d", strconv.FormatInt(addr, 10), img)
		if err != nil {
			d.add("%s %s: %v", k.dev, k.path, err)
			continue
		}
		got := strings.TrimSpace(string(out))
		want := strconv.FormatUint(names[k.dev][k.path].Inode, 10)
		if got != want {
			d.add("%s %s: first read at disk %#x (unit %d of the partition): ifind says it belongs to %q, fls gives the file address %s", k.dev, k.path, o.Off, addr, got, want)
		}
	}
}

// istatSize is the "Size:" istat prints, or -1.
func istatSize(out []byte) int64 {
	for line := range strings.SplitSeq(string(out), "\n") {
		if s, ok := strings.CutPrefix(line, "Size:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// firstHole is the first offset in [0, size) that no range covers, or -1.
func firstHole(rs [][2]int64, size int64) int64 {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	var end int64
	for _, r := range rs {
		if r[0] > end {
			return end
		}
		end = max(end, r[1])
	}
	if end < size {
		return end
	}
	return -1
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// reConsoleRead finds a console trace line, "read TYPE DEVICE [PATH]".
// The guest's console shares the stream: a line of the trace may follow
// the start of one of qemu's lines, never the other way round (each trace
// line is one write).
var reConsoleRead = regexp.MustCompile(`read ([vplmdf]) (/dev/\S+)(?: (.*))?$`)

// checkBootConsole checks that the console trace names the boot's files
// in bootOrder, the ext4 root being extDev.
func checkBootConsole(d *diffs, out, extDev string) {
	first := map[bootKey]int{}
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		m := reConsoleRead.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		n++
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
	for _, k := range bootOrder(extDev) {
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

// checkBootChecks makes sure the checks above can fail: each mutation of
// the real, passing trace is a mistake a logger could make, and must be
// reported.
func checkBootChecks(t *testing.T, img string, evs []traceEvent, fat, ext bootPart, names map[string]map[string]flsEntry) {
	t.Helper()
	clone := func() []traceEvent {
		c := slices.Clone(evs)
		for i := range c {
			c[i].Objects = slices.Clone(c[i].Objects)
		}
		return c
	}
	// each calls fn on every object of the trace with that path.
	each := func(evs []traceEvent, path string, fn func(o *traceObject)) {
		for i := range evs {
			for j := range evs[i].Objects {
				if evs[i].Objects[j].Path == path {
					fn(&evs[i].Objects[j])
				}
			}
		}
	}
	firstWith := func(evs []traceEvent, path string) int {
		return slices.IndexFunc(evs, func(e traceEvent) bool {
			return slices.ContainsFunc(e.Objects, func(o traceObject) bool { return o.Path == path })
		})
	}
	mutations := []struct {
		name   string
		mutate func(evs []traceEvent) []traceEvent
	}{
		{"MBR not read first", func(evs []traceEvent) []traceEvent {
			for len(evs) > 0 && evs[0].Off == 0 {
				evs = evs[1:] // SeaBIOS reads it more than once
			}
			return evs
		}},
		{"hello logged before the kernel", func(evs []traceEvent) []traceEvent {
			i := firstWith(evs, "/bin/hello")
			e := evs[i]
			return slices.Insert(slices.Delete(evs, i, i+1), 5, e)
		}},
		{"a name fls does not know", func(evs []traceEvent) []traceEvent {
			each(evs, "/syslinux.cfg", func(o *traceObject) { o.Path = "/syslinux.conf" })
			return evs
		}},
		{"the file one block off", func(evs []traceEvent) []traceEvent {
			each(evs, "/usr/bin/report", func(o *traceObject) { o.Off += 4096 })
			return evs
		}},
		{"the file one sector off", func(evs []traceEvent) []traceEvent {
			each(evs, "/ldlinux.c32", func(o *traceObject) { o.Off -= 512 })
			return evs
		}},
		{"a piece of the kernel at the wrong file offset", func(evs []traceEvent) []traceEvent {
			n := 0 // the 100th request reading the kernel
			for i := range evs {
				for j, o := range evs[i].Objects {
					if o.Path == "/vmlinuz" {
						if n++; n == 100 {
							evs[i].Objects[j].FileOff += 1 << 20
						}
					}
				}
			}
			return evs
		}},
		{"the end of the initramfs lost", func(evs []traceEvent) []traceEvent {
			var last int
			for i := range evs {
				if slices.ContainsFunc(evs[i].Objects, func(o traceObject) bool { return o.Path == "/initrd.gz" }) {
					last = i
				}
			}
			return slices.Delete(evs, last, last+1)
		}},
		{"ext4 read before the kernel ran", func(evs []traceEvent) []traceEvent {
			i := slices.IndexFunc(evs, func(e traceEvent) bool { return e.Off >= ext.Start*512 })
			return slices.Insert(evs, firstWith(evs, "/initrd.gz")+1, evs[i])
		}},
		{"report's files never read", func(evs []traceEvent) []traceEvent {
			each(evs, "/etc/motd", func(o *traceObject) { o.Type = "m"; o.Path = "group 0 inode table" })
			return evs
		}},
	}
	for _, mu := range mutations {
		var d diffs
		checkBootTrace(t, &d, img, mu.mutate(clone()), fat, ext, names)
		if len(d.list) == 0 {
			t.Errorf("mutation %q: the trace checks saw nothing", mu.name)
		} else {
			t.Logf("mutation %q: %s", mu.name, d.list[0])
		}
	}

	// The console check: its lines out of order, and one missing.
	good := "read m /dev/sda MBR\n"
	for _, k := range bootOrder(ext.Device) {
		good += "read f " + k.dev + " " + k.path + "\n"
	}
	var d diffs
	checkBootConsole(&d, "SeaBIOS\nSYSLINUX 6.04 ED"+good, ext.Device)
	if len(d.list) > 0 {
		t.Errorf("console check on a good trace: %v", d.list)
	}
	for name, bad := range map[string]string{
		"swapped": strings.Replace(good, "/vmlinuz\nread f /dev/sda1 /initrd.gz", "/initrd.gz\nread f /dev/sda1 /vmlinuz", 1),
		"missing": strings.Replace(good, "read f "+ext.Device+" /bin/hello\n", "", 1),
		"empty":   "SeaBIOS\n",
	} {
		var d diffs
		checkBootConsole(&d, bad, ext.Device)
		if len(d.list) == 0 {
			t.Errorf("console check: %s: saw nothing", name)
		}
	}
}
