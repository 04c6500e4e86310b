package ntfs

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The read API is checked against The Sleuth Kit: every path fls -r -p
// lists (streams and orphans left out) with its record number, every
// file's bytes against icat of the same attribute (resident, sparse,
// compressed, fragmented with an $ATTRIBUTE_LIST), and fstest.TestFS.

// flsEntry is one allocated name fls lists.
type flsEntry struct {
	rec  uint64
	addr string // "65-128-2": record, type and id of the unnamed $DATA or $I30
	dir  bool
}

// flsTree runs fls -r -p at sector offset off and returns the files and
// directories by path, and the set of paths that have named streams.
func flsTree(t testing.TB, img string, off int64) (map[string]flsEntry, map[string]bool) {
	t.Helper()
	out := testutil.Run(t, "", "fls", "-r", "-p", "-o", strconv.FormatInt(off, 10), img)
	files, streams := map[string]flsEntry{}, map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		typ, rest, ok := strings.Cut(line, " ")
		if !ok || (typ != "r/r" && typ != "d/d") || strings.HasPrefix(rest, "*") {
			continue
		}
		addr, name, ok := strings.Cut(rest, ":\t")
		if !ok || strings.HasPrefix(name, "$OrphanFiles") {
			continue
		}
		if base := name[strings.LastIndex(name, "/")+1:]; strings.Contains(base, ":") {
			streams[name[:strings.LastIndex(name, ":")]] = true
			continue
		}
		recS, _, _ := strings.Cut(addr, "-")
		rec, err := strconv.ParseUint(recS, 10, 64)
		must(t, err)
		files[name] = flsEntry{rec: rec, addr: addr, dir: typ == "d/d"}
	}
	return files, streams
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkAgainstTSK compares the tree and every file with fls and icat
// and runs fstest.TestFS. It returns the number of files compared.
func checkAgainstTSK(t *testing.T, img string, sector int64, r io.ReaderAt, size int64) int {
	f, err := New(r, size)
	must(t, err)
	want, streams := flsTree(t, img, sector)
	got := map[string]iofs.FileInfo{}
	err = iofs.WalkDir(f, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		got[p] = info
		return nil
	})
	must(t, err)
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: not found (fls: record %d)", p, w.rec)
		case g.Sys().(uint64) != w.rec || g.IsDir() != w.dir:
			t.Errorf("%s: record %v dir %v, fls %d dir %v", p, g.Sys(), g.IsDir(), w.rec, w.dir)
		}
	}
	// Records without unnamed $DATA ($Secure, $Extend/$Quota...) are
	// listed here; fls lists only their streams.
	for p := range got {
		if _, ok := want[p]; !ok && !streams[p] {
			t.Errorf("%s: not listed by fls", p)
		}
	}
	var files []string
	n := 0
	for p, w := range want {
		if w.dir {
			continue
		}
		files = append(files, p)
		data, err := readAll(f, p)
		if err != nil {
			t.Errorf("ReadFile(%q): %v", p, err)
			continue
		}
		n++
		cat := exec.Command("icat", "-o", strconv.FormatInt(sector, 10), img, w.addr)
		wantB, err := cat.Output()
		if err != nil {
			t.Errorf("icat %s: %v", w.addr, err)
			continue
		}
		if !bytes.Equal(data, wantB) {
			i := 0
			for i < min(len(data), len(wantB)) && data[i] == wantB[i] {
				i++
			}
			t.Errorf("ReadFile(%q): %d bytes, icat %s %d bytes; first difference at %d", p, len(data), w.addr, len(wantB), i)
		}
	}
	slices.Sort(files)
	if err := fstest.TestFS(f, files...); err != nil {
		t.Errorf("fstest.TestFS: %v", err)
	}
	return n
}

// readAll reads a file, skipping the ones a test should not hold in
// memory ($BadClus:$Bad is the volume's size, but unnamed $DATA is
// empty, so only $MFT-sized files here).
func readAll(f *FS, p string) ([]byte, error) { return iofs.ReadFile(f, p) }

