package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/logger"
)

// The bmaplogger tests run the bmaplogger binary in captive mode with real
// NBD clients (nbdcopy, qemu-io, nbdsh) and check its trace against the
// virt-bmap binary's JSON map and against The Sleuth Kit (istat, fls,
// fsstat).

var (
	blOnce sync.Once
	blPath string
	blErr  error
)

func bmaplogger(t *testing.T) string {
	t.Helper()
	setup(t)
	testutil.NeedTools(t, "nbdcopy", "qemu-io", "fsstat")
	blOnce.Do(func() {
		blPath = filepath.Join(workDir, "bmaplogger")
		cmd := exec.Command("go", "build", "-o", blPath, "./cmd/bmaplogger")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			blErr = fmt.Errorf("go build ./cmd/bmaplogger: %v\n%s", err, out)
		}
	})
	if blErr != nil {
		t.Fatal(blErr)
	}
	return blPath
}

// runLogger runs bmaplogger with args and returns stdout, stderr and its
// exit status.
func runLogger(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bmaplogger(t), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if x, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), x.ExitCode()
	}
	if err != nil {
		t.Fatalf("bmaplogger %q: %v", args, err)
	}
	return o.String(), e.String(), 0
}

func readNDJSONTrace(t *testing.T, path string) (*logger.Header, []logger.JSONEvent) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []logger.JSONEvent
	h, err := logger.ReadNDJSON(f, func(ev *logger.JSONEvent) error {
		evs = append(evs, *ev)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h, evs
}

// objKey names an object of the map.
func objKey(kind byte, device, path string) string {
	return string(kind) + " " + device + " " + path
}

// oracleHit is what a read of [off, end) should report for one object of
// the map, computed by brute force over its extents.
type oracleHit struct {
	off, n, fileOff int64
}

// bruteForce returns, for every object of m on disk 1 with an extent
// overlapping [off, end): the first byte of the read inside it, the bytes
// of the read inside it (overlapping extents counted once) and the offset
// in the file of that first byte.
func bruteForce(m *jsonMap, off, end int64) map[string]oracleHit {
	res := map[string]oracleHit{}
	for _, o := range m.Objects {
		if o.Disk != 1 {
			continue
		}
		var spans [][2]int64
		first, fo := int64(-1), int64(-1)
		for _, e := range o.Extents {
			a, b := max(e.Off, off), min(e.Off+e.Len, end)
			if a >= b {
				continue
			}
			spans = append(spans, [2]int64{a, b})
			if first < 0 || a < first {
				first = a
				fo = -1
				if e.FileOff >= 0 {
					fo = e.FileOff + a - e.Off
				}
			}
		}
		if len(spans) == 0 {
			continue
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
		n, cur := int64(0), int64(-1)
		for _, s := range spans {
			s[0] = max(s[0], cur)
			if s[1] > s[0] {
				n += s[1] - s[0]
				cur = s[1]
			}
		}
		res[objKey(byte(o.Kind), o.Device, o.Path)] = oracleHit{first, n, fo}
	}
	return res
}

// TestBmaploggerCopy copies each image through bmaplogger with nbdcopy,
// compares the copy with the image, and checks every traced request's
// objects against a brute-force search of the virt-bmap binary's JSON map.
func TestBmaploggerCopy(t *testing.T) {
	bmaplogger(t)
	for _, name := range []string{"sample.img", "fat.img", "ntfs.img"} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(imagesDir, name)
			switch name {
			case "fat.img":
				img = fatImage(t)
			case "ntfs.img":
				img = ntfsImage(t)
			}
			dir := t.TempDir()
			trace := filepath.Join(dir, "t.ndjson")
			cp := filepath.Join(dir, "copy.img")
			stdout, stderr, st := runLogger(t, "-q", "--json", trace, img, "--run", `nbdcopy "$uri" `+cp)
			if st != 0 || stdout != "" {
				t.Fatalf("status %d, stdout %q, stderr %s", st, stdout, stderr)
			}
			if _, err := runTool("cmp", img, cp); err != nil {
				t.Fatalf("the copy differs from the image: %v", err)
			}
			m := runMap(t, img)
			h, evs := readNDJSONTrace(t, trace)
			if len(h.Exports) != 1 || h.Exports[0].Name != name || h.Exports[0].Size != m.Disks[0].Size {
				t.Errorf("header exports %+v, want %s of %d bytes", h.Exports, name, m.Disks[0].Size)
			}
			var d diffs
			files := map[string]bool{}
			for i, ev := range evs {
				want := bruteForce(m, ev.Off, ev.Off+int64(ev.Len))
				got := map[string]oracleHit{}
				for j, o := range ev.Objects {
					if j > 0 && o.Type.Priority() > ev.Objects[j-1].Type.Priority() {
						d.add("event %d: objects not in priority order: %s after %s", i, o.Type, ev.Objects[j-1].Type)
					}
					got[objKey(byte(o.Type), o.Device, o.Name())] = oracleHit{o.Off, o.Len, o.FileOff}
					if o.Type == 'f' {
						files[o.Name()] = true
					}
				}
				for k, w := range want {
					if g, ok := got[k]; !ok {
						d.add("read %#x+%#x: %s missing", ev.Off, ev.Len, k)
					} else if g != w {
						d.add("read %#x+%#x: %s at %#x+%#x file offset %d, the map says %#x+%#x file offset %d", ev.Off, ev.Len, k, g.off, g.n, g.fileOff, w.off, w.n, w.fileOff)
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						d.add("read %#x+%#x: %s is not there in the map", ev.Off, ev.Len, k)
					}
				}
			}
			d.report(t, name+" trace vs virt-bmap's map")
			if len(files) < 10 {
				t.Errorf("the copy's trace names %d files", len(files))
			}
			t.Logf("%d requests, %d files traced", len(evs), len(files))
		})
	}
}

