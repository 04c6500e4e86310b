package integration

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/logger"
	"github.com/virt-bmap/virt-bmap/reports"
)

// The reports tests run bmaplogger in captive mode on sample.img with
// --json and --report, and check the JSON report against the NDJSON trace
// (totals recomputed here, sector by sector), against The Sleuth Kit
// (istat's sizes and data blocks give each file's expected share, sfdisk's
// partitions the places nothing is mapped), and against
// "bmaplogger report" run on the trace afterwards (the same bytes).

// tskFile is a regular file of sample.img as fls and istat see it.
type tskFile struct {
	device string   // /dev/sdaN
	names  []string // every path fls gives its inode, absolute
	size   int64    // istat "size:"
	blocks []uint64 // istat's direct blocks (data), in file order
	bs     int64    // block size (fsstat)
	off    int64    // the partition's byte offset
}

var (
	reIstatSize  = regexp.MustCompile(`(?m)^size: (\d+)$`)
	reBlockSize  = regexp.MustCompile(`(?m)^Block Size: (\d+)`)
	reportsImage = "sample.img"
)

// sampleFiles lists the regular files with data of every ext filesystem
// of img, by fls, istat and fsstat, sorted by first name.
func sampleFiles(t *testing.T, img string) ([]tskFile, []sfPart, int64) {
	t.Helper()
	parts, ss, err := sfdiskParts(img)
	if err != nil {
		t.Fatal(err)
	}
	var files []tskFile
	for _, p := range parts {
		if p.Extended() {
			continue
		}
		sector := p.Start * ss / 512
		so := strconv.FormatInt(sector, 10)
		out, err := runTool("fsstat", "-o", so, img)
		if err != nil {
			continue
		}
		m := reBlockSize.FindSubmatch(out)
		if m == nil {
			t.Fatalf("fsstat %s -o %s: no block size", img, so)
		}
		bs, _ := strconv.ParseInt(string(m[1]), 10, 64)
		ents, err := fls(img, sector)
		if err != nil {
			t.Fatal(err)
		}
		byInode := map[uint64]*tskFile{}
		var order []uint64
		for _, e := range ents {
			if e.Type != "r/r" {
				continue
			}
			if f := byInode[e.Inode]; f != nil {
				f.names = append(f.names, "/"+e.Path)
				continue
			}
			out, err := runTool("istat", "-o", so, img, strconv.FormatUint(e.Inode, 10))
			if err != nil {
				t.Fatal(err)
			}
			sm := reIstatSize.FindSubmatch(out)
			if sm == nil {
				t.Fatalf("istat %s inode %d: no size", p.Device, e.Inode)
			}
			size, _ := strconv.ParseInt(string(sm[1]), 10, 64)
			blocks := parseIstat(out).Direct
			if size == 0 || len(blocks) == 0 || slices.Contains(blocks, 0) || int64(len(blocks))*bs < size {
				continue // empty, inline, sparse: no whole data to read
			}
			byInode[e.Inode] = &tskFile{device: p.Device, names: []string{"/" + e.Path}, size: size, blocks: blocks, bs: bs, off: p.Start * ss}
			order = append(order, e.Inode)
		}
		for _, ino := range order {
			files = append(files, *byInode[ino])
		}
	}
	if len(files) < 6 {
		t.Fatalf("%s: %d files with data, want at least 6", img, len(files))
	}
	return files, parts, ss
}

// runs are the file's blocks as contiguous disk runs (off, len).
func (f *tskFile) runs(n int) [][2]int64 {
	var rs [][2]int64
	for i, b := range f.blocks[:n] {
		off := f.off + int64(b)*f.bs
		if i > 0 && b == f.blocks[i-1]+1 {
			rs[len(rs)-1][1] += f.bs
			continue
		}
		rs = append(rs, [2]int64{off, f.bs})
	}
	return rs
}

