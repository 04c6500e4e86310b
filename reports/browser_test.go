package reports

// The HTML report in a real browser: Debian's chromium, headless, loads
// each page from a file:// URL with ?test=sort,hover,zoom (the page then
// clicks a column header, hovers a file on the map and zooms into a
// partition by itself) and dumps the DOM once its script has run. The
// page records what it drew on <body> (see html/report.js); the test
// checks those records against the Summary, and the DOM itself (the
// timeline's SVG rects, the table's cells), and fails on any console
// message or uncaught error. A screenshot of each page is kept: in
// $VIRT_BMAP_ARTIFACTS/reports/ when that is set, else in the test's temp
// directory (the path is logged).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns the browser's path, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found (Debian package chromium)")
	return ""
}

// artifactDir is where screenshots are kept.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("VIRT_BMAP_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "reports")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runChromium runs headless chromium with args and a profile of its own;
// it returns standard output and standard error.
func runChromium(t *testing.T, bin string, args ...string) ([]byte, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--window-size=1400,1000"}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if ctx.Err() != nil || !errors.As(err, &ee) {
			t.Fatalf("chromium %s: %v (timeout 2m)\n%s", strings.Join(args, " "), err, tailLines(stderr.String(), 30))
		}
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tailLines(stderr.String(), 30))
	}
	return stdout.Bytes(), stderr.Bytes()
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

var (
	reBody     = regexp.MustCompile(`<body( [^>]*data-drawn=[^>]*)>`)
	reAttr     = regexp.MustCompile(`([\w-]+)="([^"]*)"`)
	reRect     = regexp.MustCompile(`<rect `)
	rePathCell = regexp.MustCompile(`<td class="path">([^<]*)</td>`)
)

// bodyAttrs is the dumped DOM's <body> attributes.
func bodyAttrs(t *testing.T, dom []byte) map[string]string {
	t.Helper()
	m := reBody.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("no <body> in the dumped DOM:\n%s", tailLines(string(dom), 20))
	}
	a := map[string]string{}
	for _, kv := range reAttr.FindAllSubmatch(m[1], -1) {
		a[string(kv[1])] = html.UnescapeString(string(kv[2]))
	}
	return a
}

func atoi(t *testing.T, a map[string]string, k string) int {
	t.Helper()
	n, err := strconv.Atoi(a[k])
	if err != nil {
		t.Fatalf("<body %s=%q>: %v", k, a[k], err)
	}
	return n
}

// partPixels parses "dev=N;dev=N".
func partPixels(s string) map[string]int {
	m := map[string]int{}
	for kv := range strings.SplitSeq(s, ";") {
		if dev, n, ok := strings.Cut(kv, "="); ok {
			m[dev], _ = strconv.Atoi(n)
		}
	}
	return m
}

func TestBrowserHTML(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium 14 times (about a minute): not in -short")
	}
	bin := chromium(t)
	art := artifactDir(t)
	t.Logf("screenshots in %s", art)
	for _, tc := range htmlCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			d := newHTMLData(s)
			page := filepath.Join(art, tc.name+".html")
			f, err := os.Create(page)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteHTML(f, s); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			dom, stderr := runChromium(t, bin, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
				"--dump-dom", "file://"+page+"?test=sort,hover,zoom")
			for line := range strings.SplitSeq(string(stderr), "\n") {
				if strings.Contains(line, "Uncaught") || strings.Contains(line, "CONSOLE") {
					t.Errorf("chromium: %s", line)
				}
			}
			a := bodyAttrs(t, dom)
			t.Logf("%s: drawn %q in %s ms; <body> %v", tc.name, a["data-drawn"], a["data-draw-ms"], len(a))
			checkBrowserDOM(t, s, d, a, dom)

			shot := filepath.Join(art, tc.name+".png")
			runChromium(t, bin, "--screenshot="+shot, "file://"+page)
			t.Logf("screenshot %s", shot)
			checkScreenshot(t, shot, d)
		})
	}
}

