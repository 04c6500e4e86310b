package fat

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The read API is checked against The Sleuth Kit (fls -r -p: every path
// and its address; icat: every file's bytes) and mtools (mcopy -n: every
// file's bytes by name), and with fstest.TestFS.

// flsTree returns path -> address of the allocated files and directories
// fls lists (its virtual $MBR, $FAT1... and the volume label left out).
func flsTree(t testing.TB, img string) map[string]uint64 {
	t.Helper()
	out := testutil.Run(t, "", "fls", "-r", "-p", img)
	res := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		typ, rest, ok := strings.Cut(line, " ")
		if !ok || (typ != "r/r" && typ != "d/d") || strings.HasPrefix(rest, "*") {
			continue
		}
		num, name, ok := strings.Cut(rest, ":\t")
		if !ok || strings.HasSuffix(name, "(Volume Label Entry)") {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		must(t, err)
		res[name] = n
	}
	return res
}

func TestFilesFixtures(t *testing.T) {
	testutil.NeedTools(t, "fls", "icat", "mcopy")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img, b := fixtureFile(t, name)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			want := flsTree(t, img)
			got := map[string]uint64{}
			var files []string
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
				got[p] = info.Sys().(uint64)
				if !d.IsDir() {
					files = append(files, p)
				}
				return nil
			})
			must(t, err)
			for p, n := range want {
				if g, ok := got[p]; !ok || g != n {
					t.Errorf("%s: address %d (found %v), fls %d", p, g, ok, n)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s: not listed by fls", p)
				}
			}
			for _, p := range files {
				data, err := iofs.ReadFile(f, p)
				if err != nil {
					t.Errorf("ReadFile(%q): %v", p, err)
					continue
				}
				icat := testutil.Run(t, "", "icat", img, strconv.FormatUint(got[p], 10))
				if string(data) != icat {
					t.Errorf("ReadFile(%q): %d bytes, icat %d differ", p, len(data), len(icat))
				}
				// mtools 4.0 cannot name characters outside the BMP.
				if strings.ContainsFunc(p, func(r rune) bool { return r > 0xFFFF }) {
					continue
				}
				cmd := exec.Command("mcopy", "-n", "-i", img, "::/"+p, "-")
				cmd.Env = append(cmd.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
				mc, err := cmd.Output()
				if err != nil {
					t.Errorf("mcopy %s: %v", p, err)
				} else if !bytes.Equal(data, mc) {
					t.Errorf("ReadFile(%q): %d bytes, mcopy %d differ", p, len(data), len(mc))
				}
			}
			if len(files) < 10 {
				t.Fatalf("only %d files", len(files))
			}
			if err := fstest.TestFS(f, files...); err != nil {
				t.Errorf("fstest.TestFS: %v", err)
			}
			checkCaseAndShort(t, f, img)
		})
	}
}