// reportOf reads a JSON report.
func reportOf(t *testing.T, path string) *reports.Summary {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := reports.ReadJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// checkAgainstTrace recomputes the totals, the per-object counts and the
// unmapped sectors from the NDJSON trace and compares them with the
// report; unmapped sectors must also lie outside every partition sfdisk
// lists and outside the MBR.
func checkAgainstTrace(t *testing.T, d *diffs, s *reports.Summary, h *logger.Header, evs []logger.JSONEvent, parts []sfPart, ss int64) {
	t.Helper()
	var tot reports.Totals
	conns := map[uint64]bool{}
	disk, unmapped := map[int64]bool{}, map[int64]bool{}
	type counts struct{ reads, bytes, first int64 }
	objs := map[string]*counts{}
	for _, ev := range evs {
		tot.Requests++
		tot.Bytes += int64(ev.Len)
		conns[ev.Conn] = true
		if ev.Cache {
			tot.CacheRequests++
		}
		if ev.Error != "" {
			tot.Errors++
		}
		covered := map[int64]bool{}
		for _, o := range ev.Objects {
			k := objKey(byte(o.Type), o.Device, o.Name())
			c := objs[k]
			if c == nil {
				c = &counts{first: ev.T}
				objs[k] = c
			}
			c.reads++
			c.bytes += o.Len
			if o.Type != 'v' {
				for x := o.Off / 512; x*512 < o.Off+o.Len; x++ {
					covered[x] = true
				}
			}
		}
		var unm int64
		for x := ev.Off / 512; x*512 < ev.Off+int64(ev.Len); x++ {
			disk[x] = true
			if !covered[x] {
				unmapped[x] = true
				unm += 512
			}
		}
		tot.UnmappedBytes += unm
		tot.MappedBytes += int64(ev.Len) - unm
		switch {
		case len(covered) == 0:
			tot.UnmappedRequests++
		case unm == 0:
			tot.MappedRequests++
		case unm == int64(ev.Len):
			tot.UnmappedRequests++
		default:
			tot.PartlyMappedRequests++
		}
	}
	// The connections the server accepted (the trace's last line) count
	// those that read nothing too.
	tot.Connections = max(int64(len(conns)), int64(h.Connections))
	tot.DistinctBytes = int64(len(disk)) * 512
	tot.Objects = int64(len(objs))
	if s.Totals != tot {
		d.add("totals %+v, the trace gives %+v", s.Totals, tot)
	}
	for _, o := range s.Objects {
		c := objs[objKey(byte(o.Type), o.Device, o.Path)]
		if c == nil {
			d.add("%c %s %s: in the report, not in the trace", o.Type, o.Device, o.Path)
			continue
		}
		if o.Reads != c.reads || o.Bytes != c.bytes || int64(o.First) != c.first {
			d.add("%c %s %s: reads %d bytes %d first %d, the trace gives %d %d %d", o.Type, o.Device, o.Path, o.Reads, o.Bytes, o.First, c.reads, c.bytes, c.first)
		}
	}
	got := map[int64]bool{}
	for _, r := range s.Unmapped {
		for x := r.Off / 512; x*512 < r.Off+r.Len; x++ {
			got[x] = true
			if x == 0 {
				d.add("unmapped range %+v holds the MBR", r)
			}
			for _, p := range parts {
				if !p.Extended() && x*512 >= p.Start*ss && x*512 < (p.Start+p.Size)*ss {
					d.add("unmapped range %+v: sector %d is inside %s (sfdisk)", r, x, p.Device)
				}
			}
		}
	}
	if len(got) != len(unmapped) {
		d.add("unmapped: %d sectors in the report, %d in the trace", len(got), len(unmapped))
	}
	for x := range unmapped {
		if !got[x] {
			d.add("unmapped sector %d of the trace not in the report", x)
		}
	}
}

// checkReplay runs "bmaplogger report" on the trace and compares its
// reports with the live ones, byte for byte.
func checkReplay(t *testing.T, d *diffs, dir, trace string) {
	t.Helper()
	r2j, r2t := filepath.Join(dir, "r2.json"), filepath.Join(dir, "r2.txt")
	_, stderr, st := runLogger(t, "report", trace, "-o", r2j, "-o", r2t)
	if st != 0 {
		t.Fatalf("bmaplogger report: status %d: %s", st, stderr)
	}
	for _, p := range [][2]string{{"r.json", r2j}, {"r.txt", r2t}} {
		if a, b := mustRead(t, filepath.Join(dir, p[0])), mustRead(t, p[1]); !bytes.Equal(a, b) {
			d.add("bmaplogger report's %s differs from the live %s", filepath.Base(p[1]), p[0])
		}
	}
	// Without the map the counts stay; sizes and shares go.
	r3 := filepath.Join(dir, "r3.json")
	if _, stderr, st := runLogger(t, "report", "--no-map", trace, "-o", r3); st != 0 {
		t.Fatalf("bmaplogger report --no-map: status %d: %s", st, stderr)
	}
	live, nomap := reportOf(t, filepath.Join(dir, "r.json")), reportOf(t, r3)
	if live.Totals != nomap.Totals || len(live.Objects) != len(nomap.Objects) {
		d.add("--no-map: totals %+v (%d objects), live %+v (%d)", nomap.Totals, len(nomap.Objects), live.Totals, len(live.Objects))
	}
	for _, o := range nomap.Objects {
		if o.Size != 0 || o.Share != nil {
			d.add("--no-map: %s has size %d share %v", o.Path, o.Size, o.Share)
		}
	}
}

// TestReportsQemuIO reads three files whole and three only in their first
// block with qemu-io (istat's blocks), and checks the report: each file's
// size is istat's, its share 1 or one block's worth, the files in the
// order they were read; totals and unmapped reads as the trace gives them.
func TestReportsQemuIO(t *testing.T) {
	bmaplogger(t)
	img := filepath.Join(imagesDir, reportsImage)
	files, parts, ss := sampleFiles(t, img)
	// Every other file, so the reads are not in disk order; files of
	// more than one block for the partial reads.
	var whole, partial []tskFile
	for i, f := range files {
		switch {
		case i%2 == 0 && len(whole) < 3:
			whole = append(whole, f)
		case i%2 == 1 && len(partial) < 3 && len(f.blocks) > 1:
			partial = append(partial, f)
		}
	}
	if len(whole) < 3 || len(partial) < 3 {
		t.Fatalf("picked %d whole and %d partial files", len(whole), len(partial))
	}
	type want struct {
		f     tskFile
		share float64
		rank  int // in the order of our reads
	}
	var wants []want
	cmd := "qemu-io -r -f raw -c 'read 0 4096'" // the MBR and unmapped sectors after it
	for i := range 3 {
		for j, f := range []tskFile{partial[i], whole[i]} {
			n := len(f.blocks)
			share := 1.0
			if j == 0 {
				n = 1
				share = float64(min(f.bs, f.size)) / float64(f.size)
			}
			for _, r := range f.runs(n) {
				cmd += fmt.Sprintf(" -c 'read %d %d'", r[0], r[1])
			}
			wants = append(wants, want{f, share, len(wants)})
		}
	}
	cmd += ` "$uri" >/dev/null`

	dir := t.TempDir()
	trace := filepath.Join(dir, "t.ndjson")
	rj, rt, rh := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.txt"), filepath.Join(dir, "r.html")
	_, stderr, st := runLogger(t, "--json", trace, "--report", rj, "--report", rt, "--report", rh, img, "--run", cmd)
	if st != 0 {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	s := reportOf(t, rj)
	h, evs := readNDJSONTrace(t, trace)
	var d diffs
	checkAgainstTrace(t, &d, s, h, evs, parts, ss)
	if len(s.Unmapped) == 0 {
		d.add("the read of 0+4096 left no unmapped range (sectors 1-7 are before the first partition)")
	}

	byName := map[string]*reports.ObjectStats{}
	for i := range s.Objects {
		if o := &s.Objects[i]; o.Type == 'f' {
			byName[o.Device+" "+o.Path] = o
		}
	}
	lastOrder := 0
	for _, w := range wants {
		for _, name := range w.f.names {
			o := byName[w.f.device+" "+name]
			if o == nil {
				d.add("%s %s (read by qemu-io) not in the report", w.f.device, name)
				continue
			}
			if o.Size != w.f.size {
				d.add("%s: size %d, istat says %d", name, o.Size, w.f.size)
			}
			if o.Share == nil || math.Abs(*o.Share-w.share) > 1e-12 {
				d.add("%s: share %v, istat's blocks give %v", name, o.Share, w.share)
			}
			if o.DistinctBytes < min(w.f.size, int64(w.share*float64(w.f.size))) {
				d.add("%s: distinct bytes %d below what was read", name, o.DistinctBytes)
			}
			if name == w.f.names[0] {
				if o.Order <= lastOrder {
					d.add("%s: first-read order %d, not after %d", name, o.Order, lastOrder)
				}
				lastOrder = o.Order
			}
		}
	}
	// The text report: in the file, and on standard error after --run.
	txt := mustRead(t, rt)
	if !bytes.Contains([]byte(stderr), txt) || !bytes.HasPrefix(txt, []byte("Trace: ")) {
		d.add("standard error does not end with the text report r.txt:\n%s", tail(stderr, 10))
	}
	if h := mustRead(t, rh); !bytes.Contains(h, []byte("<html")) {
		d.add("r.html is not a page")
	}
	checkReplay(t, &d, dir, trace)
	d.report(t, "report vs trace and istat")
}

// TestReportsNbdcopy copies the whole image: every file with data blocks
// (istat) is read whole (share 1) and has istat's size; -q leaves the
// text report out of standard error.
func TestReportsNbdcopy(t *testing.T) {
	bmaplogger(t)
	testutil.NeedTools(t, "nbdcopy")
	img := filepath.Join(imagesDir, reportsImage)
	files, parts, ss := sampleFiles(t, img)
	dir := t.TempDir()
	trace, rj, rt := filepath.Join(dir, "t.ndjson"), filepath.Join(dir, "r.json"), filepath.Join(dir, "r.txt")
	_, stderr, st := runLogger(t, "-q", "--json", trace, "--report", rj, "--report", rt, img, "--run", `nbdcopy "$uri" null:`)
	if st != 0 {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	if strings.Contains(stderr, "Trace:") {
		t.Errorf("-q: the text report is on standard error:\n%s", stderr)
	}
	s := reportOf(t, rj)
	h, evs := readNDJSONTrace(t, trace)
	var d diffs
	checkAgainstTrace(t, &d, s, h, evs, parts, ss)
	byName := map[string]*reports.ObjectStats{}
	for i := range s.Objects {
		if o := &s.Objects[i]; o.Type == 'f' {
			byName[o.Device+" "+o.Path] = o
		}
	}
	n := 0
	for _, f := range files {
		for _, name := range f.names {
			o := byName[f.device+" "+name]
			switch {
			case o == nil:
				d.add("%s %s not in the report", f.device, name)
			case o.Size != f.size || o.Share == nil || *o.Share != 1:
				d.add("%s %s: size %d share %v, istat: size %d, read whole", f.device, name, o.Size, o.Share, f.size)
			default:
				n++
			}
		}
	}
	checkReplay(t, &d, dir, trace)
	d.report(t, "nbdcopy report vs istat")
	t.Logf("%d files read whole, %d requests", n, len(evs))
}
