package ext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// Damage our own images the way disks get damaged (a zeroed superblock, a
// bad group descriptor, a garbled inode table block, a cut-short copy) and
// check the walk against what e2fsprogs reads with its backups (debugfs
// -s, e2fsck -b) or against the image before the damage.

// damageTree is a source tree spread over several groups: mke2fs -d
// places top-level directories in different groups (Orlov).
func damageTree(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	for d := range 6 {
		for f := range 8 {
			writeFile(t, src, fmt.Sprintf("d%d/f%d", d, f), 700*(f+1))
		}
		writeFile(t, src, fmt.Sprintf("d%d/sub/deep", d), 3000)
	}
	writeFile(t, src, "top.txt", 500)
	return src
}

// image is a copy of a test image being damaged in place.
type image struct {
	t *testing.T
	f *os.File
}

func (m image) put(off int64, b []byte) {
	m.t.Helper()
	_, err := m.f.WriteAt(b, off)
	must(m.t, err)
}

func (m image) zero(off, n int64) { m.put(off, make([]byte, n)) }

func (m image) put32(off int64, v uint32) {
	m.put(off, binary.LittleEndian.AppendUint32(nil, v))
}

func (m image) read(off, n int64) []byte {
	m.t.Helper()
	b := make([]byte, n)
	_, err := m.f.ReadAt(b, off)
	must(m.t, err)
	return b
}

// damagedCopy makes a sparse copy of img (cp --sparse=always), lets fn
// damage it in place and returns its path: images of 160 MiB stay cheap
// to copy, even under the race detector.
func damagedCopy(t *testing.T, img string, fn func(m image)) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "damaged.img")
	testutil.Run(t, "", "cp", "--sparse=always", img, out)
	fh, err := os.OpenFile(out, os.O_RDWR, 0)
	must(t, err)
	defer fh.Close()
	fn(image{t, fh})
	must(t, fh.Close())
	return out
}

