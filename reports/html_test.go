package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// htmlRedactions replace an HTML report's time values (the trace's start,
// its length, first and last reads, the read regions' first times and the
// timeline, which depends on times only) for the golden file: a fixture
// traced again differs only there.
var htmlRedactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(started|lasted) <span class="time">[^<]*</span>`), `$1 <span class="time">TIME</span>`},
	{regexp.MustCompile(`"start":"[^"]*"`), `"start":"TIME"`},
	{regexp.MustCompile(`"duration_ns":\d+`), `"duration_ns":0`},
	{regexp.MustCompile(`"(f|l)":\d+`), `"$1":0`},
	{regexp.MustCompile(`"read_first":\[[\d,]*\]`), `"read_first":[]`},
	{regexp.MustCompile(`"timeline":\{"bucket_ns":\d+,"bars":\[[\d,\[\]]*\]\}`), `"timeline":{}`},
}

func redactHTML(b []byte) []byte {
	for _, r := range htmlRedactions {
		b = r.re.ReplaceAll(b, []byte(r.repl))
	}
	return b
}

// TestHTMLGolden renders the fixture trace (testdata/sample.ndjson against
// its map) as HTML; times redacted.
func TestHTMLGolden(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	s := summarise(h, evs, readMap(t, "testdata/sample.bmap.json"))
	var b bytes.Buffer
	if err := WriteHTML(&b, s); err != nil {
		t.Fatal(err)
	}
	got := redactHTML(b.Bytes())
	// Each redaction must have found its value: a renamed field would
	// otherwise leave a time in the golden file unnoticed.
	for _, r := range htmlRedactions {
		if !r.re.Match(b.Bytes()) {
			t.Errorf("redaction %s matches nothing in the page", r.re)
		}
	}
	golden(t, "sample.html.golden", got)
}

// htmlBlob is the page's JSON blob, decoded.
var reBlob = regexp.MustCompile(`(?s)<script type="application/json" id="data">(.*?)</script>`)

func htmlBlob(t testing.TB, page []byte) *htmlData {
	t.Helper()
	m := reBlob.FindSubmatch(page)
	if m == nil {
		t.Fatal("no <script type=\"application/json\" id=\"data\"> in the page")
	}
	d := new(htmlData)
	if err := json.Unmarshal(m[1], d); err != nil {
		t.Fatalf("the page's JSON blob: %v", err)
	}
	return d
}

// htmlCases are the summaries the structure and browser tests render.
type htmlCase struct {
	name string
	s    func(t testing.TB) *Summary
}

var htmlCases = []htmlCase{
	{"sample", func(t testing.TB) *Summary {
		h, evs := readTrace(t, "testdata/sample.ndjson")
		return summarise(h, evs, readMap(t, "testdata/sample.bmap.json"))
	}},
	{"sample-nomap", func(t testing.TB) *Summary {
		h, evs := readTrace(t, "testdata/sample.ndjson")
		return summarise(h, evs, nil)
	}},
	{"empty", func(t testing.TB) *Summary {
		return NewAggregator(nil, Options{}).Summary()
	}},
	{"hostile", hostileSummary},
	{"two-disks", twoDisksSummary},
	{"many-parts", manyPartsSummary},
	{"100k", func(t testing.TB) *Summary { return bigSummary(t) }},
}

// hostileSummary has names made to break out of the page: script end
// tags, comment openers, quotes, line separators, invalid UTF-8.
func hostileSummary(t testing.TB) *Summary {
	names := []string{
		"/</script><script>document.body.setAttribute('data-pwned','1')</script>",
		"/<!--<script>", `/"quoted" & 'single'`, "/line\u2028sep\u2029", "/bad\xffutf8", "/<img src=x onerror=alert(1)>",
	}
	m := &bmap.Map{Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: 1 << 20}}}
	m.Objects = append(m.Objects,
		bmap.Object{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda", Extents: []bmap.Extent{{Off: 0, Len: 1 << 20, FileOff: -1}}},
		bmap.Object{Disk: 1, Kind: bmap.KindPartition, Device: "/dev/sda1", Extents: []bmap.Extent{{Off: 4096, Len: 1<<20 - 4096, FileOff: -1}}})
	for i, n := range names {
		m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: n, Inode: uint64(12 + i), Size: 4096,
			Extents: []bmap.Extent{{Off: int64(8192 + 8192*i), Len: 4096, FileOff: 0}}})
	}
	a := NewAggregator(m, Options{Exports: []logger.ExportEntry{{Name: "<b>disk</b>.img", Disk: 1, Device: "/dev/sda", Size: 1 << 20}}})
	for i, n := range names {
		off := int64(8192 + 8192*i)
		a.AddJSON(&logger.JSONEvent{T: int64(i) * 1e6, Conn: 1, Export: "<b>disk</b>.img", Disk: 1, Off: off, Len: 4096, Objects: []logger.JSONObject{
			{Type: bmap.KindFile, Device: "/dev/sda1", Path: n, Inode: uint64(12 + i), Off: off, Len: 4096, FileOff: 0},
			{Type: bmap.KindPartition, Device: "/dev/sda1", Off: off, Len: 4096, FileOff: -1},
			{Type: bmap.KindDisk, Device: "/dev/sda", Off: off, Len: 4096, FileOff: -1},
		}})
	}
	return a.Summary()
}

