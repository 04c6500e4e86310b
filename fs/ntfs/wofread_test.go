package ntfs

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs/ntfs/wof"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// wofFile is a system-compressed file of the test volume.
type wofFile struct {
	path, format string
	level        int
	data         []byte
}

// wofFiles are the files TestWOFRead writes: each format, text that
// compresses and random bytes that do not (chunks stored as they are),
// sizes that are not multiples of the chunk size, an empty file, one
// byte, several chunks, x86 code (LZX's E8 translation).
func wofFiles(t *testing.T) []wofFile {
	exe, err := os.ReadFile("/proc/self/exe")
	must(t, err)
	code := exe[4096:min(len(exe), 4096+100000)]
	var fs []wofFile
	for i, f := range []string{"xpress4k", "lzx", "xpress8k", "xpress16k"} {
		cs := []int{4096, 32768, 8192, 16384}[i]
		fs = append(fs,
			wofFile{"/" + f + "/text.txt", f, 50, wofText(3*cs+cs/3, uint64(i))},
			wofFile{"/" + f + "/random.bin", f, 50, wofRandom(cs+999, uint64(i))},
			wofFile{"/" + f + "/mixed.dll", f, 100, append(wofText(cs/2, 9), append(wofRandom(cs, 10), wofText(cs+1, 11)...)...)},
			wofFile{"/" + f + "/empty", f, 50, nil},
			wofFile{"/" + f + "/one", f, 50, []byte{'1'}},
			wofFile{"/" + f + "/code.exe", f, 50, code},
		)
	}
	return fs
}

func wofText(n int, seed uint64) []byte {
	words := strings.Fields("Windows System32 compact exe XPRESS LZX chunk offset table reparse point stream data file the of and a to in is")
	var b []byte
	x := seed*2654435761 + 7
	for len(b) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, words[x%uint64(len(words))]...)
		b = append(b, " \n"[x>>63])
	}
	return b[:n]
}

func wofRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 3
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 24)
	}
	return b
}

// buildWOFImage makes a volume with mkntfs and writes files into it with
// testimages/ntfs/mkwof.c (wimlib's compressors, libntfs-3g), the
// originals beside it. It returns the image, its bytes and the tool.
func buildWOFImage(t *testing.T, files []wofFile) (string, []byte, string) {
	t.Helper()
	testutil.NeedTools(t, "mkntfs", "gcc", "fls", "istat")
	for h, pkg := range map[string]string{"/usr/include/wimlib.h": "libwim-dev", "/usr/include/ntfs-3g/volume.h": "ntfs-3g-dev"} {
		if _, err := os.Stat(h); err != nil {
			t.Skipf("%s missing: install the Debian package %q", h, pkg)
		}
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "mkwof")
	testutil.Run(t, "", "gcc", "-O2", "-Wall", "-o", tool, filepath.Join("..", "..", "testimages", "ntfs", "mkwof.c"), "-lntfs-3g", "-lwim")
	img := filepath.Join(dir, "vol.img")
	const sectors = 16384
	must(t, os.WriteFile(img, nil, 0o644))
	must(t, os.Truncate(img, sectors*512))
	testutil.Run(t, "", "mkntfs", "-F", "-Q", "-T", "-q", "-c", "1024", "-s", "512", "-p", "0", "-H", "255", "-S", "63", img, strconv.Itoa(sectors))
	var m strings.Builder
	dirs := map[string]bool{}
	for i, f := range files {
		if d := filepath.Dir(f.path); !dirs[d] {
			dirs[d] = true
			fmt.Fprintf(&m, "dir\t%s\n", d)
		}
		orig := filepath.Join(dir, fmt.Sprintf("orig%d", i))
		must(t, os.WriteFile(orig, f.data, 0o644))
		fmt.Fprintf(&m, "wof\t%s\t%s\t%d\t%s\n", f.path, f.format, f.level, orig)
	}
	testutil.Run(t, m.String(), tool, "image", img)
	b, err := os.ReadFile(img)
	must(t, err)
	return img, b, tool
}

