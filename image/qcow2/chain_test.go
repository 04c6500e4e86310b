package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// openAndCheck opens path with Open (allowing the files in allow) and
// compares it with qemu-img's conversion of the same image (with its
// chain) to raw.
func openAndCheck(t *testing.T, path string, allow ...string) *Image {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "oracle.raw")
	imagetest.QemuImg(t, "convert", "-U", "-f", "qcow2", "-O", "raw", path, raw)
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Open(path, allow...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	checkInfo(t, path, img.Info())
	checkImage(t, img, want, raw)
	checkExtents(t, img, want)
	return img
}

// writes are qemu-io commands that leave every kind of cluster in an
// overlay: whole clusters, partial ones (copied up from the backing file),
// zero clusters over backing data, writes across L2 boundaries.
var writes = []string{
	"write -P 0xab 0 64k",
	"write -P 0xcd 100k 7k",
	"write -z 256k 128k",
	"write -P 0xef 1023k 3k",
	"write -z 2000k 4k",
	"write -P 0x11 3m 512",
	"discard 3200k 64k",
}

func TestOverlay(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	for _, c := range []struct{ name, baseOpts, topOpts string }{
		{"v3", "", ""},
		{"v2", "compat=0.10", "compat=0.10"},
		{"compressed-base", "c", ""},
		{"c512", "cluster_size=512", "cluster_size=512"},
		{"extl2-top", "", "extended_l2=on"},
		{"extl2-both-16k", "extended_l2=on,cluster_size=16k", "extended_l2=on,cluster_size=16k"},
		{"extl2-top-c2M", "cluster_size=2M", "extended_l2=on,cluster_size=2M"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.raw")
			makeSource(t, src, 4<<20, 11)
			base := filepath.Join(dir, "base.qcow2")
			args := []string{"convert", "-f", "raw", "-O", "qcow2"}
			if strings.HasPrefix(c.baseOpts, "c") {
				args = append(args, "-c")
			} else if c.baseOpts != "" {
				args = append(args, "-o", c.baseOpts)
			}
			imagetest.QemuImg(t, append(args, src, base)...)
			top := filepath.Join(dir, "top.qcow2")
			args = []string{"create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2"}
			if c.topOpts != "" {
				args = append(args, "-o", c.topOpts)
			}
			imagetest.QemuImg(t, append(args, top)...)
			imagetest.QemuIO(t, "qcow2", top, writes...)
			img := openAndCheck(t, top)
			if got := img.Info().BackingFile; got != "base.qcow2" {
				t.Errorf("BackingFile = %q", got)
			}
		})
	}
}

// TestExtendedL2Standalone writes subclusters of an extended-L2 image with
// no backing file: unallocated subclusters read as zeros.
func TestExtendedL2Standalone(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	p := filepath.Join(t.TempDir(), "x.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-o", "extended_l2=on", p, "4M")
	imagetest.QemuIO(t, "qcow2", p, "write -P 0xab 4k 8k", "write -z 64k 32k", "write -P 0x5a 130k 1k",
		"write -P 0x77 200k 100k", "write -z 210k 2k", "write -P 0x01 4095k 1k")
	img := openAndCheck(t, p)
	if !img.Info().ExtendedL2 {
		t.Error("ExtendedL2 not reported")
	}
}