// checkCaseAndShort looks files up by other cases and by their 8.3
// names, which mdir lists.
func checkCaseAndShort(t *testing.T, f *FS, img string) {
	cmd := exec.Command("mdir", "-i", img, "::/")
	cmd.Env = append(cmd.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	must(t, err)
	if !bytes.Contains(out, []byte("ALONGF~1 CON")) {
		t.Fatalf("mdir does not list the 8.3 name ALONGF~1.CON:\n%s", out)
	}
	for _, c := range []struct{ lookup, same string }{
		{"HELLO.TXT", "hello.txt"},
		{"Hello.Txt", "hello.txt"},
		{"alongf~1.con", "A Long File Name.conf"},
		{"a long file name.CONF", "A Long File Name.conf"},
		{"DIR/SUB/Deeper/LARGE.BIN", "dir/sub/deeper/large.bin"},
		{"CASE3/readme.TXT", "case3/ReadMe.txt"},
		{"dir/CAFÉ-日本-😀.TXT", "dir/café-日本-😀.txt"},
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
	for _, p := range []string{"nope", "hello.txt/x", "dir/nope/x"} {
		_, err := f.Open(p)
		var pe *iofs.PathError
		if !errors.As(err, &pe) || pe.Path != p {
			t.Errorf("Open(%q): %v, want a PathError", p, err)
		}
	}
	if _, err := f.Open("nope"); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("Open(nope): %v", err)
	}
	if _, err := f.ReadLink("hello.txt"); !errors.Is(err, iofs.ErrInvalid) {
		t.Errorf("ReadLink: %v", err)
	}
	// mtools stamps entries with SOURCE_DATE_EPOCH (mkfixtures.sh).
	fi, err := f.Stat("hello.txt")
	must(t, err)
	if want := time.Unix(1700000000, 0).UTC(); !fi.ModTime().Equal(want) {
		t.Errorf("ModTime %v, want %v", fi.ModTime(), want)
	}
	// ReaderAt and Seeker on a fragmented file.
	whole, err := iofs.ReadFile(f, "frag/big")
	must(t, err)
	fl, err := f.Open("frag/big")
	must(t, err)
	defer fl.Close()
	buf := make([]byte, 3000)
	for _, off := range []int64{0, 1000, 5000, 11000, 12000} {
		n, err := fl.(io.ReaderAt).ReadAt(buf, off)
		end := min(off+3000, int64(len(whole)))
		if n != int(end-off) || (n < 3000) != (err == io.EOF) || !bytes.Equal(buf[:n], whole[off:end]) {
			t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	if _, err := fl.(io.Seeker).Seek(11990, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(fl)
	if err != nil || !bytes.Equal(rest, whole[11990:]) {
		t.Errorf("read after Seek: %d bytes, %v", len(rest), err)
	}
}

// TestFilesCorrupt breaks a file's chain and the root directory and
// expects errors naming the file, with an *diskerr.FormatError inside.
func TestFilesCorrupt(t *testing.T) {
	b0 := loadFixture(t, "fat16")
	f0, err := New(bytes.NewReader(b0), int64(len(b0)))
	must(t, err)
	p := f0.p
	tb := newTable(nil, p)
	fi, err := f0.Stat("frag/big")
	must(t, err)
	n := fi.(*fileInfo).n
	for _, c := range []struct {
		name string
		off  int64
		b    []byte
	}{
		{"chain loops", tb.volumeOff(n.cluster), []byte{byte(n.cluster), byte(n.cluster >> 8)}},
		{"chain ends early", tb.volumeOff(n.cluster), []byte{0xFF, 0xFF}},
		{"chain to a free cluster", tb.volumeOff(n.cluster), []byte{0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(b0)
			copy(b[c.off:], c.b)
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			_, err = iofs.ReadFile(f, "frag/big")
			var pe *iofs.PathError
			var fe *diskerr.FormatError
			if !errors.As(err, &pe) || !errors.As(err, &fe) || pe.Path != "frag/big" {
				t.Errorf("ReadFile: %v, want a PathError for frag/big with a diskerr.FormatError", err)
			}
		})
	}
}

// BenchmarkReadFile reads a 4 MiB file of a 64 MiB FAT32 volume built
// with mkfs.fat and mcopy.
func BenchmarkReadFile(b *testing.B) {
	testutil.NeedTools(b, "mkfs.fat", "mcopy")
	dir := b.TempDir()
	img, src := dir+"/fat.img", dir+"/big"
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	must(b, os.WriteFile(src, data, 0o644))
	testutil.Run(b, "", "mkfs.fat", "-C", "-F", "32", img, "65536")
	cmd := exec.Command("mcopy", "-i", img, src, "::/big")
	cmd.Env = append(cmd.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("mcopy: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(img)
	must(b, err)
	f, err := New(bytes.NewReader(raw), int64(len(raw)))
	must(b, err)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := iofs.ReadFile(f, "BIG")
		if err != nil || len(got) != len(data) {
			b.Fatal(len(got), err)
		}
	}
}

func BenchmarkWalkDir(b *testing.B) {
	data := loadFixture(b, "fat32")
	f, err := New(bytes.NewReader(data), int64(len(data)))
	must(b, err)
	for b.Loop() {
		if err := iofs.WalkDir(f, ".", func(string, iofs.DirEntry, error) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