// TestWOFRead writes system-compressed files of every format with
// wimlib's compressors and checks: reading each through io/fs gives the
// original bytes (and what wimlib's decompressor gives, reading the
// image through libntfs-3g: mkwof cat); fstest.TestFS (on one
// directory); fls lists them
// with our record numbers; and the map of each is istat's clusters of
// its WofCompressedData stream, sized as the file.
func TestWOFRead(t *testing.T) {
	files := wofFiles(t)
	img, b, tool := buildWOFImage(t, files)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var names, paths []string
	for _, wf := range files {
		got, err := iofs.ReadFile(f, wf.path[1:])
		if err != nil {
			t.Errorf("%s: %v", wf.path, err)
			continue
		}
		if !bytes.Equal(got, wf.data) {
			t.Errorf("%s (%s): %d bytes read, %d written; first difference at %d", wf.path, wf.format, len(got), len(wf.data), firstDifference(got, wf.data))
		}
		paths = append(paths, wf.path)
		if strings.HasPrefix(wf.path, "/xpress8k/") {
			names = append(names, wf.path[len("/xpress8k/"):])
		}
	}
	// wimlib's decompressors, reading the image through libntfs-3g.
	out := t.TempDir()
	testutil.Run(t, "", tool, append([]string{"cat", img, out}, paths...)...)
	for i, wf := range files {
		ref, err := os.ReadFile(filepath.Join(out, strconv.Itoa(i)))
		must(t, err)
		if !bytes.Equal(ref, wf.data) {
			t.Errorf("%s: libntfs-3g and wimlib read %d bytes that differ from the original", wf.path, len(ref))
		}
	}
	// One directory: TestFS reads each file in many patterns, and
	// reads of compressed files are slow under the race detector.
	sub, err := iofs.Sub(f, "xpress8k")
	must(t, err)
	if err := fstest.TestFS(sub, names...); err != nil {
		t.Errorf("fstest.TestFS: %v", err)
	}
	es, warns, err := walkAll(t, b)
	must(t, err)
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	ours := byPath(es)
	fls, _ := flsTree(t, img, 0)
	for _, wf := range files {
		e, ok := ours[wf.path]
		if !ok {
			t.Errorf("%s: not in the walk", wf.path)
			continue
		}
		if w, ok := fls[wf.path[1:]]; !ok || w.rec != e.Inode {
			t.Errorf("%s: record %d, fls %+v", wf.path, e.Inode, w)
		}
		if _, ok := ours[wf.path+":"+wofStream]; ok {
			t.Errorf("%s: WofCompressedData reported as a stream of its own", wf.path)
		}
		if e.Size != int64(len(wf.data)) {
			t.Errorf("%s: size %d, want %d", wf.path, e.Size, len(wf.data))
		}
		is := istatClusters(t, img, e.Inode)
		if got, want := clustersOf(e, 1024), is[wofStream]; !slices.Equal(got, want) {
			t.Errorf("%s: clusters %v, istat's WofCompressedData %v", wf.path, short(got), short(want))
		}
		data := 0
		for _, x := range e.Extents {
			if x.Role == bmap.RoleData || x.Role == bmap.RoleInline {
				data++
			}
		}
		if data == 0 && len(wf.data) > 0 {
			t.Errorf("%s: no data extent: %+v", wf.path, e.Extents)
		}
	}
}

func firstDifference(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWOFDamage damages one file's WofCompressedData, reparse point and
// chunk table in the image and checks that reading it fails with a
// format error naming the record (and the chunk), never giving wrong
// bytes or zeros.
func TestWOFDamage(t *testing.T) {
	text := wofText(40000, 1)
	files := []wofFile{{"/d/text.txt", "xpress4k", 50, text}, {"/d/l.txt", "lzx", 50, wofText(70000, 2)}}
	_, b, _ := buildWOFImage(t, files)
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	type target struct {
		rec            uint64
		stream, rparse int64 // disk offsets of the stream's bytes and the reparse data
	}
	find := func(p string) target {
		n, err := f.resolve("open", p)
		must(t, err)
		s := n.wofStream
		ps, err := f.mapRange(s.runs, 0, 16, nil)
		must(t, err)
		i := bytes.Index(b[n.off:n.off+4096], []byte{0x17, 0, 0, 0x80})
		if i < 0 {
			t.Fatalf("%s: reparse tag not in its record", p)
		}
		return target{n.rec, ps[0].off, n.off + int64(i)}
	}
	for _, c := range []struct {
		name, path string
		damage     func(b []byte, x target)
		want       string
	}{
		{"table entry past the end", "d/text.txt", func(b []byte, x target) { copy(b[x.stream:], []byte{0xFF, 0xFF, 0xFF, 0x7F}) }, "chunk table entry 0"},
		{"table out of order", "d/text.txt", func(b []byte, x target) { copy(b[x.stream+4:], []byte{0, 0, 0, 0}) }, "out of order"},
		{"huffman table", "d/text.txt", func(b []byte, x target) { copy(b[x.stream+36:], bytes.Repeat([]byte{0x11}, 64)) }, "chunk 0"},
		{"lzx block header", "d/l.txt", func(b []byte, x target) { b[x.stream+8+1] = 0xE0 }, "chunk 0"},
		{"format", "d/text.txt", func(b []byte, x target) { b[x.rparse+20] = 9 }, "unknown compression"},
		{"provider WIM", "d/text.txt", func(b []byte, x target) { b[x.rparse+12] = 1 }, "WIM-backed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := find(c.path)
			d := slices.Clone(b)
			c.damage(d, x)
			f, err := New(bytes.NewReader(d), int64(len(d)))
			must(t, err)
			got, err := iofs.ReadFile(f, c.path)
			var fe *diskerr.FormatError
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("MFT record %d", x.rec)) {
				t.Fatalf("ReadFile = %d bytes, %v; want a format error of record %d with %q", len(got), err, x.rec, c.want)
			}
			if c.name == "provider WIM" && !errors.Is(err, wof.ErrWIMBacked) {
				t.Errorf("%v is not wof.ErrWIMBacked", err)
			}
			t.Log(err)
		})
	}
}