func checkBrowserDOM(t *testing.T, s *Summary, d *htmlData, a map[string]string, dom []byte) {
	t.Helper()
	if a["data-errors"] != "0" {
		t.Errorf("the page counted %s errors; the last: %s", a["data-errors"], a["data-last-error"])
	}
	if _, ok := a["data-pwned"]; ok {
		t.Errorf("a name in the trace ran as script")
	}
	want := "timeline,tables"
	if len(d.Disks) > 0 {
		want = "map," + want
	}
	if a["data-drawn"] != want || a["data-done"] != "1" {
		t.Fatalf("drawn %q (done %q), want %q", a["data-drawn"], a["data-done"], want)
	}

	// The map: every partition's tint seen on the canvas, files and read
	// regions drawn.
	if len(d.Disks) > 0 {
		hd := d.Disks[0]
		px := partPixels(a["data-map-part-pixels"])
		for _, j := range hd.Parts {
			if px[d.Devices[j].Device] <= 0 {
				t.Errorf("map: no cell of %s's tint on the canvas (%s)", d.Devices[j].Device, a["data-map-part-pixels"])
			}
		}
		objects := false
		for i := 0; i < len(hd.Ext); i += 3 {
			objects = objects || d.Objects[hd.Ext[i+2]].Prio > 3
		}
		if n := atoi(t, a, "data-map-object-pixels"); objects != (n > 0) {
			t.Errorf("map: %d cells of objects; objects to draw: %v", n, objects)
		}
		if n := atoi(t, a, "data-map-read-pixels"); (len(hd.Reads) > 0) != (n > 0) {
			t.Errorf("map: %d cells read, %d read regions", n, len(hd.Reads)/2)
		}
		if atoi(t, a, "data-map-pixels") <= 0 {
			t.Errorf("map: nothing drawn")
		}
	}

	// The timeline: one bar per non-empty interval, a rect per device
	// with bytes in it; the rects counted in the DOM too.
	bars, rects := 0, 0
	for _, b := range d.Timeline.Bars {
		nz := 0
		for _, v := range b[1:] {
			if v > 0 {
				nz++
			}
		}
		if nz > 0 || b[0] > 0 {
			bars++
		}
		rects += nz
	}
	if got := atoi(t, a, "data-timeline-bars"); got != bars {
		t.Errorf("timeline: %d bars drawn, want %d", got, bars)
	}
	if got := atoi(t, a, "data-timeline-rects"); got != rects {
		t.Errorf("timeline: %d rects drawn, want %d", got, rects)
	}
	if got := len(reRect.FindAllIndex(dom, -1)); got != rects {
		t.Errorf("timeline: %d <rect> in the DOM, want %d", got, rects)
	}
	if s.Totals.Bytes > 0 && rects == 0 {
		t.Errorf("timeline: no rect for %d bytes read", s.Totals.Bytes)
	}

	// The tables: a row per file and directory (the default filter), each
	// path in a cell of the DOM; partitions; unmapped ranges.
	var fd []htmlObj
	for _, o := range d.Objects {
		if o.Type == "f" || o.Type == "d" {
			fd = append(fd, o)
		}
	}
	if got := atoi(t, a, "data-rows-objects"); got != len(fd) {
		t.Errorf("files table: %d rows, want %d", got, len(fd))
	}
	cells := map[string]bool{}
	for _, m := range rePathCell.FindAllSubmatch(dom, -1) {
		cells[html.UnescapeString(string(m[1]))] = true
	}
	for _, o := range fd {
		if !cells[strings.ToValidUTF8(o.Path, "\uFFFD")] {
			t.Errorf("files table: no cell with %q", o.Path)
			break
		}
	}
	parts := 0
	for _, v := range d.Devices {
		if v.Len > 0 || slices.ContainsFunc(d.Objects, func(o htmlObj) bool {
			return o.Device == v.Device && strings.Contains("plv", o.Type) && o.Reads > 0
		}) {
			parts++
		}
	}
	if got := atoi(t, a, "data-rows-parts"); got != parts {
		t.Errorf("partitions table: %d rows, want %d", got, parts)
	}
	if got := atoi(t, a, "data-rows-unmapped"); got != len(d.Unmapped) {
		t.Errorf("unmapped table: %d rows, want %d", got, len(d.Unmapped))
	}

	// Sorting by "bytes read": descending first, the most read file or
	// directory on top; then ascending.
	if len(fd) > 0 {
		hi, lo := fd[0].Bytes, fd[0].Bytes
		for _, o := range fd {
			hi, lo = max(hi, o.Bytes), min(lo, o.Bytes)
		}
		has := func(name string, b int64) bool {
			return slices.ContainsFunc(fd, func(o htmlObj) bool { return o.Device+" "+o.Path == name && o.Bytes == b })
		}
		if a["data-sort-key"] != "b" || a["data-sort-dir"] != "descending" || !has(a["data-sort-first"], hi) {
			t.Errorf("sort by bytes: key %q dir %q first row %q; want descending, a file of %d bytes", a["data-sort-key"], a["data-sort-dir"], a["data-sort-first"], hi)
		}
		if a["data-sort-dir2"] != "ascending" || !has(a["data-sort-first2"], lo) {
			t.Errorf("sort again: dir %q first row %q; want ascending, a file of %d bytes", a["data-sort-dir2"], a["data-sort-first2"], lo)
		}
	}

	// Hover: the tooltip names the file under the cursor (binary search).
	if want := a["data-hover-want"]; want != "" {
		if a["data-hover-got"] != want || !strings.Contains(a["data-hover-text"], want) {
			t.Errorf("hover over %q: the page found %q, tooltip %q", want, a["data-hover-got"], a["data-hover-text"])
		}
	} else if len(d.Disks) > 0 && slices.ContainsFunc(d.Objects, func(o htmlObj) bool { return o.Type == "f" }) && len(d.Disks[0].Ext) > 0 {
		t.Errorf("hover: the page found no file to hover")
	}

	// Zoom into the last partition: only it on the canvas, then back.
	if len(d.Disks) > 0 && len(d.Disks[0].Parts) > 0 {
		last := d.Devices[d.Disks[0].Parts[len(d.Disks[0].Parts)-1]].Device
		if a["data-zoom-view"] != last || a["data-zoom-back"] != "true" {
			t.Errorf("zoom: view %q (want %s), back to the same map: %q", a["data-zoom-view"], last, a["data-zoom-back"])
		}
		for dev, n := range partPixels(a["data-zoom-part-pixels"]) {
			if (dev == last) != (n > 0) {
				t.Errorf("zoomed into %s: %d cells of %s's tint", last, n, dev)
			}
		}
	}
}

// checkScreenshot: a 1400x1000 PNG, not blank, with the partitions' tints
// from the map.
func checkScreenshot(t *testing.T, path string, d *htmlData) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 1000 {
		t.Errorf("screenshot %s: %v, want 1400x1000", path, b)
	}
	colours := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			colours[rgbAt(img, x, y)]++
		}
	}
	if len(colours) < 16 {
		t.Errorf("screenshot %s: %d distinct colours: blank?", path, len(colours))
	}
	if len(d.Disks) == 0 {
		return
	}
	for _, j := range d.Disks[0].Parts {
		var want [3]uint8
		fmt.Sscanf(d.Devices[j].Tint, "#%02x%02x%02x", &want[0], &want[1], &want[2])
		n := 0
		for c, k := range colours {
			if near(c, want, 3) {
				n += k
			}
		}
		if n == 0 {
			t.Errorf("screenshot %s: no pixel of %s's tint %s", path, d.Devices[j].Device, d.Devices[j].Tint)
		}
	}
}

func rgbAt(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func near(a, b [3]uint8, tol int) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
			return false
		}
	}
	return true
}
