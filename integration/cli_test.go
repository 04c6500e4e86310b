package integration

// The virt-bmap command as a user runs it: exit statuses, the text map's
// format, -o, bad images, and the image left untouched.

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// textLine is one line of the text map: 1 START END TYPE DEVICE [PATH].
type textLine struct {
	Disk       int
	Start, End int64
	Kind       bmap.Kind
	Device     string
	Path       string // unescaped
}

var reTextLine = regexp.MustCompile(`^([1-9][0-9]*) ([0-9a-f]+) ([0-9a-f]+) ([vplmdf]) (/dev/[a-z0-9]+)(?: (.*))?$`)

// parseText parses a text map strictly: hex in lower case without 0x,
// END > START, a known type, a /dev/ device, escapes only \n and \\.
func parseText(r io.Reader) ([]textLine, error) {
	var ls []textLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := reTextLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not `DISK START END TYPE DEVICE [PATH]`", n, line)
		}
		disk, _ := strconv.Atoi(m[1])
		start, err1 := strconv.ParseInt(m[2], 16, 64)
		end, err2 := strconv.ParseInt(m[3], 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("line %d: %q: want hex START < END", n, line)
		}
		if len(m[2]) > 1 && m[2][0] == '0' || len(m[3]) > 1 && m[3][0] == '0' {
			return nil, fmt.Errorf("line %d: %q: hex with leading zeros", n, line)
		}
		path, err := unescapePath(m[6])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ls = append(ls, textLine{disk, start, end, bmap.Kind(m[4][0]), m[5], path})
	}
	return ls, sc.Err()
}

func unescapePath(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch {
		case i < len(s) && s[i] == 'n':
			b.WriteByte('\n')
		case i < len(s) && s[i] == '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf("path %q: a backslash not followed by n or \\", s)
		}
	}
	return b.String(), nil
}

// checkTextMap checks the properties every text map has: sorted by START;
// segmented (two lines' ranges are equal or disjoint); each object's
// segments do not overlap; the v lines of each disk cover [0, size).
func checkTextMap(t *testing.T, ls []textLine, sizes map[int]int64) {
	t.Helper()
	d := textMapDiffs(ls, sizes)
	d.report(t, "text map")
}