// walkFile walks the image at path read through its *os.File (not
// loaded into memory: w.img is nil).
func walkFile(t *testing.T, path string) *walked {
	t.Helper()
	fh, err := os.Open(path)
	must(t, err)
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	must(t, err)
	f, err := New(fh, st.Size())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w := &walked{f: f}
	f.SetWarn(func(err error) { w.warns = append(w.warns, err) })
	if err := f.Walk(func(e fs.Entry) error {
		e.Extents = slices.Clone(e.Extents)
		w.entries = append(w.entries, e)
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return w
}

// warnedWith returns the warnings that wrap target.
func (w *walked) warnedWith(target error) []error {
	var out []error
	for _, err := range w.warns {
		if errors.Is(err, target) {
			out = append(out, err)
		}
	}
	return out
}

func TestBackupSuperblock(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "e2fsck", "fls", "dumpe2fs")
	t.Parallel()
	src := damageTree(t)
	cases := []struct {
		name, typ, size string
		opts            []string
		damage          func(m image, bs, bpg int64)
		group           uint64
		full            bool // e2fsck -b, then fls, debugfs and dumpe2fs on its repair
	}{
		{"zeroed 1k", "ext4", "20M", []string{"-b", "1024"}, func(m image, bs, bpg int64) { m.zero(1024, 1024) }, 1, true},
		{"zeroed 2k ext3", "ext3", "72M", []string{"-b", "2048"}, func(m image, bs, bpg int64) { m.zero(1024, 1024) }, 1, true},
		{"zeroed 4k", "ext4", "160M", []string{"-b", "4096"}, func(m image, bs, bpg int64) { m.zero(1024, 1024) }, 1, true},
		// 8 KiB blocks: 65528 blocks per group (mke2fs' cap), not 65536.
		{"zeroed 8k", "ext4", "600M", []string{"-b", "8192"}, func(m image, bs, bpg int64) { m.zero(1024, 1024) }, 1, false},
		{"bad checksum", "ext4", "20M", []string{"-b", "1024"}, func(m image, bs, bpg int64) { m.put(1024+0x78, []byte{m.read(1024+0x78, 1)[0] ^ 1}) }, 1, false},
		{"absurd block size", "ext4", "20M", []string{"-b", "1024"}, func(m image, bs, bpg int64) { m.put(1024+0x18, []byte{30}) }, 1, false},
		{"absurd blocks per group", "ext2", "20M", []string{"-b", "1024"}, func(m image, bs, bpg int64) { m.put(1024+0x22, []byte{0x40}) }, 1, false},
		// Not mke2fs' default geometry: found through the damaged
		// primary's.
		{"bad magic, 4096 blocks per group", "ext4", "20M", []string{"-b", "1024", "-g", "4096"}, func(m image, bs, bpg int64) { m.put(1024+0x38, []byte{0}) }, 1, false},
		{"group 1 zeroed too", "ext4", "40M", []string{"-b", "1024"}, func(m image, bs, bpg int64) {
			m.zero(1024, 1024)
			m.zero((1+bpg)*bs, 1024)
		}, 3, false},
		{"sparse_super2 last group", "ext4", "40M", []string{"-b", "1024", "-O", "sparse_super2"}, func(m image, bs, bpg int64) {
			m.zero(1024, 1024)
			m.zero((1+bpg)*bs, 1024)
		}, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pristine := mkfs(t, c.typ, src, c.size, c.opts...)
			pw := walkFile(t, pristine)
			bs, bpg := pw.f.bs, int64(pw.f.sb.blocksPerGroup)
			img := damagedCopy(t, pristine, func(m image) { c.damage(m, bs, bpg) })
			w := walkFile(t, img)
			d := w.f.Damage()
			if d.PrimarySuperblock == nil || d.BackupGroup != c.group {
				t.Fatalf("Damage() = %+v; want the backup of group %d", d, c.group)
			}
			if n := len(w.warnedWith(ErrBackupSuperblock)); n != 1 || len(w.warns) != 1 {
				t.Errorf("warnings %v; want one saying which backup is used", w.warns)
			}
			t.Logf("%v", w.warns[0])
			if !strings.Contains(w.warns[0].Error(), fmt.Sprintf("group %d at %#x", c.group, d.BackupOff)) {
				t.Errorf("warning %q does not name group %d at %#x", w.warns[0], c.group, d.BackupOff)
			}
			if !d.Complete() {
				t.Errorf("Damage() = %+v: something lost", d)
			}
			// debugfs with the same backup superblock lists the same
			// tree and maps every inode the same way.
			blk := strconv.FormatInt(d.BackupOff/bs, 10)
			args := []string{"-s", blk, "-b", strconv.FormatInt(bs, 10)}
			w.holdsDebugfsTree(t, img, args)
			w.checkAgainstDebugfsArgs(t, img, append([]string{"-n"}, args...))
			if !c.full {
				return
			}
			// e2fsck -b repairs a copy from the same backup: the walk of
			// the damaged image equals fls, debugfs and dumpe2fs on it.
			fixed := damagedCopy(t, img, func(image) {})
			runAllowExit(t, []int{0, 1}, "e2fsck", "-fy", "-b", blk, "-B", strconv.FormatInt(bs, 10), fixed)
			w.checkAgainstFls(t, fixed)
			w.checkAgainstDebugfsLs(t, fixed)
			w.checkAgainstDebugfs(t, fixed)
			w.checkAgainstDumpe2fs(t, fixed)
		})
	}
}

