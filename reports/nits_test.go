package reports

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// Regression tests for issue 18's report nits.

// TestOrderWithoutGaps: the Order column of the text report's table of
// the first files, directories and metadata read counts 1, 2, 3...
// although a disk and partitions were read first and between them (they
// took numbers, so the table skipped some); the summary's Order counts
// every object read, without gaps.
func TestOrderWithoutGaps(t *testing.T) {
	a := NewAggregator(nil, Options{})
	obj := func(k bmap.Kind, dev, path string) logger.JSONObject {
		return logger.JSONObject{Type: k, Device: dev, Path: path, Off: 0, Len: 512}
	}
	evs := []logger.JSONEvent{
		{T: 1, Conn: 1, Disk: 1, Off: 0, Len: 512, Objects: []logger.JSONObject{obj(bmap.KindMeta, "/dev/sda", "MBR"), obj(bmap.KindDisk, "/dev/sda", "")}},
		{T: 2, Conn: 1, Disk: 1, Off: 1 << 20, Len: 512, Objects: []logger.JSONObject{obj(bmap.KindPartition, "/dev/sda1", ""), obj(bmap.KindMeta, "/dev/sda1", "superblock")}},
		{T: 3, Conn: 1, Disk: 1, Off: 2 << 20, Len: 512, Objects: []logger.JSONObject{obj(bmap.KindPartition, "/dev/sda1", ""), obj(bmap.KindFile, "/dev/sda1", "/a")}},
		{T: 4, Conn: 1, Disk: 1, Off: 3 << 20, Len: 512, Objects: []logger.JSONObject{obj(bmap.KindPartition, "/dev/sda2", ""), obj(bmap.KindDir, "/dev/sda2", "/")}},
	}
	for i := range evs {
		a.AddJSON(&evs[i])
	}
	s := a.Summary()
	var orders []int
	for _, o := range s.Objects {
		orders = append(orders, o.Order)
	}
	if !consecutive(orders, 7) {
		t.Errorf("orders %v; want 1..7", orders)
	}
	var b bytes.Buffer
	if err := WriteText(&b, s, 0); err != nil {
		t.Fatal(err)
	}
	txt := b.String()
	from, to := strings.Index(txt, "The first"), strings.Index(txt, "Partitions and disks")
	if from < 0 || to < from {
		t.Fatalf("no first-read table:\n%s", txt)
	}
	rows := regexp.MustCompile(`(?m)^│ +(\d+) │ +\d`).FindAllStringSubmatch(txt[from:to], -1)
	if len(rows) != 4 {
		t.Fatalf("%d rows in the first-read table:\n%s", len(rows), txt)
	}
	for i, r := range rows {
		if r[1] != strconv.Itoa(i+1) {
			t.Errorf("row %d has Order %s:\n%s", i+1, r[1], txt)
		}
	}
}

func consecutive(o []int, n int) bool {
	if len(o) != n {
		return false
	}
	for i, v := range o {
		if v != i+1 {
			return false
		}
	}
	return true
}

// TestMappedAddsUp: a request partly inside an object and partly outside
// any is counted once, as partly mapped, so mapped + unmapped + partly
// mapped requests is the total (it used to count in both).
func TestMappedAddsUp(t *testing.T) {
	a := NewAggregator(nil, Options{})
	evs := []logger.JSONEvent{
		// 512 bytes in the MBR, 512 outside anything
		{T: 1, Conn: 1, Disk: 1, Off: 0, Len: 1024, Objects: []logger.JSONObject{{Type: bmap.KindMeta, Device: "/dev/sda", Path: "MBR", Off: 0, Len: 512}}},
		{T: 2, Conn: 1, Disk: 1, Off: 4096, Len: 512, Objects: []logger.JSONObject{}},
		{T: 3, Conn: 1, Disk: 1, Off: 0, Len: 512, Objects: []logger.JSONObject{{Type: bmap.KindMeta, Device: "/dev/sda", Path: "MBR", Off: 0, Len: 512}}},
	}
	for i := range evs {
		a.AddJSON(&evs[i])
	}
	tot := a.Summary().Totals
	if tot.MappedRequests != 1 || tot.UnmappedRequests != 1 || tot.PartlyMappedRequests != 1 {
		t.Errorf("mapped %d, unmapped %d, partly %d; want 1 each", tot.MappedRequests, tot.UnmappedRequests, tot.PartlyMappedRequests)
	}
	if tot.MappedRequests+tot.UnmappedRequests+tot.PartlyMappedRequests != tot.Requests || tot.MappedBytes+tot.UnmappedBytes != tot.Bytes {
		t.Errorf("totals do not add up: %+v", tot)
	}
}

