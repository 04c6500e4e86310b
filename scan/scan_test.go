package scan

import (
	"bytes"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/registry"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// sample unpacks the bundled sample disk: MBR, /dev/sda1 ext2 "boot" at
// 1 MiB, /dev/sda2 ext4 "root" at 9 MiB (see testimages/README.md).
func sample(t testing.TB) []byte {
	t.Helper()
	testutil.NeedTools(t, "xz")
	out, err := exec.Command("xz", "-dc", "../testimages/sample.img.xz").Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return out
}

func scanBytes(t *testing.T, img []byte) (*bmap.Map, []Summary, []string) {
	t.Helper()
	var warns []string
	b := bmap.NewBuilder()
	sums, err := Disk(b, 1, "sample.img", bytes.NewReader(img), int64(len(img)),
		Options{Warn: func(err error) { warns = append(warns, err.Error()) }})
	if err != nil {
		t.Fatalf("Disk: %v", err)
	}
	return b.Map(), sums, warns
}

func count(m *bmap.Map, dev string, k bmap.Kind) int {
	n := 0
	for _, o := range m.Objects {
		if o.Device == dev && o.Kind == k {
			n++
		}
	}
	return n
}

func TestSample(t *testing.T) {
	m, sums, warns := scanBytes(t, sample(t))
	if len(warns) != 0 {
		t.Errorf("warnings on a clean image: %q", warns)
	}
	if len(sums) != 2 || sums[0].FS != "ext2" || sums[1].FS != "ext4" || sums[0].Label != "boot" || sums[1].Label != "root" {
		t.Fatalf("summaries = %+v", sums)
	}
	for _, s := range sums {
		if s.Files != count(m, s.Device, bmap.KindFile) || s.Dirs != count(m, s.Device, bmap.KindDir) || s.Files == 0 {
			t.Errorf("%s: summary says %d files %d dirs, map has %d and %d", s.Device, s.Files, s.Dirs,
				count(m, s.Device, bmap.KindFile), count(m, s.Device, bmap.KindDir))
		}
	}
	// Every extent of a partition's objects lies inside the partition.
	for _, s := range sums {
		for _, o := range m.Objects {
			if o.Device != s.Device || o.Kind == bmap.KindPartition {
				continue
			}
			for _, e := range o.Extents {
				if e.Off < s.Start || e.End() > s.Start+s.Size {
					t.Errorf("%s %s extent [%#x,%#x) outside the partition [%#x,%#x)", o.Device, o.Path, e.Off, e.End(), s.Start, s.Start+s.Size)
				}
			}
		}
	}
}

// TestBrokenPartitionDoesNotStopOthers wipes the first partition's
// superblock magic: it stays mapped as a partition, with a warning that
// names it, and the second partition is walked as before.
func TestBrokenPartitionDoesNotStopOthers(t *testing.T) {
	img := sample(t)
	_, clean, _ := scanBytes(t, img)
	sb := clean[0].Start + 1024 + 0x38 // ext magic
	img[sb], img[sb+1] = 0, 0
	m, sums, warns := scanBytes(t, img)
	if sums[0].FS != "" || sums[0].Files != 0 {
		t.Errorf("broken sda1 summary = %+v", sums[0])
	}
	if count(m, "/dev/sda1", bmap.KindPartition) != 1 {
		t.Error("broken sda1 is not mapped as a partition")
	}
	if sums[1].Files != clean[1].Files || sums[1].Dirs != clean[1].Dirs {
		t.Errorf("sda2 walked %d/%d, want %d/%d", sums[1].Files, sums[1].Dirs, clean[1].Files, clean[1].Dirs)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %q for a partition with no filesystem", warns)
	}
	if sums[0].Status != bmap.StatusNotRecognised || !sums[0].Status.Unmapped() || sums[1].Status != bmap.StatusComplete {
		t.Errorf("statuses %q, %q; want not recognised, complete", sums[0].Status, sums[1].Status)
	}
	if len(m.Volumes) != 2 || m.Volumes[0].Status != bmap.StatusNotRecognised || m.Volumes[0].Device != "/dev/sda1" ||
		len(m.Volumes[0].Reasons) == 0 || m.Volumes[1].Files != clean[1].Files {
		t.Errorf("map's volumes = %+v", m.Volumes)
	}

	// A superblock that still has its magic but no inodes per group is
	// an error of the walker: warned, with the partition's name.
	img = sample(t)
	copy(img[clean[0].Start+1024+0x28:], []byte{0, 0, 0, 0}) // s_inodes_per_group
	_, sums, warns = scanBytes(t, img)
	if sums[0].Files != 0 || !strings.HasPrefix(sums[0].Note, "not walked") || sums[0].Status != bmap.StatusUnreadable {
		t.Errorf("sda1 with a bad block size: %+v", sums[0])
	}
	if len(warns) == 0 || !strings.Contains(warns[0], "/dev/sda1 at 0x100000") {
		t.Errorf("warnings %q do not name /dev/sda1 at its offset", warns)
	}
	if sums[1].Files != clean[1].Files {
		t.Errorf("sda2 walked %d files, want %d", sums[1].Files, clean[1].Files)
	}
}

// TestTruncatedImage cuts the sample in the middle of the second
// partition: it is clamped with a warning and what lies inside is mapped.
func TestTruncatedImage(t *testing.T) {
	img := sample(t)
	_, clean, _ := scanBytes(t, img)
	cut := clean[1].Start + clean[1].Size/2
	m, sums, warns := scanBytes(t, img[:cut])
	if len(sums) != 2 || sums[1].Size != cut-clean[1].Start {
		t.Fatalf("summaries = %+v", sums)
	}
	var clamped bool
	for _, w := range warns {
		clamped = clamped || strings.Contains(w, "clamped")
	}
	if !clamped {
		t.Errorf("no clamp warning in %q", warns)
	}
	for _, o := range m.Objects {
		for _, e := range o.Extents {
			if e.End() > cut {
				t.Fatalf("%s %s mapped past the image's end: %#x > %#x", o.Device, o.Path, e.End(), cut)
			}
		}
	}
	if sums[0].Files != clean[0].Files {
		t.Errorf("sda1 (intact) walked %d files, want %d", sums[0].Files, clean[0].Files)
	}
}

func TestEmptyImage(t *testing.T) {
	if _, err := Disk(bmap.NewBuilder(), 1, "empty", bytes.NewReader(nil), 0, Options{}); err == nil {
		t.Fatal("an empty image gave no error")
	}
}

func TestUnreadableImage(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // reads now fail with "file already closed"
	if _, err := Disk(bmap.NewBuilder(), 1, "closed", f, 1<<20, Options{}); err == nil || !strings.Contains(err.Error(), "/dev/sda") {
		t.Fatalf("err = %v", err)
	}
}

type panicWalker struct{ iofs.FS }

func (panicWalker) Info() fs.Info { return fs.Info{} }
func (panicWalker) Walk(func(fs.Entry) error) error {
	panic("index out of range [7] with length 4") // the kind of bug fuzzing is there to find
}

// TestWalkerPanicIsContained makes the ext4 walker panic: the partition is
// reported as not walked, with a warning, and the ext2 one is still mapped.
func TestWalkerPanicIsContained(t *testing.T) {
	img := sample(t)
	saved := openFS
	openFS = func(t fs.Type, r io.ReaderAt, size int64, warn fs.WarnFunc) (registry.Filesystem, error) {
		if t.Name == "ext4" {
			return panicWalker{}, nil
		}
		return saved(t, r, size, warn)
	}
	defer func() { openFS = saved }()
	_, sums, warns := scanBytes(t, img)
	if len(sums) != 2 || sums[0].Files == 0 || sums[1].Note != "walk failed: internal error" {
		t.Fatalf("summaries = %+v", sums)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "/dev/sda2") || !strings.Contains(warns[0], "a bug") {
		t.Fatalf("warnings = %q", warns)
	}
}

// TestNotes checks the summary's note on filesystems made by the real mkfs
// tools: the FAT variant for FAT (walked), why a partition's files are not
// in the map for the others.
func TestNotes(t *testing.T) {
	for _, c := range []struct {
		tool string
		args []string
		fs   string
		note string
	}{
		{"mkfs.vfat", []string{"-F", "32", "-n", "ESP"}, "vfat", "FAT32"},
		{"mkfs.vfat", []string{"-F", "12"}, "vfat", "FAT12"},
		{"mkntfs", []string{"-F", "-Q", "-q"}, "ntfs", ""},
		{"mkswap", nil, "swap", "swap: not walked"},
	} {
		t.Run(c.fs+" "+c.note, func(t *testing.T) {
			testutil.NeedTools(t, c.tool)
			p := testutil.SparseFile(t, 40<<20)
			testutil.Run(t, "", c.tool, append(c.args, p)...)
			img, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			_, sums, _ := scanBytes(t, img)
			if len(sums) != 1 || sums[0].FS != c.fs || sums[0].Note != c.note {
				t.Fatalf("summaries %+v, want %s with note %q", sums, c.fs, c.note)
			}
			// A walked filesystem has at least its root directory.
			if walked := c.fs != "swap"; walked != (sums[0].Dirs > 0) {
				t.Fatalf("summaries %+v: walked %v, want %v", sums, sums[0].Dirs > 0, walked)
			}
		})
	}
}

// TestTruncatedDisk cuts the sample image inside its second partition (as
// a download cut short): the partition is clamped to what is present,
// every file wholly inside is mapped as on the whole image, the files cut
// off are counted and named in one warning, and the status is partial.
func TestTruncatedDisk(t *testing.T) {
	img := sample(t)
	whole, _, _ := scanBytes(t, img)
	// Cut in the middle of sda2's file data.
	var ends []int64
	for _, o := range whole.Objects {
		if o.Kind == bmap.KindFile && o.Device == "/dev/sda2" {
			for _, e := range o.Extents {
				ends = append(ends, e.End())
			}
		}
	}
	slices.Sort(ends)
	cutAt := ends[len(ends)/2] - 2048
	m, sums, warns := scanBytes(t, img[:cutAt])
	if len(sums) != 2 || sums[0].Status != bmap.StatusComplete || sums[1].Status != bmap.StatusPartial {
		t.Fatalf("summaries %+v", sums)
	}
	var cutWarn string
	for _, w := range warns {
		if strings.Contains(w, "truncated: ") {
			if cutWarn != "" {
				t.Errorf("more than one truncation warning: %q", warns)
			}
			cutWarn = w
		}
	}
	if cutWarn == "" || !strings.Contains(cutWarn, "/dev/sda2") {
		t.Fatalf("no truncation warning naming /dev/sda2 in %q", warns)
	}
	// Every file of sda2 that lies wholly below the cut has the same
	// extents as in the whole image's map; none lies past it.
	type key struct{ dev, path string }
	full := map[key][]bmap.Extent{}
	for _, o := range whole.Objects {
		if o.Kind == bmap.KindFile {
			full[key{o.Device, o.Path}] = o.Extents
		}
	}
	inside, cut := 0, 0
	for _, o := range m.Objects {
		if o.Kind != bmap.KindFile || o.Device != "/dev/sda2" {
			continue
		}
		want := full[key{o.Device, o.Path}]
		end := int64(0)
		for _, e := range want {
			end = max(end, e.End())
		}
		for _, e := range o.Extents {
			if e.End() > cutAt {
				t.Errorf("%s: extent past the cut", o.Path)
			}
		}
		if end <= cutAt {
			inside++
			if fmt.Sprint(o.Extents) != fmt.Sprint(want) {
				t.Errorf("%s: extents %v, whole image %v", o.Path, o.Extents, want)
			}
		} else {
			cut++
		}
	}
	if inside == 0 || cut == 0 {
		t.Errorf("%d files inside the cut, %d cut off: the cut is not inside the file data", inside, cut)
	}
}

// TestBackupSuperblock zeroes the primary superblock of an ext4 made by
// mkfs.ext4 (1 KiB blocks: backups in groups 1, 3...): it is found and
// walked through the backup, as e2fsck -b does, every file mapped as on
// the undamaged copy, and since nothing was lost the status is complete.
func TestBackupSuperblock(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for i := range 30 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 3000*(i+1)), 0o644)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.Run(t, "", "truncate", "-s", "24M", img)
	testutil.Run(t, "", "mkfs.ext4", "-q", "-F", "-b", "1024", "-d", src, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	clean, csums, _ := scanBytes(t, b)
	clear(b[1024:2048])
	m, sums, warns := scanBytes(t, b)
	if len(sums) != 1 || sums[0].FS != "ext4" || sums[0].Status != bmap.StatusComplete || sums[0].Files != csums[0].Files ||
		!strings.Contains(sums[0].Note, "backup") {
		t.Fatalf("summary %+v (clean %+v)", sums, csums)
	}
	if len(warns) == 0 || !strings.Contains(warns[0], "using the backup in group 1") {
		t.Errorf("warnings %q", warns)
	}
	want := map[string]string{}
	for _, o := range clean.Objects {
		if o.Kind == bmap.KindFile {
			want[o.Path] = fmt.Sprint(o.Extents)
		}
	}
	n := 0
	for _, o := range m.Objects {
		if o.Kind == bmap.KindFile {
			n++
			if want[o.Path] != fmt.Sprint(o.Extents) {
				t.Errorf("%s: %v, undamaged %s", o.Path, o.Extents, want[o.Path])
			}
		}
	}
	if n != len(want) || n < 30 {
		t.Errorf("%d files mapped, %d on the undamaged copy", n, len(want))
	}
}