func TestFilesFixtures(t *testing.T) {
	testutil.NeedTools(t, "fls", "icat")
	for _, name := range []string{"small", "small4k"} {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			img := filepath.Join(t.TempDir(), "img")
			must(t, os.WriteFile(img, b, 0o644))
			n := checkAgainstTSK(t, img, 0, bytes.NewReader(b), int64(len(b)))
			t.Logf("%d files compared with icat", n)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			if name == "small" {
				checkLookups(t, f)
			}
		})
	}
}

// checkLookups checks case-insensitive lookups, 8.3 aliases and the
// ReaderAt/Seeker of a compressed file.
func checkLookups(t *testing.T, f *FS) {
	for _, c := range []struct{ lookup, same string }{
		{"TINY", "tiny"},
		{"DIR/File-With-A-Long-Name-7", "dir/file-with-a-long-name-7"},
		{"ÜNÏ", "ünï"},
	} {
		a, err := f.Stat(c.lookup)
		if err != nil {
			t.Errorf("Stat(%q): %v", c.lookup, err)
			continue
		}
		b, err := f.Stat(c.same)
		must(t, err)
		if a.Sys() != b.Sys() || a.Name() != b.Name() {
			t.Errorf("Stat(%q) = %s #%v, Stat(%q) = %s #%v", c.lookup, a.Name(), a.Sys(), c.same, b.Name(), b.Sys())
		}
	}
	// The fixtures have no DOS 8.3 names (libntfs-3g writes none), so
	// lookups by alias are not covered here.
	for _, p := range []string{"nope", "tiny/x", "/tiny", "tiny:s"} {
		if _, err := f.Open(p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	// ReadAt and Seek on a compressed file agree with a whole read.
	whole, err := iofs.ReadFile(f, "big")
	must(t, err)
	fl, err := f.Open("big")
	must(t, err)
	defer fl.Close()
	buf := make([]byte, 5000)
	for _, off := range []int64{0, 4000, 8191, 16000, 19999} {
		n, err := fl.(io.ReaderAt).ReadAt(buf, off)
		end := min(off+5000, int64(len(whole)))
		if n != int(end-off) || !bytes.Equal(buf[:n], whole[off:end]) || (n < 5000) != (err == io.EOF) {
			t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	if p, err := fl.(io.Seeker).Seek(-7, io.SeekEnd); err != nil || p != int64(len(whole))-7 {
		t.Errorf("Seek = %d, %v", p, err)
	}
}

// TestFilesTestImage builds testimages' ntfs.img and checks both
// partitions against fls and icat.
func TestFilesTestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ntfs.img")
	}
	for _, tool := range []string{"mkntfs", "ntfsinfo", "sfdisk", "istat", "fls", "icat", "blkid", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
		t.Skip("libntfs-3g headers (ntfs-3g-dev) not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "testimages", "ntfs.sh"), dir)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testimages/ntfs.sh: %v\n%s", err, out)
	}
	imgPath := filepath.Join(dir, "ntfs.img")
	img, err := os.Open(imgPath)
	must(t, err)
	defer img.Close()
	layout, err := os.ReadFile(filepath.Join(dir, "ntfs.layout"))
	must(t, err)
	parts := 0
	for line := range strings.Lines(string(layout)) {
		fl := strings.Fields(line)
		if len(fl) != 4 || fl[3] != "ntfs" {
			continue
		}
		start, err1 := strconv.ParseInt(fl[1], 10, 64)
		n, err2 := strconv.ParseInt(fl[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("ntfs.layout: %q", line)
		}
		parts++
		t.Run(strings.TrimPrefix(fl[0], "/dev/"), func(t *testing.T) {
			k := checkAgainstTSK(t, imgPath, start, io.NewSectionReader(img, start*512, n*512), n*512)
			t.Logf("%d files compared with icat", k)
		})
	}
	if parts != 2 {
		t.Errorf("ntfs.layout names %d NTFS partitions, want 2", parts)
	}
}

// TestLZNT1 checks the decompressor on hand-made streams: literals, a
// back-reference (run-length), an uncompressed chunk, and bad input.
func TestLZNT1(t *testing.T) {
	lit := []byte{0x05, 0xB0, 0x00, 'a', 'b', 'c', 'd', 'e', 'f'} // 6 bytes: header length-1 = 6+1-1
	lit[0], lit[1] = byte(7-1), 0xB0
	// "abcabcabc...": 3 literals then a back-reference of offset 3,
	// length 3+12=15 at position 3 (lg = 0: offset bits 4, length 12).
	tok := uint16((3-1)<<12 | (15 - 3))
	rle := []byte{0, 0, 0x08, 'a', 'b', 'c', byte(tok), byte(tok >> 8)}
	rle[0], rle[1] = byte(len(rle)-2-1), 0xB0
	raw := make([]byte, 4096)
	for i := range raw {
		raw[i] = byte(i)
	}
	unc := append([]byte{0xFF, 0x3F}, raw...) // 4096 bytes, not compressed
	for _, c := range []struct {
		name    string
		src     []byte
		want    []byte
		wantErr bool
	}{
		{"literals", lit[:], []byte("abcdef"), false},
		{"back-reference", rle, []byte("abcabcabcabcabcabc"), false},
		{"uncompressed chunk", unc, raw, false},
		{"reference before the chunk", []byte{3, 0xB0, 0x01, 0x00, 0x10}, nil, true},
		{"chunk past the input", []byte{0xFF, 0xBF, 1, 2}, nil, true},
		{"empty", nil, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := make([]byte, 8192)
			err := lznt1Decompress(dst, c.src)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err == nil {
				if !bytes.Equal(dst[:len(c.want)], c.want) || slices.ContainsFunc(dst[len(c.want):], func(b byte) bool { return b != 0 }) {
					t.Errorf("got %q..., want %q then zeros", dst[:min(len(dst), len(c.want)+8)], c.want)
				}
			}
		})
	}
}

// TestFilesCorrupt damages a compressed file's data and a directory's
// index and expects errors naming the file, not panics.
func TestFilesCorrupt(t *testing.T) {
	b4 := fixture(t, "small4k")
	f4, err := New(bytes.NewReader(b4), int64(len(b4)))
	must(t, err)
	text, err := f4.resolve("t", "c/text")
	must(t, err)
	if text.compUnit == 0 {
		t.Fatal("c/text is not compressed")
	}
	b1 := fixture(t, "small")
	f1, err := New(bytes.NewReader(b1), int64(len(b1)))
	must(t, err)
	dir, err := f1.resolve("t", "dir")
	must(t, err)
	for _, c := range []struct {
		name, path string
		img        []byte
		off        int64
		b          []byte
	}{
		{"compressed chunk past its unit", "c/text", b4, text.runs[0].LCN * f4.boot.clusterSize, []byte{0xFF, 0xBF}},
		{"compressed back-reference before the chunk", "c/text", b4, text.runs[0].LCN*f4.boot.clusterSize + 2, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"index record magic", "dir/nope", b1, dir.ixRuns[0].LCN * f1.boot.clusterSize, []byte("XXXX")},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(c.img)
			copy(b[c.off:], c.b)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			_, err = iofs.ReadFile(f, c.path)
			var pe *iofs.PathError
			var fe *diskerr.FormatError
			if !errors.As(err, &pe) || pe.Path != c.path || !errors.As(err, &fe) {
				t.Errorf("ReadFile: %v, want a PathError for %s with a diskerr.FormatError", err, c.path)
			}
		})
	}
}

// BenchmarkReadFile reads a 4 MiB file of random bytes (non-resident,
// uncompressed) from testimages' ntfs.img partition 1 when it can be
// built; else it uses the fixtures' largest file.
func BenchmarkReadFile(b *testing.B) {
	data := fixture(b, "small4k")
	f, err := New(bytes.NewReader(data), int64(len(data)))
	must(b, err)
	fi, err := f.Stat("large")
	must(b, err)
	b.SetBytes(fi.Size())
	for b.Loop() {
		if _, err := iofs.ReadFile(f, "large"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWalkDir(b *testing.B) {
	data := fixture(b, "small")
	f, err := New(bytes.NewReader(data), int64(len(data)))
	must(b, err)
	for b.Loop() {
		if err := iofs.WalkDir(f, ".", func(string, iofs.DirEntry, error) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