// TestPlurals: "1 partition", "1 request", "1 connection", never "1
// partitions", in the text report and the HTML page.
func TestPlurals(t *testing.T) {
	a := NewAggregator(nil, Options{})
	ev := logger.JSONEvent{T: 1, Conn: 1, Disk: 1, Off: 0, Len: 512, Error: "EIO", Cache: true,
		Objects: []logger.JSONObject{{Type: bmap.KindPartition, Device: "/dev/sda1", Off: 0, Len: 512}}}
	a.AddJSON(&ev)
	s := a.Summary()
	var txt, page bytes.Buffer
	if err := WriteText(&txt, s, 0); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&page, s); err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`\b1 (requests|connections|errors|ranges|partitions|objects|cache requests|extents)\b|>1</span><span class="k">(requests|errors|connections|objects)`)
	for name, out := range map[string]string{"text": txt.String(), "html": page.String()} {
		if m := bad.FindString(out); m != "" {
			t.Errorf("%s: %q", name, m)
		}
	}
	if !strings.Contains(txt.String(), "1 request, ") || !strings.Contains(txt.String(), "1 connection") {
		t.Errorf("text:\n%s", txt.String())
	}
}

// TestConnectionsWithoutReads: connections that read nothing (nbdinfo
// asks for the size and the allocation map only) are counted when the
// server says how many it accepted.
func TestConnectionsWithoutReads(t *testing.T) {
	a := NewAggregator(nil, Options{})
	if n := a.Summary().Totals.Connections; n != 0 {
		t.Errorf("no connection: %d", n)
	}
	a.SetConnections(1)
	if n := a.Summary().Totals.Connections; n != 1 {
		t.Errorf("nbdinfo alone: %d connections, want 1", n)
	}
	ev := logger.JSONEvent{T: 1, Conn: 2, Disk: 1, Off: 0, Len: 512}
	a.AddJSON(&ev)
	a.SetConnections(2)
	if n := a.Summary().Totals.Connections; n != 2 {
		t.Errorf("nbdinfo then nbdcopy: %d connections, want 2", n)
	}
}

// TestMapColoursDistinct: on the HTML map, metadata has a colour of its
// own, far (in RGB) from every colour of the first-read ramp of files and
// directories and from the partitions' colours (it used to be a grey
// purple next to the ramp's first colour: metadata and the first files
// read looked alike).
func TestMapColoursDistinct(t *testing.T) {
	js, err := htmlFS.ReadFile("html/report.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(js)
	hex := func(name string) [3]float64 {
		m := regexp.MustCompile(`var ` + name + ` = rgb\("(#[0-9a-f]{6})"\)`).FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("%s not found in report.js", name)
		}
		return rgbOf(m[1])
	}
	meta := hex("META")
	others := map[string][3]float64{"BG": hex("BG"), "UNMAPPED_READ": hex("UNMAPPED_READ"), "disk": rgbOf(diskColour), "other": rgbOf(otherColour)}
	m := regexp.MustCompile(`var RAMP = \[([^\]]*)\]`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("RAMP not found in report.js")
	}
	var ramp [][3]float64
	for _, h := range regexp.MustCompile(`#[0-9a-f]{6}`).FindAllString(m[1], -1) {
		ramp = append(ramp, rgbOf(h))
	}
	for i := 0; i+1 < len(ramp); i++ {
		for f := 0.0; f <= 1; f += 0.05 {
			var c [3]float64
			for k := range c {
				c[k] = ramp[i][k] + (ramp[i+1][k]-ramp[i][k])*f
			}
			others["ramp "+strconv.Itoa(i)+"+"+strconv.FormatFloat(f, 'f', 2, 64)] = c
		}
	}
	for i, p := range partPalette {
		others["partition "+strconv.Itoa(i)] = rgbOf(p)
	}
	const minDist = 80
	for name, c := range others {
		if d := math.Sqrt((meta[0]-c[0])*(meta[0]-c[0]) + (meta[1]-c[1])*(meta[1]-c[1]) + (meta[2]-c[2])*(meta[2]-c[2])); d < minDist {
			t.Errorf("metadata's colour is %.0f from %s's (want at least %d)", d, name, minDist)
		}
	}
}

func rgbOf(h string) [3]float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(h[1+2*i:3+2*i], 16, 8)
		c[i] = float64(v)
	}
	return c
}