// tskRead is one read chosen from The Sleuth Kit's view of a file.
type tskRead struct {
	off, n  int64
	fileOff int64
	inode   uint64
	names   []string // every name fls gives the inode, as fls prints them
}

var (
	reFsType = regexp.MustCompile(`(?m)^File System Type: (\S+)`)
)

// tskReads picks up to perFS files on every filesystem of img and, from
// istat's list of their data units (ext blocks, FAT sectors, NTFS
// clusters of the unnamed $DATA), makes two reads per file: its first run
// of contiguous units (at most 64 KiB) and its last unit.
func tskReads(t *testing.T, img string, perFS int) []tskRead {
	t.Helper()
	parts, ss, err := sfdiskParts(img)
	if err != nil {
		t.Fatal(err)
	}
	var reads []tskRead
	for _, p := range parts {
		if p.Extended() {
			continue
		}
		sector := p.Start * ss / 512
		out, err := runTool("fsstat", "-o", strconv.FormatInt(sector, 10), img)
		if err != nil {
			continue // no filesystem TSK knows
		}
		// The unit istat lists: ext blocks, FAT sectors, NTFS clusters.
		m := reFsType.FindSubmatch(out)
		if m == nil {
			t.Fatalf("fsstat %s at sector %d: no type", img, sector)
		}
		fsType := strings.ToLower(string(m[1]))
		field := "Block Size"
		switch {
		case strings.HasPrefix(fsType, "fat"):
			field = "Sector Size"
		case fsType == "ntfs":
			field = "Cluster Size"
		}
		u := regexp.MustCompile(`(?m)^` + field + `: (\d+)`).FindSubmatch(out)
		if u == nil {
			t.Fatalf("fsstat %s at sector %d (%s): no %s", img, sector, fsType, field)
		}
		unit, _ := strconv.ParseInt(string(u[1]), 10, 64)
		list := fls
		if fsType == "ntfs" {
			list = flsNTFS
		}
		ents, err := list(img, sector)
		if err != nil {
			t.Fatal(err)
		}
		names := map[uint64][]string{}
		var cands []flsEntry
		for _, e := range ents {
			if !strings.HasPrefix(e.Type, "r/") {
				continue
			}
			names[e.Inode] = append(names[e.Inode], e.Path)
			if strings.ContainsAny(e.Path, ":$") || strings.Contains(e.Path, "sparse") {
				continue
			}
			cands = append(cands, e)
		}
		slices.SortFunc(cands, func(a, b flsEntry) int { return strings.Compare(a.Path, b.Path) })
		picked := 0
		for i := 0; i < len(cands) && picked < perFS; i += max(1, len(cands)/(2*perFS)) {
			e := cands[i]
			out, err := runTool("istat", "-o", strconv.FormatInt(sector, 10), img, strconv.FormatUint(e.Inode, 10))
			if err != nil {
				t.Fatal(err)
			}
			var units []uint64
			switch {
			case strings.HasPrefix(fsType, "ext"):
				units = parseIstat(out).Direct
			case strings.HasPrefix(fsType, "fat"):
				for _, s := range parseIstatSectors(out) {
					units = append(units, uint64(s))
				}
			case fsType == "ntfs":
				for _, a := range parseIstatNTFS(out, true) {
					if a.TypeID == 128 && a.Name == "" && !a.Resident && !a.Compressed && !slices.Contains(a.Clusters, 0) {
						units = a.Clusters
					}
				}
			}
			if len(units) == 0 {
				continue // resident, inline or empty: no data unit of its own
			}
			partOff := p.Start * ss
			n := 1
			for n < len(units) && units[n] == units[n-1]+1 && int64(n+1)*unit <= 64<<10 {
				n++
			}
			r := tskRead{off: partOff + int64(units[0])*unit, n: int64(n) * unit, fileOff: 0, inode: e.Inode, names: names[e.Inode]}
			reads = append(reads, r)
			if last := len(units) - 1; last >= n {
				r.off, r.n, r.fileOff = partOff+int64(units[last])*unit, unit, int64(last)*unit
				reads = append(reads, r)
			}
			picked++
		}
		if picked == 0 {
			t.Fatalf("%s: no file with data units on %s (%s)", img, p.Device, fsType)
		}
	}
	return reads
}