func textMapDiffs(ls []textLine, sizes map[int]int64) *diffs {
	d := new(diffs)
	if len(ls) == 0 {
		d.add("empty map")
		return d
	}
	type key struct {
		disk         int
		kind         bmap.Kind
		device, path string
	}
	perObj := map[key][][2]int64{}
	type rng struct {
		disk       int
		start, end int64
	}
	var ranges []rng
	seenRange := map[rng]bool{}
	for i, l := range ls {
		if i > 0 && (l.Disk < ls[i-1].Disk || l.Disk == ls[i-1].Disk && l.Start < ls[i-1].Start) {
			d.add("line %d (%x-%x) comes after %x-%x: not sorted", i+1, l.Start, l.End, ls[i-1].Start, ls[i-1].End)
		}
		if _, ok := sizes[l.Disk]; !ok {
			d.add("line %d: disk %d, not one of the images", i+1, l.Disk)
		} else if l.End > sizes[l.Disk] {
			d.add("line %d: %x-%x past disk %d's end %x", i+1, l.Start, l.End, l.Disk, sizes[l.Disk])
		}
		wantDev := "/dev/sd" + string(rune('a'+l.Disk-1))
		if !strings.HasPrefix(l.Device, wantDev) {
			d.add("line %d: device %s on disk %d, want %s...", i+1, l.Device, l.Disk, wantDev)
		}
		k := key{l.Disk, l.Kind, l.Device, l.Path}
		perObj[k] = append(perObj[k], [2]int64{l.Start, l.End})
		r := rng{l.Disk, l.Start, l.End}
		if !seenRange[r] {
			seenRange[r] = true
			ranges = append(ranges, r)
		}
	}
	slices.SortFunc(ranges, func(a, b rng) int {
		if a.disk != b.disk {
			return a.disk - b.disk
		}
		if a.start != b.start {
			return int(a.start - b.start)
		}
		return int(a.end - b.end)
	})
	for i := 1; i < len(ranges); i++ {
		a, b := ranges[i-1], ranges[i]
		if a.disk == b.disk && b.start < a.end {
			d.add("segments %x-%x and %x-%x overlap without being equal: the map is not segmented", a.start, a.end, b.start, b.end)
		}
	}
	for k, rs := range perObj {
		slices.SortFunc(rs, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		for i := 1; i < len(rs); i++ {
			if rs[i][0] < rs[i-1][1] {
				d.add("%s %s %q: segments %x-%x and %x-%x overlap", k.kind, k.device, k.path, rs[i-1][0], rs[i-1][1], rs[i][0], rs[i][1])
			}
		}
		if k.kind == bmap.KindDisk {
			var es []bmap.Extent
			for _, r := range rs {
				es = append(es, bmap.Extent{Off: r[0], Len: r[1] - r[0]})
			}
			if got := mergedRanges(es); len(got) != 1 || got[0] != [2]int64{0, sizes[k.disk]} {
				d.add("disk %d: v lines cover %v, want [0 %x]", k.disk, got, sizes[k.disk])
			}
		}
	}
	for disk := range sizes {
		if _, ok := perObj[key{disk, bmap.KindDisk, "/dev/sd" + string(rune('a'+disk-1)), ""}]; !ok {
			d.add("disk %d: no v line", disk)
		}
	}
	return d
}

type fileState struct {
	sum   [32]byte
	mtime time.Time
	size  int64
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s fileState
	copy(s.sum[:], h.Sum(nil))
	s.mtime, s.size = st.ModTime(), st.Size()
	return s
}

// runUntouched runs virt-bmap and fails the test if any image changed.
func runUntouched(t *testing.T, images []string, args ...string) (string, string, int) {
	t.Helper()
	before := map[string]fileState{}
	for _, img := range images {
		before[img] = stateOf(t, img)
	}
	o, e, code := runBin(t, args...)
	for _, img := range images {
		if after := stateOf(t, img); after != before[img] {
			t.Errorf("%s changed: before %x %v, after %x %v", img, before[img].sum, before[img].mtime, after.sum, after.mtime)
		}
	}
	return o, e, code
}

func TestCLITextMaps(t *testing.T) {
	setup(t)
	for _, name := range []string{"sample.img", "mbr-ext.img", "gpt-ext.img"} {
		t.Run(strings.TrimSuffix(name, ".img"), func(t *testing.T) {
			img := filepath.Join(imagesDir, name)
			out := filepath.Join(t.TempDir(), "map.txt")
			stdout, stderr, code := runUntouched(t, []string{img}, "-o", out, img)
			if code != 0 {
				t.Fatalf("exit status %d\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("warnings on a clean image:\n%s", stderr)
			}
			// without -q the summary table goes to stdout and names the partitions
			if !strings.Contains(stdout, "/dev/sda1") || !strings.Contains(stdout, "ext") {
				t.Errorf("summary table missing the partitions:\n%s", stdout)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatalf("-o %s: %v", out, err)
			}
			defer f.Close()
			ls, err := parseText(f)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(img)
			checkTextMap(t, ls, map[int]int64{1: st.Size()})

			// The text and JSON forms say the same: per object, the union
			// of the text segments is the union of the JSON extents.
			jm := runMap(t, img)
			type key struct {
				kind         bmap.Kind
				device, path string
			}
			fromText := map[key][]bmap.Extent{}
			for _, l := range ls {
				k := key{l.Kind, l.Device, l.Path}
				fromText[k] = append(fromText[k], bmap.Extent{Off: l.Start, Len: l.End - l.Start})
			}
			fromJSON := map[key][]bmap.Extent{}
			for _, o := range jm.Objects {
				k := key{o.Kind, o.Device, o.Path}
				fromJSON[k] = append(fromJSON[k], o.Extents...)
			}
			var d diffs
			for k, es := range fromJSON {
				if a, b := mergedRanges(es), mergedRanges(fromText[k]); !slices.Equal(a, b) {
					d.add("%s %s %q: JSON %v, text %v", k.kind, k.device, k.path, short64(a), short64(b))
				}
			}
			for k := range fromText {
				if _, ok := fromJSON[k]; !ok {
					d.add("%s %s %q: in the text map only", k.kind, k.device, k.path)
				}
			}
			d.report(t, name+": text map vs JSON map")

			// names that need escaping come back intact
			if name == "mbr-ext.img" {
				for _, want := range []string{"/names/new\nline", `/names/back\slash`, "/names/a name with spaces", "/names/tab\there"} {
					if _, ok := fromText[key{bmap.KindFile, "/dev/sda1", want}]; !ok {
						t.Errorf("%q not in the text map of /dev/sda1", want)
					}
				}
			}
		})
	}
}

func short64(rs [][2]int64) string {
	if len(rs) > 6 {
		return fmt.Sprintf("%x... (%d ranges)", rs[:6], len(rs))
	}
	return fmt.Sprintf("%x", rs)
}

func TestCLIOutputs(t *testing.T) {
	setup(t)
	img := filepath.Join(imagesDir, "sample.img")
	dir := t.TempDir()

	// -o - writes the map to stdout; -q leaves stderr empty on a clean image
	stdout, stderr, code := runUntouched(t, []string{img}, "-q", "-o", "-", img)
	if code != 0 || stderr != "" {
		t.Fatalf("-q -o -: exit %d, stderr %q", code, stderr)
	}
	ls, err := parseText(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("-o -: %v", err)
	}
	st, _ := os.Stat(img)
	checkTextMap(t, ls, map[int]int64{1: st.Size()})

	// the default output is ./bmap, as the original virt-bmap
	cmdDir := t.TempDir()
	t.Chdir(cmdDir)
	_, stderr, code = runUntouched(t, []string{img}, "-q", img)
	if code != 0 {
		t.Fatalf("default output: exit %d: %s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(cmdDir, "bmap")); err != nil || string(b) != stdout {
		t.Errorf("default output ./bmap: %v, or not the same map as -o - (%d vs %d bytes)", err, len(b), len(stdout))
	}

	// two images: disk 2 is /dev/sdb
	gpt := filepath.Join(imagesDir, "gpt-ext.img")
	out := filepath.Join(dir, "two.txt")
	_, stderr, code = runUntouched(t, []string{img, gpt}, "-q", "-o", out, img, gpt)
	if code != 0 {
		t.Fatalf("two images: exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	ls2, err := parseText(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	gst, _ := os.Stat(gpt)
	checkTextMap(t, ls2, map[int]int64{1: st.Size(), 2: gst.Size()})
	sdb := 0
	for _, l := range ls2 {
		if l.Disk == 2 && strings.HasPrefix(l.Device, "/dev/sdb") {
			sdb++
		}
	}
	if sdb == 0 {
		t.Error("two images: no line for disk 2 (/dev/sdb)")
	}

	// JSON: two disks listed, in order
	jout := filepath.Join(dir, "two.json")
	if _, stderr, code = runUntouched(t, []string{img, gpt}, "-q", "--json", "-o", jout, img, gpt); code != 0 {
		t.Fatalf("two images json: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(jout)
	if !strings.Contains(string(b), `"device":"/dev/sdb"`) && !strings.Contains(string(b), `"device": "/dev/sdb"`) {
		t.Error("two images json: no /dev/sdb disk")
	}
}

func TestCLIBadInput(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	src := filepath.Join(imagesDir, "mbr-ext.img")

	// a truncated image: partitions run past its end. The map is still
	// written, with warnings that say which partition and where, a summary
	// of what was not fully mapped, and exit status 4.
	trunc := filepath.Join(dir, "truncated.img")
	copyPrefix(t, src, trunc, 60<<20)
	out := filepath.Join(dir, "trunc.txt")
	_, stderr, code := runUntouched(t, []string{trunc}, "-q", "-o", out, trunc)
	if code != 4 || !strings.Contains(stderr, "not fully mapped") || !strings.Contains(stderr, "  /dev/sda5 (ext4): ") {
		t.Fatalf("truncated image: exit %d, want 4 (map written, sda5 not fully mapped): %s", code, stderr)
	}
	// the warning names the partition that runs past the end (the extended
	// sda3 or the logical sda5) and an offset
	namesPart := strings.Contains(stderr, "partition 3") || strings.Contains(stderr, "partition 5") ||
		strings.Contains(stderr, "/dev/sda3") || strings.Contains(stderr, "/dev/sda5")
	if !strings.Contains(stderr, "warning") || !namesPart || !strings.Contains(stderr, "0x") {
		t.Errorf("truncated image: want warnings naming the partition past the disk's end and an offset, got:\n%s", stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := parseText(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkTextMap(t, ls, map[int]int64{1: 60 << 20})
	// the partitions wholly inside the image are still walked
	files := 0
	for _, l := range ls {
		if l.Kind == bmap.KindFile && l.Device == "/dev/sda1" {
			files++
		}
	}
	if files == 0 {
		t.Error("truncated image: no file of /dev/sda1 (wholly inside the image) in the map")
	}

	// an all-zeros image: no partition table, no filesystem: the map is the
	// disk alone.
	zeros := testutil.SparseFile(t, 10<<20)
	stdout, stderr, code := runUntouched(t, []string{zeros}, "-q", "-o", "-", zeros)
	if code != 0 {
		t.Fatalf("all-zeros image: exit %d: %s", code, stderr)
	}
	if want := "1 0 a00000 v /dev/sda\n"; stdout != want {
		t.Errorf("all-zeros image: map %q, want %q", stdout, want)
	}

	// no map at all: exit 1 and a message naming the file; no output left
	for _, c := range []struct{ name, path, msg string }{
		{"missing", filepath.Join(dir, "does-not-exist.img"), "does-not-exist.img"},
		{"empty", filepath.Join(dir, "empty.img"), "empty.img"},
	} {
		if c.name == "empty" {
			if err := os.WriteFile(c.path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out := filepath.Join(dir, c.name+".map")
		_, stderr, code := runBin(t, "-q", "-o", out, c.path)
		if code != 1 {
			t.Errorf("%s image: exit %d, want 1", c.name, code)
		}
		if !strings.Contains(stderr, c.msg) {
			t.Errorf("%s image: message %q does not name %s", c.name, stderr, c.msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s image: %s written anyway", c.name, out)
		}
	}

	// a bad command line: exit 1, getopt's message and a pointer to --help
	for _, args := range [][]string{{"--format=xml", src}, {}, {"--no-such-flag", src}} {
		_, stderr, code := runBin(t, args...)
		if code != 1 || !strings.Contains(stderr, "Try 'virt-bmap --help' for more information.") {
			t.Errorf("virt-bmap %q: exit %d (want 1), stderr %q", args, code, stderr)
		}
	}

	// an output that cannot be written: exit 1, the image untouched
	_, stderr, code = runUntouched(t, []string{src}, "-q", "-o", filepath.Join(dir, "no-such-dir", "map"), src)
	if code != 1 || !strings.Contains(stderr, "no-such-dir") {
		t.Errorf("unwritable output: exit %d (want 1), stderr %q", code, stderr)
	}
}

// copyPrefix copies the first n bytes of src to dst.
func copyPrefix(t *testing.T, src, dst string, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, io.LimitReader(in, n)); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCLICompressedSample(t *testing.T) {
	setup(t)
	xzImg := filepath.Join(repoRoot, "testimages", "sample.img.xz")
	raw := filepath.Join(t.TempDir(), "sample.img")
	if _, err := runTool("sh", "-c", "xz -dc '"+xzImg+"' > '"+raw+"'"); err != nil {
		t.Fatal(err)
	}
	want, stderr, code := runBin(t, "-q", "-o", "-", raw)
	if code != 0 {
		t.Fatalf("decompressed sample: exit %d: %s", code, stderr)
	}
	if !strings.Contains(want, " f /dev/sda2 /etc/os-release\n") || !strings.Contains(want, " f /dev/sda1 /grub/grub.cfg\n") {
		t.Error("the committed sample.img.xz does not hold /etc/os-release and /boot's /grub/grub.cfg")
	}
	got, stderr, code := runUntouched(t, []string{xzImg}, "-q", "-o", "-", xzImg)
	if code != 0 && strings.Contains(stderr, "not supported") {
		t.Skipf("xz images not supported yet: %s", strings.TrimSpace(stderr))
	}
	if code != 0 {
		t.Fatalf("sample.img.xz: exit %d: %s", code, stderr)
	}
	if got != want {
		t.Errorf("the map of sample.img.xz differs from the map of its decompressed image (%d vs %d bytes)", len(got), len(want))
	}
}

// The text checks fail on maps that break the format.
func TestTextMapChecks(t *testing.T) {
	good := "1 0 400 v /dev/sda\n1 400 800 v /dev/sda\n1 400 800 p /dev/sda1\n1 400 800 f /dev/sda1 /a\\\\b\\nc\n"
	ls, err := parseText(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if d := textMapDiffs(ls, map[int]int64{1: 0x800}); len(d.list) > 0 {
		t.Fatalf("a good map fails: %v", d.list)
	}
	if ls[3].Path != "/a\\b\nc" {
		t.Errorf("unescaped path %q", ls[3].Path)
	}
	for _, bad := range []string{
		"1 0 400 V /dev/sda\n",        // unknown type
		"1 0 0x400 v /dev/sda\n",      // 0x
		"1 0 4A0 v /dev/sda\n",        // upper case
		"1 400 400 v /dev/sda\n",      // empty
		"1 400 200 v /dev/sda\n",      // backwards
		"1 0 400 f /dev/sda1 /a\\b\n", // bad escape
		"0 0 400 v /dev/sda\n",        // disk 0
		"1 0 400 v sda\n",             // no /dev/
		"1 000 400 v /dev/sda\n",      // leading zeros
	} {
		if _, err := parseText(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	for _, c := range []struct{ name, text string }{
		{"not segmented", "1 0 800 v /dev/sda\n1 400 800 p /dev/sda1\n"},
		{"not sorted", "1 400 800 v /dev/sda\n1 0 400 v /dev/sda\n"},
		{"v does not cover the disk", "1 0 400 v /dev/sda\n"},
		{"past the end", "1 0 800 v /dev/sda\n1 800 c00 f /dev/sda1 /x\n"},
		{"object overlaps itself", "1 0 800 v /dev/sda\n1 0 800 f /dev/sda1 /x\n1 0 800 f /dev/sda1 /x\n"},
		{"wrong disk letter", "1 0 800 v /dev/sdb\n"},
	} {
		ls, err := parseText(strings.NewReader(c.text))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d := textMapDiffs(ls, map[int]int64{1: 0x800}); len(d.list) == 0 {
			t.Errorf("%s: not caught", c.name)
		}
	}
}