// TestChainRelative builds base <- mid <- top in three directories, each
// naming its backing file relative to its own directory: "../" leaves the
// directory, so the chain is refused unless the user allows the files.
func TestChainRelative(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	root := t.TempDir()
	for _, d := range []string{"d1", "d2", "d3/sub"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(root, "src.raw")
	makeSource(t, src, 3<<20, 3)
	base := filepath.Join(root, "d1/base.qcow2")
	imagetest.QemuImg(t, "convert", "-c", "-f", "raw", "-O", "qcow2", src, base)
	mid := filepath.Join(root, "d2/mid.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", "../d1/base.qcow2", "-F", "qcow2", mid)
	imagetest.QemuIO(t, "qcow2", mid, "write -P 0x22 0 1m", "write -z 2m 64k")
	top := filepath.Join(root, "d3/sub/top.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", "../../d2/mid.qcow2", "-F", "qcow2", "-o", "extended_l2=on", top)
	imagetest.QemuIO(t, "qcow2", top, "write -P 0x33 512k 5k", "write -z 700k 2k")
	stamps := map[string]fileStamp{}
	for _, p := range []string{base, mid, top} {
		stamps[p] = stamp(t, p)
	}
	// Open from another working directory: names must not depend on it.
	t.Chdir(filepath.Join(root, "d1"))
	if img, err := Open(top); !errors.Is(err, chain.ErrOutside) {
		if img != nil {
			img.Close()
		}
		t.Fatalf("Open without --allow-backing: %v, want chain.ErrOutside", err)
	}
	if img, err := Open(top, mid); !errors.Is(err, chain.ErrOutside) || !strings.Contains(err.Error(), "../d1/base.qcow2") {
		if img != nil {
			img.Close()
		}
		t.Fatalf("Open allowing mid only: %v, want chain.ErrOutside naming base", err)
	}
	openAndCheck(t, top, mid, base)
	for p, s := range stamps {
		if stamp(t, p) != s {
			t.Errorf("%s changed", p)
		}
	}
}

func TestRawBacking(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	makeSource(t, base, 2<<20, 5)
	top := filepath.Join(dir, "top.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
	imagetest.QemuIO(t, "qcow2", top, "write -P 0x44 60k 10k")
	openAndCheck(t, top)
}

// TestShortBacking: a backing file smaller than the overlay reads as
// zeros past its end, also in the middle of a cluster.
func TestShortBacking(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	dir := t.TempDir()
	small := filepath.Join(dir, "small.raw")
	makeSource(t, small, 1<<20+3*512, 9)
	smallq := filepath.Join(dir, "small.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", small, smallq)
	for _, c := range []struct{ name, backing, format string }{
		{"raw", "small.raw", "raw"},
		{"qcow2", "small.qcow2", "qcow2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			top := filepath.Join(dir, "top-"+c.name+".qcow2")
			imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", c.backing, "-F", c.format, top, "5M")
			imagetest.QemuIO(t, "qcow2", top, "write -P 0x55 3m 4k")
			openAndCheck(t, top)
		})
	}
}

// withoutBackingFormat copies an overlay and renames its backing format
// extension to an unknown type (which readers ignore), so that the format
// must be found by magic: qemu-img 7 no longer makes such images.
func withoutBackingFormat(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var ext [4]byte
	binary.BigEndian.PutUint32(ext[:], extBackingFormat)
	i := bytes.Index(b[:v3HeaderLen+512], ext[:])
	if i < v3HeaderLen {
		t.Fatalf("no backing format extension in %s", src)
	}
	binary.BigEndian.PutUint32(b[i:], 0x7e570001)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBackingFormatByMagic(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	dir := t.TempDir()
	rawBase := filepath.Join(dir, "base.raw")
	makeSource(t, rawBase, 1<<20, 13)
	qBase := filepath.Join(dir, "base.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", "-c", rawBase, qBase)
	for _, c := range []struct{ base, format string }{{"base.raw", "raw"}, {"base.qcow2", "qcow2"}} {
		t.Run(c.format, func(t *testing.T) {
			with := filepath.Join(dir, "with-"+c.format+".qcow2")
			imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", c.base, "-F", c.format, with)
			imagetest.QemuIO(t, "qcow2", with, "write -P 0x66 64k 4k")
			top := filepath.Join(dir, "top-"+c.format+".qcow2")
			withoutBackingFormat(t, with, top)
			img := openAndCheck(t, top)
			if f := img.Info().BackingFormat; f != "" {
				t.Errorf("BackingFormat = %q, want none", f)
			}
		})
	}
}

func TestDataFile(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	for _, raw := range []string{"off", "on"} {
		t.Run("data_file_raw="+raw, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "img"), 0o755); err != nil {
				t.Fatal(err)
			}
			// qemu 7 resolves a relative data file name against its
			// working directory, we against the image's directory (as
			// for backing files): run qemu in the image's directory.
			imgDir := filepath.Join(dir, "img")
			p := filepath.Join(imgDir, "e.qcow2")
			runIn(t, imgDir, "qemu-img", "create", "-f", "qcow2", "-o", "data_file=e.data,data_file_raw="+raw, p, "3M")
			runIn(t, imgDir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x77 0 100k", "-c", "write -z 64k 8k", "-c", "write -P 0x78 2m 3k", p)
			t.Chdir(imgDir)
			img := openAndCheck(t, p)
			if img.Info().DataFile != "e.data" {
				t.Errorf("DataFile = %q", img.Info().DataFile)
			}
		})
	}
	t.Run("convert", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.raw")
		makeSource(t, src, 2<<20, 17)
		p := filepath.Join(dir, "c.qcow2")
		data := filepath.Join(dir, "c.data")
		imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", "-o", "data_file="+data, src, p)
		if img, err := Open(p); !errors.Is(err, chain.ErrOutside) {
			if img != nil {
				img.Close()
			}
			t.Fatalf("absolute data file name: %v, want chain.ErrOutside", err)
		}
		openAndCheck(t, p, data)
	})
}