func qemuIOReads(reads []tskRead) string {
	var b strings.Builder
	b.WriteString("qemu-io -r -f raw")
	for _, r := range reads {
		fmt.Fprintf(&b, " -c 'read %d %d'", r.off, r.n)
	}
	b.WriteString(` "$uri" >/dev/null`)
	return b.String()
}

// TestBmaploggerTSK reads exactly the data units The Sleuth Kit's istat
// gives for chosen files, through bmaplogger with qemu-io, and checks that
// each read's trace names that file (every name fls gives its inode, and
// no other file, directory or metadata), at the right offset inside it,
// and that the console prints it.
func TestBmaploggerTSK(t *testing.T) {
	bmaplogger(t)
	for _, name := range []string{"sample.img", "fat.img", "ntfs.img"} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(imagesDir, name)
			switch name {
			case "fat.img":
				img = fatImage(t)
			case "ntfs.img":
				img = ntfsImage(t)
			}
			reads := tskReads(t, img, 12)
			dir := t.TempDir()
			trace := filepath.Join(dir, "t.ndjson")
			stdout, stderr, st := runLogger(t, "--json", trace, img, "--run", qemuIOReads(reads))
			if st != 0 {
				t.Fatalf("status %d, stderr %s", st, stderr)
			}
			_, evs := readNDJSONTrace(t, trace)
			byRange := map[[2]int64]logger.JSONEvent{}
			for _, ev := range evs {
				byRange[[2]int64{ev.Off, int64(ev.Len)}] = ev
			}
			var d diffs
			for _, r := range reads {
				ev, ok := byRange[[2]int64{r.off, r.n}]
				if !ok {
					d.add("read %#x+%d (inode %d %q) not in the trace", r.off, r.n, r.inode, r.names)
					continue
				}
				var got []string
				for _, o := range ev.Objects {
					switch o.Type {
					case 'f', 'd', 'm':
						got = append(got, string(o.Type)+" "+tskName(o.Name()))
						if o.Type == 'f' && o.FileOff != r.fileOff {
							d.add("read %#x+%d: %s at file offset %d, istat says %d", r.off, r.n, o.Name(), o.FileOff, r.fileOff)
						}
					}
				}
				var want []string
				for _, n := range r.names {
					want = append(want, "f "+n)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					d.add("read %#x+%d (inode %d): trace has %q, istat/fls say %q", r.off, r.n, r.inode, got, want)
				}
				if len(ev.Objects) > 0 && !strings.Contains(stdout, "read f "+ev.Objects[0].Device+" "+ev.Objects[0].Name()+"\n") {
					d.add("console has no line for %s", ev.Objects[0].Name())
				}
			}
			d.report(t, name+": trace vs istat")
			t.Logf("%d reads checked against istat", len(reads))
		})
	}
}