// TestStaleBackupSuperblock: a device made ext4 with 1 KiB blocks, then
// again with 4 KiB blocks (without discarding), keeps the old
// filesystem's backup in group 1 at 8193 KiB. With the primary zeroed, the
// walk must use the new filesystem's backup (the newer one), which is
// what debugfs -s 32768 -b 4096 reads.
func TestStaleBackupSuperblock(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "dumpe2fs")
	t.Parallel()
	img := filepath.Join(t.TempDir(), "reformatted.img")
	old := exec.Command("mkfs.ext4", "-q", "-F", "-b", "1024", "-E", "nodiscard", img, "160M")
	old.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000", "MKE2FS_CONFIG=/etc/mke2fs.conf")
	if out, err := old.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	src := damageTree(t)
	run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "nodiscard", "-d", src, img, "160M")
	damaged := damagedCopy(t, img, func(m image) {
		if string(m.read(8193*1024+0x38, 2)) != "\x53\xef" {
			t.Fatal("the old filesystem's backup at 8193 KiB did not survive: the test proves nothing")
		}
		m.zero(1024, 1024)
	})
	w := walkFile(t, damaged)
	d := w.f.Damage()
	if d.BackupOff != 32768*4096 || w.f.bs != 4096 {
		t.Fatalf("backup at %#x with %d-byte blocks; want the new filesystem's at %#x", d.BackupOff, w.f.bs, 32768*4096)
	}
	w.holdsDebugfsTree(t, damaged, []string{"-s", "32768", "-b", "4096"})
	w.checkAgainstDebugfsArgs(t, damaged, []string{"-n", "-s", "32768", "-b", "4096"})
}

// TestNoBackupSuperblock: a zeroed primary on a filesystem with one group
// (no backup) is no filesystem, as for e2fsck.
func TestNoBackupSuperblock(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "e2fsck")
	t.Parallel()
	pristine := mkfs(t, "ext4", "", "4M", "-b", "4096")
	img := damagedCopy(t, pristine, func(m image) { m.zero(1024, 1024) })
	b, err := os.ReadFile(img)
	must(t, err)
	if _, err := New(bytes.NewReader(b), int64(len(b))); err == nil || !strings.Contains(err.Error(), "no sound backup superblock") {
		t.Errorf("New: %v; want no backup found", err)
	}
	if code := exitCode(t, 20*time.Second, "e2fsck", "-fn", img); code != 8 {
		t.Errorf("e2fsck -fn exits %d, want 8 (no superblock)", code)
	}
}

// corruptDesc sets group g's inode table in the descriptor table at
// block tbl to a block past the filesystem.
func corruptDesc(m image, w *walked, tbl, g uint64) {
	off := int64(tbl)*w.f.bs + int64(g)*w.f.sb.descSizeBytes()
	m.put32(off+0x08, uint32(w.f.sb.blocksCount+100))
}

func TestDamagedGroupDescriptor(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls")
	t.Parallel()
	src := damageTree(t)
	for _, c := range []struct {
		name string
		opts []string
	}{
		{"ext4 flex_bg", []string{"-b", "1024"}},
		{"ext4 no flex_bg", []string{"-b", "1024", "-O", "^flex_bg"}},
		{"ext2", []string{"-b", "1024", "-t", "ext2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Few inodes per group, so that the tree fills group 0's
			// and goes on in group 1's.
			pristine := mkfs(t, "ext4", src, "24M", append(c.opts, "-N", "150")...)
			pw := walkFile(t, pristine)
			ipg := uint64(pw.f.sb.inodesPerGroup)
			inGroup1 := 0
			for _, e := range pw.entries {
				if e.Kind != bmap.KindMeta && (e.Inode-1)/ipg == 1 {
					inGroup1++
				}
			}
			if inGroup1 == 0 {
				t.Fatal("no inode in group 1: the test would prove nothing")
			}
			backupTbl := pw.f.groupFirstBlock(1) + 1
			t.Run("primary bad", func(t *testing.T) {
				img := damagedCopy(t, pristine, func(m image) { corruptDesc(m, pw, pw.f.gdtBlocks[0], 1) })
				w := walkFile(t, img)
				if d := w.f.Damage(); d.GroupsRecovered != 1 || !d.Complete() {
					t.Errorf("Damage() = %+v; want group 1 recovered from its backup", d)
				}
				if len(w.warns) != 1 || !strings.Contains(w.warns[0].Error(), fmt.Sprintf("using the backup copy at block %d", backupTbl)) {
					t.Errorf("warnings %v; want one saying group 1's backup copy is used", w.warns)
				}
				// Everything as on the image before the damage.
				w.checkAgainstFls(t, pristine)
				w.checkAgainstDebugfs(t, pristine)
				w.checkAgainstDumpe2fs(t, pristine)
			})
			t.Run("every copy bad", func(t *testing.T) {
				img := damagedCopy(t, pristine, func(m image) {
					corruptDesc(m, pw, pw.f.gdtBlocks[0], 1)
					corruptDesc(m, pw, backupTbl, 1)
				})
				w := walkFile(t, img)
				d := w.f.Damage()
				if d.GroupsDamaged != 1 || d.GroupsNoInodes != 1 || d.InodesSkipped == 0 || d.Complete() {
					t.Errorf("Damage() = %+v; want group 1's inodes lost", d)
				}
				if n := len(w.warnedWith(ErrGroupDamaged)); n != 1 {
					t.Errorf("%d warnings about a damaged group, want 1: %v", n, w.warns)
				}
				// Inodes of group 1 (and what lies below them) are
				// lost with a warning; the rest is as before.
				w.holdsDebugfsTree(t, pristine, nil)
				for _, e := range w.entries {
					if e.Kind != bmap.KindMeta && (e.Inode-1)/ipg == 1 {
						t.Errorf("%s: inode %d of the lost group mapped", e.Path, e.Inode)
					}
				}
				w.checkAgainstDebugfs(t, pristine)
				if len(w.warns) > inGroup1+2 {
					t.Errorf("%d warnings for %d lost inodes", len(w.warns), inGroup1)
				}
			})
		})
	}
}