// twoDisksSummary is the fixture trace read from two disks (the second
// as /dev/sdb), without a map.
func twoDisksSummary(t testing.TB) *Summary {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	exports := append(slices.Clone(h.Exports), logger.ExportEntry{Name: "second.img", Disk: 2, Device: "/dev/sdb", Size: h.Exports[0].Size})
	a := NewAggregator(nil, Options{Start: h.Start, Exports: exports})
	for i := range evs {
		a.AddJSON(&evs[i])
	}
	for i := range evs {
		ev := evs[i]
		ev.Disk, ev.Export, ev.T = 2, "second.img", ev.T+1e6
		ev.Objects = slices.Clone(ev.Objects)
		for j := range ev.Objects {
			ev.Objects[j].Device = strings.Replace(ev.Objects[j].Device, "/dev/sda", "/dev/sdb", 1)
		}
		a.AddJSON(&ev)
	}
	return a.Summary()
}

// manyPartsSummary has more partitions than the map draws, each read.
func manyPartsSummary(t testing.TB) *Summary {
	const n, psize = MaxHTMLParts + 100, 1 << 20
	size := int64(n+1) * psize
	m := &bmap.Map{Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: size}}}
	m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda", Extents: []bmap.Extent{{Off: 0, Len: size, FileOff: -1}}})
	for i := range n {
		m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindPartition, Device: fmt.Sprintf("/dev/sda%d", i+1),
			Extents: []bmap.Extent{{Off: int64(i+1) * psize, Len: psize, FileOff: -1}}})
	}
	a := NewAggregator(m, Options{Exports: []logger.ExportEntry{{Name: "parts.img", Disk: 1, Device: "/dev/sda", Size: size}}})
	for i := range n {
		off := int64(i+1)*psize + 4096
		a.AddJSON(&logger.JSONEvent{T: int64(i) * 1e5, Conn: 1, Export: "parts.img", Disk: 1, Off: off, Len: 4096, Objects: []logger.JSONObject{
			{Type: bmap.KindPartition, Device: fmt.Sprintf("/dev/sda%d", i+1), Off: off, Len: 4096, FileOff: -1},
			{Type: bmap.KindDisk, Device: "/dev/sda", Off: off, Len: 4096, FileOff: -1},
		}})
	}
	return a.Summary()
}

// bigSummary aggregates 100,000 synthetic requests against a map of
// 20,000 files in two partitions (each file in two extents), in a random
// order: more objects, extents and read regions than the page embeds.
var bigOnce struct {
	sync.Once
	s *Summary
}

const (
	bigEvents = 100_000
	bigFiles  = 20_000
)