// TestBmaploggerFormats: the same reads of the sample image served raw,
// xz-compressed and as qcow2 give the same trace.
func TestBmaploggerFormats(t *testing.T) {
	bmaplogger(t)
	testutil.NeedTools(t, "xz", "qemu-img")
	raw := filepath.Join(imagesDir, "sample.img")
	reads := tskReads(t, raw, 10)
	dir := t.TempDir()
	srcs := map[string]string{"raw": raw}
	for _, f := range forms {
		if f.name == "xz-1MiB-blocks" || f.name == "qcow2" {
			p, err := f.make(raw, dir)
			if err != nil {
				t.Fatal(err)
			}
			srcs[f.name] = p
		}
	}
	traces := map[string]string{}
	consoles := map[string]string{}
	for name, src := range srcs {
		trace := filepath.Join(dir, name+".ndjson")
		stdout, stderr, st := runLogger(t, "--ranges", "--json", trace, src, "--run", qemuIOReads(reads))
		if st != 0 {
			t.Fatalf("%s: status %d: %s", name, st, stderr)
		}
		h, evs := readNDJSONTrace(t, trace)
		var b strings.Builder
		fmt.Fprintf(&b, "size %d\n", h.Exports[0].Size)
		for _, ev := range evs {
			fmt.Fprintf(&b, "%d+%d disk %d error %q:", ev.Off, ev.Len, ev.Disk, ev.Error)
			for _, o := range ev.Objects {
				fmt.Fprintf(&b, " %s %s %q %d+%d@%d;", o.Type, o.Device, o.Name(), o.Off, o.Len, o.FileOff)
			}
			b.WriteByte('\n')
		}
		traces[name] = b.String()
		consoles[name] = stdout
	}
	if strings.Count(traces["raw"], "\n") < len(reads) {
		t.Fatalf("raw trace has fewer events than the %d reads:\n%s", len(reads), traces["raw"])
	}
	for name := range srcs {
		if traces[name] != traces["raw"] {
			t.Errorf("%s trace differs from raw:\n%s\n--- raw:\n%s", name, traces[name], traces["raw"])
		}
		if consoles[name] != consoles["raw"] {
			t.Errorf("%s console differs from raw:\n%s\n--- raw:\n%s", name, consoles[name], consoles["raw"])
		}
	}
}