func TestGarbledInodeTable(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs", "fls")
	t.Parallel()
	src := damageTree(t)
	for _, c := range []struct {
		name, typ string
		opts      []string
	}{
		{"ext4 metadata_csum", "ext4", []string{"-b", "1024", "-I", "256"}},
		{"ext4 no checksums", "ext4", []string{"-b", "1024", "-O", "^metadata_csum"}},
		{"ext2", "ext2", []string{"-b", "1024"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pristine := mkfs(t, c.typ, src, "24M", c.opts...)
			pw := walkFile(t, pristine)
			bs := pw.f.bs
			// Garble the inode table block holding /d2/f3's inode.
			blk := inodeOffset(t, pristine, "/d2/f3", bs) / bs
			garbled := map[uint64]bool{}
			for _, e := range pw.entries {
				if e.Kind != bmap.KindMeta && pw.f.inodeOff(uint32(e.Inode))/bs == blk {
					garbled[e.Inode] = true
				}
			}
			img := damagedCopy(t, pristine, func(m image) {
				r := rand.New(rand.NewPCG(uint64(blk), 7))
				b := make([]byte, bs)
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				m.put(blk*bs, b)
			})
			w := walkFile(t, img)
			t.Logf("%d inodes in the garbled block; %d warnings; %+v", len(garbled), len(w.warns), w.f.Damage())
			if len(w.warns) == 0 || len(w.warns) > len(garbled)*(maxInodeWarns+2) {
				t.Errorf("%d warnings for %d garbled inodes", len(w.warns), len(garbled))
			}
			// Every path of the pristine image is in the walk or
			// warned about; every inode outside the garbled block is
			// mapped as debugfs maps it on the pristine image.
			w.holdsDebugfsTree(t, pristine, nil)
			kept := &walked{f: w.f}
			for _, e := range w.entries {
				if e.Kind == bmap.KindMeta || !garbled[e.Inode] {
					kept.entries = append(kept.entries, e)
				}
			}
			kept.checkAgainstDebugfs(t, pristine)
			if w.f.sb.hasMetaCsum() {
				for _, e := range w.entries {
					if e.Kind != bmap.KindMeta && garbled[e.Inode] && len(e.Extents) > 0 {
						t.Errorf("%s: garbled inode %d mapped with extents %v", e.Path, e.Inode, e.Extents)
					}
				}
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs")
	t.Parallel()
	src := t.TempDir()
	for i := range 10 {
		// 2.5 MiB of a 64 KiB random pattern: writeFile's byte-by-byte
		// generator is slow under the race detector.
		writeFile(t, src, fmt.Sprintf("d%d/pattern", i), 64<<10)
		pat, err := os.ReadFile(filepath.Join(src, fmt.Sprintf("d%d/pattern", i)))
		must(t, err)
		must(t, os.Remove(filepath.Join(src, fmt.Sprintf("d%d/pattern", i))))
		must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("d%d/big", i)), append(bytes.Repeat(pat, 39), pat[:4<<10]...), 0o644))
		writeFile(t, src, fmt.Sprintf("d%d/small", i), 3000)
	}
	for _, c := range []struct {
		name string
		opts []string
	}{
		{"ext4 flex_bg", []string{"-b", "1024"}},
		{"ext4 no flex_bg", []string{"-b", "1024", "-O", "^flex_bg"}},
		{"ext3", []string{"-b", "1024", "-t", "ext3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pristine := mkfs(t, "ext4", src, "32M", c.opts...)
			const cut = 17 << 20
			img := damagedCopy(t, pristine, func(m image) { must(t, m.f.Truncate(cut)) })
			w := walkFile(t, img)
			d := w.f.Damage()
			if !d.Truncated || d.DeviceSize != cut || d.FSSize != 32<<20 || d.FilesTruncated == 0 || d.Complete() {
				t.Errorf("Damage() = %+v; want truncated with files cut", d)
			}
			trunc := w.warnedWith(ErrTruncated)
			if len(trunc) != len(w.warns) {
				t.Errorf("warnings other than truncation: %v", w.warns)
			}
			// Every extent lies on the device.
			for _, e := range w.entries {
				for _, x := range e.Extents {
					if x.End() > cut {
						t.Errorf("%s: extent %+v past the device's end", e.Path, x)
					}
				}
			}
			// What lies wholly on the device is mapped as debugfs maps
			// it on the whole image; what does not is named in a
			// warning.
			whole := &walked{f: w.f}
			cutNames := 0
			for _, e := range w.entries {
				named := false
				for _, err := range trunc {
					named = named || strings.Contains(err.Error(), "("+e.Path+")")
				}
				switch {
				case e.Kind == bmap.KindMeta:
				case named:
					cutNames++
				default:
					whole.entries = append(whole.entries, e)
				}
			}
			if cutNames != d.FilesTruncated {
				t.Errorf("%d entries named as cut, Damage().FilesTruncated %d", cutNames, d.FilesTruncated)
			}
			whole.checkAgainstDebugfs(t, pristine)
			w.holdsDebugfsTree(t, pristine, nil)
			t.Logf("%d entries wholly mapped, %d cut by the end; %+v", len(whole.entries), cutNames, d)
			// Read through io/fs: a file wholly on the device reads as
			// its source, a file cut by the end is an error, not zeros.
			read, refused := 0, 0
			for _, e := range w.entries {
				if e.Kind != bmap.KindFile {
					continue
				}
				got, err := iofs.ReadFile(w.f, strings.TrimPrefix(e.Path, "/"))
				if slices.ContainsFunc(whole.entries, func(x fs.Entry) bool { return x.Path == e.Path }) {
					want, rerr := os.ReadFile(filepath.Join(src, e.Path))
					must(t, rerr)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: read %d bytes, %v; want the source's %d", e.Path, len(got), err, len(want))
					}
					read++
				} else if !errors.Is(err, ErrTruncated) {
					t.Errorf("%s: cut by the end, read %d bytes, %v; want ErrTruncated", e.Path, len(got), err)
				} else {
					refused++
				}
			}
			if read == 0 || refused == 0 {
				t.Errorf("%d files read, %d refused: want some of each", read, refused)
			}
			if len(whole.entries) < 10 {
				t.Errorf("only %d entries wholly on the device", len(whole.entries))
			}
		})
	}
}