func bigSummary(t testing.TB) *Summary {
	bigOnce.Do(func() {
		const size = 4 << 30
		parts := []struct {
			dev      string
			off, len int64
		}{{"/dev/vda1", 1 << 20, 1 << 30}, {"/dev/vda2", 1<<30 + 1<<20, 3<<30 - 2<<20}}
		m := &bmap.Map{Disks: []bmap.Disk{{Index: 1, Device: "/dev/vda", Size: size}}}
		m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/vda", Extents: []bmap.Extent{{Off: 0, Len: size, FileOff: -1}}})
		for _, p := range parts {
			m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindPartition, Device: p.dev, Extents: []bmap.Extent{{Off: p.off, Len: p.len, FileOff: -1}}})
		}
		type file struct {
			dev  string
			path string
			ext  [2]int64 // the disk offsets of its two 64 KiB halves
		}
		files := make([]file, bigFiles)
		for i := range files {
			p := parts[i%2]
			slot := int64(i / 2)
			f := file{dev: p.dev, path: fmt.Sprintf("/usr/lib/pkg%03d/file%05d.so", i%997, i)}
			f.ext[0] = p.off + 1<<20 + slot*256<<10
			f.ext[1] = f.ext[0] + 128<<10 // a 64 KiB gap: fragmented
			files[i] = f
			m.Objects = append(m.Objects, bmap.Object{Disk: 1, Kind: bmap.KindFile, Device: f.dev, Path: f.path, Inode: uint64(100 + i), Size: 128 << 10,
				Extents: []bmap.Extent{{Off: f.ext[0], Len: 64 << 10, FileOff: 0}, {Off: f.ext[1], Len: 64 << 10, FileOff: 64 << 10}}})
		}
		a := NewAggregator(m, Options{Start: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
			Exports: []logger.ExportEntry{{Name: "big.img", Disk: 1, Device: "/dev/vda", Size: size}}})
		rng := rand.New(rand.NewPCG(1, 2))
		ev := logger.JSONEvent{Conn: 1, Export: "big.img", Disk: 1, Len: 4096, Objects: make([]logger.JSONObject, 3)}
		for k := range bigEvents {
			f := &files[rng.IntN(bigFiles)]
			half := rng.IntN(2)
			in := rng.Int64N(16) * 4096
			ev.T = int64(k) * 50_000 // 5 s in all
			ev.Dur = 8000
			ev.Off = f.ext[half] + in
			ev.Objects[0] = logger.JSONObject{Type: bmap.KindFile, Device: f.dev, Path: f.path, Off: ev.Off, Len: 4096, FileOff: int64(half)*64<<10 + in}
			ev.Objects[1] = logger.JSONObject{Type: bmap.KindPartition, Device: f.dev, Off: ev.Off, Len: 4096, FileOff: -1}
			ev.Objects[2] = logger.JSONObject{Type: bmap.KindDisk, Device: "/dev/vda", Off: ev.Off, Len: 4096, FileOff: -1}
			a.AddJSON(&ev)
		}
		bigOnce.s = a.Summary()
	})
	return bigOnce.s
}

// TestHTMLStructure renders each case and checks the page against its
// Summary: the blob holds what the Summary says (within the caps, which
// the page admits to), the partitions are coloured, the timeline adds up,
// nothing is fetched, and no name breaks out of its element.
func TestHTMLStructure(t *testing.T) {
	for _, tc := range htmlCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			var b bytes.Buffer
			if err := WriteHTML(&b, s); err != nil {
				t.Fatal(err)
			}
			page := b.Bytes()
			t.Logf("%s: %d objects, %d requests: page of %d bytes", tc.name, len(s.Objects), s.Totals.Requests, len(page))
			checkHTMLPage(t, s, page)
			checkHTMLData(t, s, htmlBlob(t, page))
		})
	}
}

// reExternal finds anything that would make a browser fetch: an src or
// href attribute, a CSS url() or @import, fetch, XMLHttpRequest, imports.
var reExternal = regexp.MustCompile(`(?i)\s(src|href|srcset|action)\s*=|url\(|@import|\bfetch\(|XMLHttpRequest|\bimport\(|<link|<iframe|<object|<embed`)

