package fat

import (
	"bufio"
	"bytes"
	"encoding/hex"
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

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// xxdImage is an image read from an xxd hex dump (the form of
// dosfstools' test images) without unpacking it: the dumped lines, a "*"
// line repeating the line before it up to the next offset, zeros
// elsewhere. The images are up to 1 GiB, nearly all zeros.
type xxdImage struct {
	segs []xxdSeg // sorted, not overlapping; zero lines left out
	size int64
}

// xxdSeg is [off, end) filled with pat repeated from off.
type xxdSeg struct {
	off, end int64
	pat      []byte
}

func parseXXD(b []byte) (*xxdImage, error) {
	img := &xxdImage{}
	var prev []byte
	var prevOff int64 = -1
	repeat := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "*" {
			repeat = true
			continue
		}
		offS, rest, ok := strings.Cut(line, ": ")
		if !ok || len(rest) < 2 {
			return nil, fmt.Errorf("line %d: %q", n, line)
		}
		off, err := strconv.ParseInt(offS, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		hexPart := rest
		if i := strings.Index(rest, "  "); i >= 0 {
			hexPart = rest[:i]
		}
		data, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if repeat && prevOff >= 0 && off > prevOff+int64(len(prev)) {
			img.add(prevOff+int64(len(prev)), off, prev)
		}
		repeat = false
		img.add(off, off+int64(len(data)), data)
		prev, prevOff = data, off
		img.size = max(img.size, off+int64(len(data)))
	}
	return img, sc.Err()
}

func (x *xxdImage) add(off, end int64, pat []byte) {
	if !slices.ContainsFunc(pat, func(c byte) bool { return c != 0 }) {
		return
	}
	x.segs = append(x.segs, xxdSeg{off, end, pat})
}

func (x *xxdImage) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= x.size {
		return 0, errors.New("xxd: read past the image")
	}
	n := len(b)
	if int64(n) > x.size-off {
		n = int(x.size - off)
	}
	clear(b[:n])
	end := off + int64(n)
	i, _ := slices.BinarySearchFunc(x.segs, off, func(s xxdSeg, o int64) int {
		if s.end <= o {
			return -1
		}
		return 1
	})
	for ; i < len(x.segs) && x.segs[i].off < end; i++ {
		s := x.segs[i]
		for p := max(s.off, off); p < min(s.end, end); p++ {
			b[p-off] = s.pat[(p-s.off)%int64(len(s.pat))]
		}
	}
	if n < len(b) {
		return n, errors.New("xxd: read past the image")
	}
	return n, nil
}

// writeSparse writes the image to a sparse file, for the external tools.
func (x *xxdImage) writeSparse(t *testing.T, path string) {
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(x.size))
	for _, s := range x.segs {
		buf := make([]byte, min(s.end-s.off, 1<<20))
		for p := s.off; p < s.end; p += int64(len(buf)) {
			k := min(int64(len(buf)), s.end-p)
			_, err := x.ReadAt(buf[:k], p)
			must(t, err)
			_, err = f.WriteAt(buf[:k], p)
			must(t, err)
		}
	}
}

// reFsckTrunc is fsck.fat's "truncating" message for a chain.
var reFsckTrunc = regexp.MustCompile(`Truncating (?:second|file) to (\d+) bytes|Truncating to (\d+) clusters`)