// TestSnapshotsIgnored: an internal snapshot does not change what the
// active image reads.
func TestSnapshotsIgnored(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 2<<20, 19)
	p := filepath.Join(dir, "s.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, p)
	imagetest.QemuImg(t, "snapshot", "-c", "one", p)
	imagetest.QemuIO(t, "qcow2", p, "write -P 0x99 0 200k", "write -z 1m 64k")
	imagetest.QemuImg(t, "snapshot", "-c", "two", p)
	imagetest.QemuIO(t, "qcow2", p, "write -P 0x9a 100k 8k")
	img := openAndCheck(t, p)
	if n := img.Info().Snapshots; n != 2 {
		t.Errorf("Snapshots = %d, want 2", n)
	}
}

// TestDirty reads an image left dirty by a killed qemu-io (lazy refcounts).
func TestDirty(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	p := filepath.Join(t.TempDir(), "d.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-o", "lazy_refcounts=on", p, "1M")
	// qemu-io kills itself after the write: the image stays dirty.
	_ = exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x42 0 64k", "-c", "sigraise 9", p).Run()
	img := openAndCheck(t, p)
	if !img.Info().Dirty {
		t.Error("dirty bit not reported")
	}
}

// TestCorruptBit: an image qemu marked corrupt is still read (as qemu does
// read-only) and the bit is reported.
func TestCorruptBit(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io", "cmp")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeSource(t, src, 1<<20, 23)
	p := filepath.Join(dir, "c.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[79] |= incCorrupt
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img := openAndCheck(t, p)
	if !img.Info().Corrupt {
		t.Error("corrupt bit not reported")
	}
}

// TestChainErrors: loops, missing files and refused images give errors
// that name the file.
func TestChainErrors(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	mk := func(name string, opts ...string) string {
		p := filepath.Join(dir, name)
		imagetest.QemuImg(t, append(append([]string{"create", "-f", "qcow2"}, opts...), p, "1M")...)
		return p
	}
	rebase := func(p, backing string) {
		imagetest.QemuImg(t, "rebase", "-u", "-f", "qcow2", "-b", backing, "-F", "qcow2", p)
	}
	a, b := mk("a.qcow2"), mk("b.qcow2")
	rebase(a, "b.qcow2")
	rebase(b, "a.qcow2")
	self := mk("self.qcow2")
	rebase(self, "self.qcow2")
	mk("gone.qcow2")
	missing := mk("missing.qcow2", "-b", "gone.qcow2", "-F", "qcow2")
	os.Remove(filepath.Join(dir, "gone.qcow2"))
	mk("base.qcow2")
	mk("base2.qcow2")
	mk("mid2.qcow2", "-b", "base2.qcow2", "-F", "qcow2")
	midGone := mk("top2.qcow2", "-b", "mid2.qcow2", "-F", "qcow2")
	os.Remove(filepath.Join(dir, "base2.qcow2"))
	luks := filepath.Join(dir, "luks.qcow2")
	// qemu-img times PBKDF2 with getrusage, which sometimes measures
	// nothing on a loaded machine ("Unable to get accurate CPU usage"):
	// try again then.
	for try := 0; ; try++ {
		out, err := exec.Command("qemu-img", "create", "-f", "qcow2", "--object", "secret,id=sec0,data=abc",
			"-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=100", luks, "1M").CombinedOutput()
		if err == nil {
			break
		}
		if try == 4 {
			t.Fatalf("qemu-img create (LUKS): %v\n%s", err, out)
		}
	}
	aes := filepath.Join(dir, "aes.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "--object", "secret,id=sec0,data=abc",
		"-o", "encrypt.format=aes,encrypt.key-secret=sec0", aes, "1M")
	notq := filepath.Join(dir, "raw-named-qcow2.qcow2")
	os.WriteFile(notq, make([]byte, 4096), 0o644)
	wrongFmt := mk("wrong-format.qcow2", "-b", "base.qcow2", "-F", "qcow2")
	rebaseFmt := func(p, backing, f string) {
		imagetest.QemuImg(t, "rebase", "-u", "-f", "qcow2", "-b", backing, "-F", f, p)
	}
	rebaseFmt(wrongFmt, "raw-named-qcow2.qcow2", "qcow2")
	vmdkFmt := mk("vmdk-format.qcow2", "-b", "base.qcow2", "-F", "qcow2")
	rebaseFmt(vmdkFmt, "base.qcow2", "vmdk")

	for _, c := range []struct {
		name, path string
		want       []string
		is         error
	}{
		{"loop a-b-a", a, []string{"loop", "a.qcow2 -> " + b, "-> " + a}, ErrBackingLoop},
		{"self", self, []string{"loop", "self.qcow2"}, ErrBackingLoop},
		{"missing", missing, []string{`backing file "gone.qcow2"`, "no such file"}, os.ErrNotExist},
		{"missing-below-mid", midGone, []string{`"mid2.qcow2"`, `"base2.qcow2"`}, os.ErrNotExist},
		{"luks", luks, []string{"encrypted qcow2 (LUKS): not supported"}, nil},
		{"aes", aes, []string{"encrypted qcow2 (AES): not supported"}, nil},
		{"not-qcow2", notq, []string{"not a qcow2 image"}, nil},
		{"backing-not-qcow2", wrongFmt, []string{"raw-named-qcow2.qcow2", "not a qcow2 image"}, nil},
		{"backing-format-vmdk", vmdkFmt, []string{`backing format "vmdk" not supported`}, nil},
		{"no-such-image", filepath.Join(dir, "nope.qcow2"), []string{"nope.qcow2"}, os.ErrNotExist},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := Open(c.path)
			if err == nil {
				img.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
		})
	}
}