func checkHTMLPage(t *testing.T, s *Summary, page []byte) {
	t.Helper()
	p := string(page)
	if !strings.HasPrefix(p, "<!DOCTYPE html>") {
		t.Errorf("the page does not start with <!DOCTYPE html>")
	}
	// Self-contained: the only URL is the SVG namespace the script names.
	// (Names in the JSON blob are data: checked for raw "<" only.)
	blob := reBlob.FindStringSubmatch(p)
	if blob == nil {
		t.Fatal("no JSON blob")
	}
	if strings.ContainsAny(blob[1], "<>") {
		t.Errorf("the JSON blob has a raw < or >")
	}
	p = strings.Replace(p, blob[1], "", 1)
	if loc := reExternal.FindStringIndex(p); loc != nil {
		t.Errorf("the page would fetch something: %q", p[max(0, loc[0]-40):min(len(p), loc[1]+40)])
	}
	if n := strings.Count(p, "http"); n != strings.Count(p, `"http://www.w3.org/2000/svg"`) {
		t.Errorf("the page names %d URLs, only the SVG namespace is expected", n)
	}
	// Three scripts (error counter, data, drawing), each closed once: no
	// name can end one early or open another.
	if o, c := strings.Count(p, "<script"), strings.Count(p, "</script>"); o != 3 || c != 3 {
		t.Errorf("%d <script and %d </script>, want 3 each", o, c)
	}
	if strings.Count(p, "<!--") != 0 {
		t.Errorf("the page has an HTML comment opener (a name not escaped?)")
	}
	for _, id := range []string{`id="map"`, `id="timeline"`, `id="t-objects"`, `id="t-parts"`, `id="t-unmapped"`, `id="totals"`} {
		if !strings.Contains(p, id) {
			t.Errorf("the page has no element %s", id)
		}
	}
	// The header's totals, rendered without the script.
	for _, want := range []string{
		`<span class="v">` + htmlCount(s.Totals.Requests) + `</span><span class="k">requests</span>`,
		`<span class="v">` + htmlBytes(s.Totals.Bytes) + `</span><span class="k">read</span>`,
		`<span class="v">` + htmlCount(s.Totals.Objects) + `</span><span class="k">objects read</span>`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("the header lacks %s", want)
		}
	}
	for _, e := range s.Exports {
		if strings.ContainsAny(e.Name, "<>") && strings.Contains(p, e.Name) {
			t.Errorf("export name %q written unescaped", e.Name)
		}
	}
	d := newHTMLData(s)
	if got := strings.Contains(p, `id="cut"`); got != (d.Cut != htmlCut{}) {
		t.Errorf("the page says it is cut: %v; cut %+v", got, d.Cut)
	}
	if d.Cut.Objects > 0 && !strings.Contains(p, htmlCount(int64(d.Cut.Objects))+" objects past the first") {
		t.Errorf("the cut notice does not say how many objects were left out")
	}
	if d.Cut.Parts > 0 && !strings.Contains(p, htmlCount(int64(d.Cut.Parts))+" partitions past the first") {
		t.Errorf("the cut notice does not say how many partitions were left out")
	}
}