// TestBmaploggerReadOnly: writes are refused, the image is untouched.
func TestBmaploggerReadOnly(t *testing.T) {
	bmaplogger(t)
	img := filepath.Join(t.TempDir(), "sample.img")
	data, err := os.ReadFile(filepath.Join(imagesDir, "sample.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, img)
	_, stderr, st := runLogger(t, "-q", img, "--run", `qemu-io -f raw -c 'write -P 0xaa 0 512' "$uri"`)
	if st == 0 || !strings.Contains(stderr, "Permission denied") && !strings.Contains(stderr, "read-only") {
		t.Errorf("qemu-io write: status %d, stderr %q; want a permission error", st, stderr)
	}
	// nbdsh can send the write: the server answers EPERM.
	stdout, stderr, st := runLogger(t, "-q", img, "--run",
		nbdsh(t)+` -u "$uri" -c 'print(h.is_read_only())' -c 'try:
    h.pwrite(b"x" * 512, 0)
    print("written")
except nbd.Error as e:
    print("errno", e.errno)'`)
	if st != 0 || stdout != "True\nerrno EPERM\n" {
		t.Errorf("nbdsh pwrite: status %d, stdout %q, stderr %q; want read-only and EPERM", st, stdout, stderr)
	}
	if after := stateOf(t, img); after != before {
		t.Errorf("image changed: %+v -> %+v", before, after)
	}
}

// TestBmaploggerCaptive: exit status passthrough, --no-trace, the
// original's file= bmap= logfile= form with virt-bmap's text map, nbdinfo.
func TestBmaploggerCaptive(t *testing.T) {
	bmaplogger(t)
	testutil.NeedTools(t, "nbdinfo")
	img := filepath.Join(imagesDir, "sample.img")
	dir := t.TempDir()
	if _, _, st := runLogger(t, "-q", img, "--run", "exit 7"); st != 7 {
		t.Errorf("--run 'exit 7': status %d", st)
	}
	stdout, stderr, st := runLogger(t, "--no-trace", img, "--run", `nbdinfo --size "$uri"`)
	if st != 0 || stdout != strconv.FormatInt(int64(len(mustRead(t, img))), 10)+"\n" || strings.Contains(stderr, "mapped") {
		t.Errorf("--no-trace: status %d, stdout %q, stderr %q: want only nbdinfo's size", st, stdout, stderr)
	}
	stdout, _, st = runLogger(t, "-q", img, filepath.Join(imagesDir, "fat.img"), "-e", "boot", "--run", `nbdinfo --list --json "$uri"`)
	if st != 0 || !strings.Contains(stdout, `"export-name": "boot"`) || !strings.Contains(stdout, `"export-name": "fat.img"`) {
		t.Errorf("two images: status %d, nbdinfo --list:\n%s", st, stdout)
	}

	// The original's form with virt-bmap's text map gives the lines of
	// the map built at start-up.
	textMap := filepath.Join(dir, "bmap")
	if _, stderr, code := runBin(t, "-q", "-o", textMap, img); code != 0 {
		t.Fatalf("virt-bmap: %s", stderr)
	}
	if _, err := bmap.Read(bytes.NewReader(mustRead(t, textMap))); err != nil {
		t.Fatal(err)
	}
	run := qemuIOReads(tskReads(t, img, 8))
	logPath := filepath.Join(dir, "boot.log")
	stdout, stderr, st = runLogger(t, "file="+img, "bmap="+textMap, "logfile="+logPath, "--run", run)
	if st != 0 || stdout != "" {
		t.Fatalf("file= bmap= logfile=: status %d, stdout %q, stderr %s", st, stdout, stderr)
	}
	viaText := string(mustRead(t, logPath))
	stdout, _, st = runLogger(t, "-q", "--log", logPath, img, "--run", run)
	if st != 0 || stdout != "" {
		t.Fatalf("--log: status %d, stdout %q", st, stdout)
	}
	if inMemory := string(mustRead(t, logPath)); inMemory != viaText || strings.Count(viaText, "\n") < 8 {
		t.Errorf("console with the text map:\n%s\n--- with the map built at start-up:\n%s", viaText, inMemory)
	}
}

// nbdsh returns a command that runs nbdsh: nbdsh itself, or Debian's
// python3 -m nbd when the python3 first in PATH (a pyenv one, say) lacks
// the nbd module.
func nbdsh(t *testing.T) string {
	t.Helper()
	if exec.Command("nbdsh", "-c", "pass").Run() == nil {
		return "nbdsh"
	}
	if exec.Command("/usr/bin/python3", "-m", "nbd", "-c", "pass").Run() == nil {
		return "/usr/bin/python3 -m nbd"
	}
	t.Skip("nbdsh does not run (no python3 nbd module)")
	return ""
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