// TestNewWithoutOpener: New without an opener refuses an image that needs
// another file, saying so; with one it reads through it.
func TestNewWithoutOpener(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	imagetest.QemuImg(t, "create", "-f", "qcow2", filepath.Join(dir, "base.qcow2"), "1M")
	top := filepath.Join(dir, "top.qcow2")
	imagetest.QemuImg(t, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
	df := filepath.Join(dir, "df.qcow2")
	runIn(t, dir, "qemu-img", "create", "-f", "qcow2", "-o", "data_file=df.data", df, "1M")
	for p, want := range map[string]string{top: `backing file "base.qcow2", and no opener`, df: `external file "df.data", and no opener`} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(bytes.NewReader(b), int64(len(b)), nil, p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: New(nil opener) = %v, want %q", filepath.Base(p), err, want)
		}
	}
	// An opener that serves a raw backing file from memory.
	b, _ := os.ReadFile(top)
	backing := bytes.Repeat([]byte{0xaa}, 100000)
	o := &memOpener{data: backing}
	img, err := New(bytes.NewReader(b), int64(len(b)), o, top)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.asked) != 1 || o.asked[0] != "base.qcow2|qcow2" {
		t.Errorf("opener asked for %q", o.asked)
	}
	got := make([]byte, 1<<20)
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := append(backing, make([]byte, 1<<20-len(backing))...)
	if !bytes.Equal(got, want) {
		t.Errorf("read through the opener differs at %#x", imagetest.FirstDiff(got, want))
	}
}

// TestChainDepth: a chain longer than MaxChain is refused, naming the
// limit, and one of MaxChain images is read.
func TestChainDepth(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("l%03d.qcow2", i)) }
	imagetest.QemuImg(t, "create", "-f", "qcow2", name(0), "64k")
	for i := 1; i <= MaxChain; i++ {
		// -u: do not open the chain below, which would make this quadratic.
		imagetest.QemuImg(t, "create", "-f", "qcow2", "-u", "-b", filepath.Base(name(i-1)), "-F", "qcow2", name(i), "64k")
	}
	img, err := Open(name(MaxChain - 1))
	if err != nil {
		t.Fatalf("chain of %d: %v", MaxChain, err)
	}
	if _, err := img.ReadAt(make([]byte, 100), 1000); err != nil {
		t.Error(err)
	}
	img.Close()
	_, err = Open(name(MaxChain))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("longer than %d images", MaxChain)) {
		t.Errorf("chain of %d: %v", MaxChain+1, err)
	}
}