func checkHTMLData(t *testing.T, s *Summary, d *htmlData) {
	t.Helper()
	// Objects: the first MaxHTMLObjects by first read, each as in s.
	want := min(len(s.Objects), MaxHTMLObjects)
	if len(d.Objects) != want || d.Cut.Objects != len(s.Objects)-want {
		t.Errorf("%d objects embedded, %d cut; the summary has %d (cap %d)", len(d.Objects), d.Cut.Objects, len(s.Objects), MaxHTMLObjects)
	}
	byOrder := map[int]*ObjectStats{}
	for i := range s.Objects {
		byOrder[s.Objects[i].Order] = &s.Objects[i]
	}
	for i, o := range d.Objects {
		if i > 0 && o.Order <= d.Objects[i-1].Order {
			t.Fatalf("object %d: order %d after %d", i, o.Order, d.Objects[i-1].Order)
		}
		so := byOrder[o.Order]
		if so == nil || strings.ToValidUTF8(so.Path, "\uFFFD") != o.Path || so.Device != o.Device || string(rune(so.Type)) != o.Type || so.Bytes != o.Bytes || so.Reads != o.Reads || int64(so.First) != o.First {
			t.Fatalf("object %d: %+v, the summary's is %+v", i, o, so)
		}
	}
	// Devices: every partition of the layout coloured with its tint, but
	// those past the cap.
	nparts := 0
	for _, l := range s.Layout {
		nparts += len(l.Partitions)
		for _, p := range l.Partitions {
			j := slices.IndexFunc(d.Devices, func(v htmlDev) bool { return v.Device == p.Device })
			if j < 0 && d.Cut.Parts > 0 {
				continue
			}
			if j < 0 {
				t.Errorf("partition %s not among the page's devices", p.Device)
				continue
			}
			v := d.Devices[j]
			if v.IsDisk || v.Colour == diskColour || v.Tint != mixWhite(v.Colour, tintShare) || v.Off != p.Off || v.Len != p.Len {
				t.Errorf("partition %s: %+v", p.Device, v)
			}
		}
	}
	if drawn := nparts - d.Cut.Parts; d.Cut.Parts != max(0, nparts-MaxHTMLParts) || drawn > MaxHTMLParts {
		t.Errorf("%d partitions, %d cut (cap %d)", nparts, d.Cut.Parts, MaxHTMLParts)
	}
	// The map's arrays: sorted, in range, within the caps.
	if len(d.Disks) != len(s.Layout) {
		t.Errorf("%d disks on the map, %d in the layout", len(d.Disks), len(s.Layout))
	}
	exts := 0
	for _, hd := range d.Disks {
		if len(hd.Ext)%3 != 0 || len(hd.Reads)%2 != 0 || len(hd.ReadFirst) != len(hd.Reads)/2 {
			t.Fatalf("disk %d: array lengths ext %d, reads %d, read_first %d", hd.Disk, len(hd.Ext), len(hd.Reads), len(hd.ReadFirst))
		}
		for i := 0; i < len(hd.Ext); i += 3 {
			if i > 0 && hd.Ext[i] < hd.Ext[i-3] || hd.Ext[i+1] <= 0 || hd.Ext[i+2] < 0 || hd.Ext[i+2] >= int64(len(d.Objects)) {
				t.Fatalf("disk %d: extent %d: %v", hd.Disk, i/3, hd.Ext[i:i+3])
			}
		}
		exts += len(hd.Ext) / 3
		if len(hd.Reads)/2 > MaxHTMLReads {
			t.Errorf("disk %d: %d read regions, cap %d", hd.Disk, len(hd.Reads)/2, MaxHTMLReads)
		}
		for i := 2; i < len(hd.Reads); i += 2 {
			if hd.Reads[i] < hd.Reads[i-2]+hd.Reads[i-1] {
				t.Fatalf("disk %d: read regions %v and %v overlap or are unsorted", hd.Disk, hd.Reads[i-2:i], hd.Reads[i:i+2])
			}
		}
	}
	if exts > MaxHTMLExtents {
		t.Errorf("%d extents on the map, cap %d", exts, MaxHTMLExtents)
	}
	// The timeline adds up to the trace: requests, and bytes per device.
	if len(d.Timeline.Bars) > MaxHTMLBars {
		t.Errorf("%d timeline bars, cap %d", len(d.Timeline.Bars), MaxHTMLBars)
	}
	var reqs int64
	byDev := map[string]int64{}
	for _, bar := range d.Timeline.Bars {
		if len(bar) != 1+len(d.Devices) {
			t.Fatalf("a bar of %d values, want 1+%d devices", len(bar), len(d.Devices))
		}
		reqs += bar[0]
		for j, v := range bar[1:] {
			byDev[d.Devices[j].Device] += v
		}
	}
	wantDev := map[string]int64{}
	var wantReqs int64
	for _, b := range s.Timeline.Buckets {
		wantReqs += b.Requests
		for dev, v := range b.ByDevice {
			wantDev[dev] += v
		}
	}
	if reqs != wantReqs || reqs != s.Totals.Requests {
		t.Errorf("timeline: %d requests, the buckets have %d, the totals %d", reqs, wantReqs, s.Totals.Requests)
	}
	for dev, v := range wantDev {
		if !slices.ContainsFunc(d.Devices, func(x htmlDev) bool { return x.Device == dev }) {
			delete(wantDev, dev)
			wantDev[otherDevices] += v
		}
	}
	for dev, v := range wantDev {
		if byDev[dev] != v {
			t.Errorf("timeline: %s: %d bytes, the buckets have %d", dev, byDev[dev], v)
		}
	}
	if n := len(s.Timeline.Buckets); n > 0 && int64(len(d.Timeline.Bars))*d.Timeline.BucketNs < int64(n)*int64(s.Timeline.BucketNs) {
		t.Errorf("timeline: %d bars of %d ns do not cover %d buckets of %d ns", len(d.Timeline.Bars), d.Timeline.BucketNs, n, s.Timeline.BucketNs)
	}
	wantU := s.Unmapped[:min(len(s.Unmapped), MaxHTMLUnmapped)]
	if !slices.Equal(d.Unmapped, wantU) {
		t.Errorf("unmapped ranges %v, want %v", d.Unmapped, wantU)
	}
}

