package scan

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fuzzDisk lays the fs/ext fixture filesystems (built by
// fs/ext/testdata/mkfixtures.sh) out as an MBR disk: a primary partition
// holding small-ext4 and an extended partition whose EBR chain holds
// small-ext2 and small-ext4-inline as logical partitions 5 and 6. It is
// small enough for the fuzzer to run the whole pipeline many times a
// second.
func fuzzDisk(t testing.TB) []byte {
	t.Helper()
	load := func(name string) []byte {
		return testutil.Gunzip(t, filepath.Join("..", "fs", "ext", "testdata", name))
	}
	ext4, ext2, inline := load("small-ext4.img.gz"), load("small-ext2.img.gz"), load("small-ext4-inline.img.gz")
	const sec = 512
	lba := func(n int) uint32 { return uint32(n / sec) }
	p1 := 64 << 10
	ext := p1 + len(ext4)
	l5 := ext + 64<<10
	ebr2 := l5 + len(ext2)
	l6 := ebr2 + 64<<10
	size := l6 + len(inline)
	disk := make([]byte, size)
	entry := func(b []byte, slot int, typ byte, start, count uint32) {
		e := b[446+16*slot:]
		e[4] = typ
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], count)
	}
	sig := func(b []byte) { b[510], b[511] = 0x55, 0xaa }
	entry(disk, 0, 0x83, lba(p1), lba(len(ext4)))
	entry(disk, 1, 0x05, lba(ext), lba(size-ext))
	sig(disk)
	// EBR 1 at the start of the extended partition: logical 5 relative to
	// itself, link to EBR 2 relative to the extended partition.
	entry(disk[ext:], 0, 0x83, lba(l5-ext), lba(len(ext2)))
	entry(disk[ext:], 1, 0x05, lba(ebr2-ext), lba(size-ebr2))
	sig(disk[ext:])
	entry(disk[ebr2:], 0, 0x83, lba(l6-ebr2), lba(len(inline)))
	sig(disk[ebr2:])
	copy(disk[p1:], ext4)
	copy(disk[l5:], ext2)
	copy(disk[l6:], inline)
	return disk
}

// TestFuzzDisk checks the seed disk itself maps all three filesystems, so
// the fuzzer starts from a disk that reaches every walker.
func TestFuzzDisk(t *testing.T) {
	disk := fuzzDisk(t)
	var warns []error
	sums, err := Disk(bmap.NewBuilder(), 1, "fuzz", bytes.NewReader(disk), int64(len(disk)),
		Options{Warn: func(err error) { warns = append(warns, err) }})
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warnings %v", err, warns)
	}
	var devs []string
	for _, s := range sums {
		if s.FS != "" && s.Files > 0 {
			devs = append(devs, s.Device+"="+s.FS)
		}
	}
	if got := len(devs); got != 3 {
		t.Fatalf("walked %v, want sda1, sda5, sda6 with files (summaries %+v)", devs, sums)
	}
}

// FuzzDisk runs the whole pipeline on the seed disk with a patch written
// at any offset: partition table, EBR chain, superblocks, inodes,
// directories. Every object must stay inside the disk, the text and JSON
// forms written must read back, and lookups must not panic.
func FuzzDisk(f *testing.F) {
	disk := fuzzDisk(f)
	f.Add(uint32(446+4), []byte{0xee})                  // protective MBR: a GPT that is not there
	f.Add(uint32(446+16+8), []byte{0, 0, 0, 0})         // extended partition at LBA 0: EBR loop
	f.Add(uint32(64<<10+1024+0x38), []byte{0, 0})       // sda1 superblock magic
	f.Add(uint32(64<<10+1024+0x18), []byte{9, 0, 0, 0}) // sda1 block size
	f.Add(uint32(64<<10+0x2000), bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		img := bytes.Clone(disk)
		if int(off) < len(img) {
			copy(img[off:], patch)
		}
		b := bmap.NewBuilder()
		if _, err := Disk(b, 1, "fuzz", bytes.NewReader(img), int64(len(img)), Options{Warn: func(error) {}}); err != nil {
			t.Fatalf("Disk failed on a readable image: %v", err)
		}
		m := b.Map()
		for _, o := range m.Objects {
			for _, e := range o.Extents {
				if e.Off < 0 || e.Len <= 0 || e.End() > int64(len(img)) {
					t.Fatalf("%c %s %s: extent [%#x,%#x) outside the disk (%#x)", o.Kind, o.Device, o.Path, e.Off, e.End(), len(img))
				}
			}
		}
		for _, form := range []struct {
			write func(*bytes.Buffer, *bmap.Map) error
		}{
			{func(w *bytes.Buffer, m *bmap.Map) error { return bmap.WriteText(w, m) }},
			{func(w *bytes.Buffer, m *bmap.Map) error { return bmap.WriteJSON(w, m) }},
		} {
			var buf bytes.Buffer
			if err := form.write(&buf, m); err != nil {
				t.Fatal(err)
			}
			back, err := bmap.Read(&buf)
			if err != nil {
				t.Fatalf("our own map does not read back: %v", err)
			}
			ix := bmap.NewIndex(back)
			for _, at := range []int64{0, int64(off), int64(len(img)) - 1} {
				for _, h := range ix.Lookup(1, at, 4096) {
					if h.Object.Kind == bmap.KindDisk && h.Len <= 0 {
						t.Fatalf("empty hit on the disk at %#x", at)
					}
				}
			}
		}
	})
}
