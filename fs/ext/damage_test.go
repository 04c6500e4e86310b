package ext

import (
	"bytes"
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

// damagedCopy writes a copy of img changed by fn (which may shorten it)
// and returns its path. The copy is sparse (cp --sparse=always) and only
// the 64 KiB chunks fn changed are written, so that copies of large,
// mostly empty images stay cheap.
func damagedCopy(t *testing.T, img string, fn func(b []byte) []byte) string {
	t.Helper()
	orig, err := os.ReadFile(img)
	must(t, err)
	b := fn(bytes.Clone(orig))
	out := filepath.Join(t.TempDir(), "damaged.img")
	testutil.Run(t, "", "cp", "--sparse=always", img, out)
	fh, err := os.OpenFile(out, os.O_WRONLY, 0)
	must(t, err)
	defer fh.Close()
	const chunk = 64 << 10
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		if !bytes.Equal(b[off:end], orig[off:end]) {
			_, err := fh.WriteAt(b[off:end], int64(off))
			must(t, err)
		}
	}
	must(t, fh.Truncate(int64(len(b))))
	must(t, fh.Close())
	return out
}

func zero(b []byte, off, n int64) {
	clear(b[off : off+n])
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
		damage          func(b []byte, bs, bpg int64)
		group           uint64
		full            bool // e2fsck -b, then fls, debugfs and dumpe2fs on its repair
	}{
		{"zeroed 1k", "ext4", "20M", []string{"-b", "1024"}, func(b []byte, bs, bpg int64) { zero(b, 1024, 1024) }, 1, true},
		{"zeroed 2k ext3", "ext3", "72M", []string{"-b", "2048"}, func(b []byte, bs, bpg int64) { zero(b, 1024, 1024) }, 1, true},
		{"zeroed 4k", "ext4", "160M", []string{"-b", "4096"}, func(b []byte, bs, bpg int64) { zero(b, 1024, 1024) }, 1, true},
		{"bad checksum", "ext4", "20M", []string{"-b", "1024"}, func(b []byte, bs, bpg int64) { b[1024+0x78] ^= 1 }, 1, false},
		{"absurd block size", "ext4", "20M", []string{"-b", "1024"}, func(b []byte, bs, bpg int64) { b[1024+0x18] = 30 }, 1, false},
		{"absurd blocks per group", "ext2", "20M", []string{"-b", "1024"}, func(b []byte, bs, bpg int64) { b[1024+0x22] = 0x40 }, 1, false},
		// Not mke2fs' default geometry: found through the damaged
		// primary's.
		{"bad magic, 4096 blocks per group", "ext4", "20M", []string{"-b", "1024", "-g", "4096"}, func(b []byte, bs, bpg int64) { b[1024+0x38] = 0 }, 1, false},
		{"group 1 zeroed too", "ext4", "40M", []string{"-b", "1024"}, func(b []byte, bs, bpg int64) {
			zero(b, 1024, 1024)
			zero(b, (1+bpg)*bs, 1024)
		}, 3, false},
		{"sparse_super2 last group", "ext4", "40M", []string{"-b", "1024", "-O", "sparse_super2"}, func(b []byte, bs, bpg int64) {
			zero(b, 1024, 1024)
			zero(b, (1+bpg)*bs, 1024)
		}, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pristine := mkfs(t, c.typ, src, c.size, c.opts...)
			pw := walkImage(t, pristine)
			bs, bpg := pw.f.bs, int64(pw.f.sb.blocksPerGroup)
			img := damagedCopy(t, pristine, func(b []byte) []byte { c.damage(b, bs, bpg); return b })
			w := walkImage(t, img)
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
			fixed := damagedCopy(t, img, func(b []byte) []byte { return b })
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
	b, err := os.ReadFile(img)
	must(t, err)
	if string(b[8193*1024+0x38:8193*1024+0x3A]) != "\x53\xef" {
		t.Fatal("the old filesystem's backup at 8193 KiB did not survive: the test proves nothing")
	}
	zero(b, 1024, 1024)
	damaged := filepath.Join(t.TempDir(), "damaged.img")
	must(t, os.WriteFile(damaged, b, 0o644))
	w := walkImage(t, damaged)
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
	img := damagedCopy(t, pristine, func(b []byte) []byte { zero(b, 1024, 1024); return b })
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
func corruptDesc(b []byte, w *walked, tbl, g uint64) {
	off := int64(tbl)*w.f.bs + int64(g)*w.f.sb.descSizeBytes()
	put := func(o int64, v uint32) {
		b[off+o], b[off+o+1], b[off+o+2], b[off+o+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	put(0x08, uint32(w.f.sb.blocksCount+100))
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
			pw := walkImage(t, pristine)
			ipg := uint64(pw.f.sb.inodesPerGroup)
			inGroup1 := 0
			for _, e := range pw.entries {
				if e.Kind != fs.KindMeta && (e.Inode-1)/ipg == 1 {
					inGroup1++
				}
			}
			if inGroup1 == 0 {
				t.Fatal("no inode in group 1: the test would prove nothing")
			}
			backupTbl := pw.f.groupFirstBlock(1) + 1
			t.Run("primary bad", func(t *testing.T) {
				img := damagedCopy(t, pristine, func(b []byte) []byte { corruptDesc(b, pw, pw.f.gdtBlocks[0], 1); return b })
				w := walkImage(t, img)
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
				img := damagedCopy(t, pristine, func(b []byte) []byte {
					corruptDesc(b, pw, pw.f.gdtBlocks[0], 1)
					corruptDesc(b, pw, backupTbl, 1)
					return b
				})
				w := walkImage(t, img)
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
					if e.Kind != fs.KindMeta && (e.Inode-1)/ipg == 1 {
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
			pw := walkImage(t, pristine)
			bs := pw.f.bs
			// Garble the inode table block holding /d2/f3's inode.
			blk := inodeOffset(t, pristine, "/d2/f3", bs) / bs
			garbled := map[uint64]bool{}
			for _, e := range pw.entries {
				if e.Kind != fs.KindMeta && pw.f.inodeOff(uint32(e.Inode))/bs == blk {
					garbled[e.Inode] = true
				}
			}
			img := damagedCopy(t, pristine, func(b []byte) []byte {
				r := rand.New(rand.NewPCG(uint64(blk), 7))
				for i := blk * bs; i < (blk+1)*bs; i++ {
					b[i] = byte(r.Uint32())
				}
				return b
			})
			w := walkImage(t, img)
			t.Logf("%d inodes in the garbled block; %d warnings; %+v", len(garbled), len(w.warns), w.f.Damage())
			if len(w.warns) == 0 || len(w.warns) > len(garbled)*(maxInodeWarns+2) {
				t.Errorf("%d warnings for %d garbled inodes", len(w.warns), len(garbled))
			}
			// Every path of the pristine image is in the walk or
			// warned about; every inode outside the garbled block is
			// mapped as debugfs maps it on the pristine image.
			w.holdsDebugfsTree(t, pristine, nil)
			kept := &walked{f: w.f, img: w.img}
			for _, e := range w.entries {
				if e.Kind == fs.KindMeta || !garbled[e.Inode] {
					kept.entries = append(kept.entries, e)
				}
			}
			kept.checkAgainstDebugfs(t, pristine)
			if w.f.sb.hasMetaCsum() {
				for _, e := range w.entries {
					if e.Kind != fs.KindMeta && garbled[e.Inode] && len(e.Extents) > 0 {
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
		writeFile(t, src, fmt.Sprintf("d%d/big", i), 2500<<10)
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
			img := damagedCopy(t, pristine, func(b []byte) []byte { return b[:cut] })
			w := walkImage(t, img)
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
			whole := &walked{f: w.f, img: w.img}
			cutNames := 0
			for _, e := range w.entries {
				named := false
				for _, err := range trunc {
					named = named || strings.Contains(err.Error(), "("+e.Path+")")
				}
				switch {
				case e.Kind == fs.KindMeta:
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
				if e.Kind != fs.KindFile {
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