// TestHTMLWrite: Write picks the HTML report by the file's extension.
func TestHTMLWrite(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	s := summarise(h, evs, nil)
	for _, name := range []string{"r.html", "R.HTM"} {
		path := filepath.Join(t.TempDir(), name)
		if err := Write(path, s); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) || htmlBlob(t, b).Totals != s.Totals {
			t.Errorf("%s: not the HTML report of the trace", name)
		}
	}
}

func TestHTMLMixWhite(t *testing.T) {
	for _, tc := range []struct {
		c     string
		share float64
		want  string
	}{
		{"#4e79a7", 0.3, "#cad7e5"}, // 0x4e*0.3+255*0.7 = 201.9 -> 0xca ...
		{"#000000", 0.5, "#808080"},
		{"#ffffff", 0.1, "#ffffff"},
		{"#f28e2b", 1, "#f28e2b"},
		{"#f28e2b", 0, "#ffffff"},
		{"bad", 0.5, "bad"},
	} {
		t.Run(tc.c, func(t *testing.T) {
			if got := mixWhite(tc.c, tc.share); got != tc.want {
				t.Errorf("mixWhite(%s, %v) = %s, want %s", tc.c, tc.share, got, tc.want)
			}
		})
	}
}

// TestHTMLCoarsenReads: merging read regions to fit closes the smallest
// gaps, covers every region and keeps the earliest first read.
func TestHTMLCoarsenReads(t *testing.T) {
	r := func(off, n, first int64) ReadRegion { return ReadRegion{Off: off, Len: n, First: Nanos(first)} }
	for _, tc := range []struct {
		name string
		in   []ReadRegion
		n    int
		want []ReadRegion
	}{
		{"fits", []ReadRegion{r(0, 10, 5), r(20, 10, 1)}, 2, []ReadRegion{r(0, 10, 5), r(20, 10, 1)}},
		{"smallest gap", []ReadRegion{r(0, 10, 5), r(100, 10, 7), r(112, 8, 3), r(200, 1, 9)}, 3,
			[]ReadRegion{r(0, 10, 5), r(100, 20, 3), r(200, 1, 9)}},
		{"two", []ReadRegion{r(0, 10, 5), r(11, 10, 7), r(100, 8, 3), r(109, 1, 9)}, 2,
			[]ReadRegion{r(0, 21, 5), r(100, 10, 3)}},
		{"ties left to right", []ReadRegion{r(0, 1, 4), r(2, 1, 3), r(4, 1, 2), r(6, 1, 1)}, 2,
			[]ReadRegion{r(0, 5, 2), r(6, 1, 1)}},
		{"to one", []ReadRegion{r(0, 1, 4), r(50, 1, 3), r(60, 1, 2)}, 1, []ReadRegion{r(0, 61, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := coarsenReads(slices.Clone(tc.in), tc.n)
			if !slices.Equal(got, tc.want) {
				t.Errorf("coarsenReads(%v, %d) = %v, want %v", tc.in, tc.n, got, tc.want)
			}
		})
	}
	// Random: at most n left, every input covered, disjoint and sorted.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var in []ReadRegion
		off := int64(0)
		for range 1 + rng.IntN(300) {
			off += rng.Int64N(50)
			n := 1 + rng.Int64N(20)
			in = append(in, r(off, n, rng.Int64N(1000)))
			off += n + 1
		}
		n := 1 + rng.IntN(len(in))
		got := coarsenReads(slices.Clone(in), n)
		if len(got) > n {
			t.Fatalf("%d regions left, want at most %d", len(got), n)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Off <= got[i-1].Off+got[i-1].Len-1 {
				t.Fatalf("regions %v %v overlap", got[i-1], got[i])
			}
		}
		for _, x := range in {
			j := slices.IndexFunc(got, func(g ReadRegion) bool { return g.Off <= x.Off && x.Off+x.Len <= g.Off+g.Len })
			if j < 0 || got[j].First > x.First {
				t.Fatalf("region %v not covered (or a later first read) by %v", x, got)
			}
		}
	}
}

// BenchmarkHTML writes the 100k-request summary as HTML and, for a ratio,
// as the JSON report; bytes/page is the output's size.
func BenchmarkHTML(b *testing.B) {
	s := bigSummary(b)
	for _, f := range []struct {
		name string
		w    Format
	}{{"html", WriteHTML}, {"json", WriteJSON}} {
		b.Run(f.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				var buf bytes.Buffer
				if err := f.w(&buf, s); err != nil {
					b.Fatal(err)
				}
				n = buf.Len()
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}