// TestDosfstoolsCorpus walks the damaged images of dosfstools' test
// suite (testdata/dosfstools, see its README): never a panic or a hang,
// at most 100 warnings, New failing only with a diskerr.FormatError; and,
// against fsck.fat -n on the same image: every file whose cluster chain
// fsck.fat complains of (a loop, a free cluster, clusters shared, a chain
// longer or shorter than the size) is named in our warnings and mapped
// with the clusters fsck.fat keeps; and against The Sleuth Kit: every
// allocated file fls lists is mapped.
func TestDosfstoolsCorpus(t *testing.T) {
	testutil.NeedTools(t, "fsck.fat", "fls")
	files, err := filepath.Glob(filepath.Join("testdata", "dosfstools", "*.fsck"))
	must(t, err)
	if len(files) < 15 {
		t.Fatalf("%d images in testdata/dosfstools", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".fsck")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			must(t, err)
			img, err := parseXXD(raw)
			must(t, err)
			f, err := New(img, img.size)
			if err != nil {
				var fe *diskerr.FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("New: %v, not a diskerr.FormatError", err)
				}
				t.Logf("New: %v", err)
				return
			}
			var warns []string
			f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
			var es []fs.Entry
			done := make(chan error, 1)
			go func() {
				done <- f.Walk(func(e fs.Entry) error {
					e.Extents = slices.Clone(e.Extents)
					es = append(es, e)
					return nil
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Walk: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("hang")
			}
			if len(warns) > 100 {
				t.Errorf("%d warnings", len(warns))
			}
			allWarns := strings.ToLower(strings.Join(warns, "\n"))
			t.Logf("warnings:\n%s", strings.Join(warns, "\n"))
			ours := map[string]fs.Entry{}
			for _, e := range es {
				if e.Kind != bmap.KindMeta {
					ours[strings.ToLower(e.Path)] = e
				}
			}

			path := filepath.Join(t.TempDir(), name+".img")
			img.writeSparse(t, path)
			out, _ := exec.Command("fsck.fat", "-n", path).CombinedOutput()
			t.Logf("fsck.fat -n:\n%s", out)
			// Blocks: a line naming a path, then indented lines.
			var cur string
			checked := map[string]bool{}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "/") {
					cur = strings.ToLower(strings.TrimSuffix(line, "  and"))
					continue
				}
				chain := strings.Contains(line, "Circular cluster chain") || strings.Contains(line, "share clusters") ||
					strings.Contains(line, "cluster chain length") || strings.Contains(line, "Contains a free cluster")
				if chain && cur != "" && cur != "/" && !checked[cur] {
					checked[cur] = true
					if !strings.Contains(allWarns, "file "+cur) {
						t.Errorf("fsck.fat -n complains of %s (%s); we do not", cur, strings.TrimSpace(line))
					}
				}
				if m := reFsckTrunc.FindStringSubmatch(line); m != nil && cur != "" && cur != "/" {
					e, ok := ours[cur]
					if !ok {
						t.Errorf("%s: not mapped", cur)
						continue
					}
					var mapped int64
					for _, x := range e.Extents {
						mapped += x.Len / f.p.clusterSize
					}
					var want int64
					if m[1] != "" {
						n, _ := strconv.ParseInt(m[1], 10, 64)
						want = (n + f.p.clusterSize - 1) / f.p.clusterSize
					} else {
						want, _ = strconv.ParseInt(m[2], 10, 64)
					}
					// fsck.fat may truncate a chain twice (a
					// loop, then the size): the last message wins.
					if mapped != want && !strings.Contains(line, "clusters") {
						t.Errorf("%s: %d clusters mapped; fsck.fat keeps %d (%s)", cur, mapped, want, strings.TrimSpace(line))
					}
				}
			}
			if strings.Contains(name, "chain") && len(checked) == 0 {
				t.Errorf("fsck.fat -n reports no damaged chain in %s: nothing compared", name)
			}
			// Every allocated file and directory fls lists is ours.
			if img.size > 300<<20 {
				// fls takes seconds on a 1 GiB FAT32 (it scans
				// every cluster for orphans): fsck.fat above is
				// the oracle there.
				return
			}
			fls, err := exec.Command("fls", "-r", "-p", path).CombinedOutput()
			if err != nil {
				t.Logf("fls: %v: %s", err, fls)
				return
			}
			for _, line := range strings.Split(string(fls), "\n") {
				typ, rest, ok := strings.Cut(line, " ")
				if !ok || (typ != "r/r" && typ != "d/d") || strings.HasPrefix(rest, "*") {
					continue
				}
				_, p, _ := strings.Cut(rest, ":\t")
				if strings.HasPrefix(p, "$") || strings.Contains(p, "(Volume Label Entry)") {
					continue
				}
				if _, ok := ours["/"+strings.ToLower(p)]; !ok {
					t.Errorf("fls lists /%s (%s); we do not map it", p, typ)
				}
			}
		})
	}
}
