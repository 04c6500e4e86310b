package volume

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// grubDisk is a 4 MiB MBR disk (one partition from sector 2048) with
// GRUB's boot.img in the MBR and a core.img made by grub-mkimage at sector
// 1, as grub-install embeds it; it returns the image and core.img's size.
func grubDisk(t *testing.T) ([]byte, int64) {
	t.Helper()
	testutil.NeedTools(t, "sfdisk", "grub-mkimage", "dd")
	const bootImg = "/usr/lib/grub/i386-pc/boot.img"
	if _, err := os.Stat(bootImg); err != nil {
		t.Skip(bootImg + " not found: install the Debian package 'grub-pc-bin'")
	}
	dir := t.TempDir()
	core := filepath.Join(dir, "core.img")
	testutil.Run(t, "", "grub-mkimage", "-O", "i386-pc", "-p", "(hd0,msdos1)/boot/grub", "-o", core, "biosdisk", "part_msdos", "ntfs")
	fi, err := os.Stat(core)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.SparseFile(t, 4<<20)
	testutil.Run(t, "label: dos\nlabel-id: 0x0b00c0de\nstart=2048, type=7, bootable\n", "sfdisk", "-q", p)
	testutil.Run(t, "", "dd", "if="+bootImg, "of="+p, "bs=440", "count=1", "conv=notrunc", "status=none")
	testutil.Run(t, "", "dd", "if="+core, "of="+p, "bs=512", "seek=1", "conv=notrunc", "status=none")
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return img, fi.Size()
}

// structures opens img and returns its disk's structures by name.
func structures(t *testing.T, img []byte) map[string]Structure {
	t.Helper()
	st, err := Open([]Disk{{Index: 1, Image: "test.img", R: bytes.NewReader(img), Size: int64(len(img))}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Structure{}
	for _, d := range st.Devices {
		if d.Kind == KindDisk {
			for _, s := range d.Structures {
				out[s.Name] = s
			}
		}
	}
	return out
}

// TestBootCodeGRUB: GRUB's boot.img in the MBR and grub-mkimage's core.img
// in the gap are named, core.img with the length grub-mkimage wrote
// (rounded up to whole sectors); the partition table is still read.
func TestBootCodeGRUB(t *testing.T) {
	img, coreSize := grubDisk(t)
	s := structures(t, img)
	if got, ok := s["MBR boot code (GRUB)"]; !ok || got.Off != 0 || got.Len != 440 {
		t.Errorf("MBR boot code (GRUB): %+v (found %v), want bytes 0-440", got, ok)
	}
	want := (coreSize + 511) / 512 * 512
	if got, ok := s["GRUB core.img"]; !ok || got.Off != 512 || got.Len != want {
		t.Errorf("GRUB core.img: %+v (found %v), want offset 512, %d bytes (grub-mkimage wrote %d)", got, ok, want, coreSize)
	}
	if _, ok := s["MBR"]; !ok {
		t.Errorf("the MBR itself is no longer named: %v", s)
	}
}

// TestBootCodeSYSLINUX: SYSLINUX's mbr.bin is named; no core.img.
func TestBootCodeSYSLINUX(t *testing.T) {
	testutil.NeedTools(t, "sfdisk", "dd")
	const mbrBin = "/usr/lib/syslinux/mbr/mbr.bin"
	if _, err := os.Stat(mbrBin); err != nil {
		t.Skip(mbrBin + " not found: install the Debian package 'syslinux-common'")
	}
	p := testutil.SparseFile(t, 4<<20)
	testutil.Run(t, "label: dos\nstart=2048, type=6, bootable\n", "sfdisk", "-q", p)
	testutil.Run(t, "", "dd", "if="+mbrBin, "of="+p, "bs=440", "count=1", "conv=notrunc", "status=none")
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := structures(t, img)
	if got, ok := s["MBR boot code (SYSLINUX)"]; !ok || got.Off != 0 || got.Len != 440 {
		t.Errorf("MBR boot code (SYSLINUX): %+v (found %v); structures %v", got, ok, s)
	}
	for name := range s {
		if strings.Contains(name, "GRUB") || strings.Contains(name, "Windows") {
			t.Errorf("SYSLINUX's MBR also named %q", name)
		}
	}
}

// TestBootCodeNone: a table sfdisk wrote (no code) names no boot code.
func TestBootCodeNone(t *testing.T) {
	testutil.NeedTools(t, "sfdisk")
	p := testutil.SparseFile(t, 4<<20)
	testutil.Run(t, "label: dos\nstart=2048, type=83\n", "sfdisk", "-q", p)
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for name := range structures(t, img) {
		if strings.Contains(name, "boot code") || strings.Contains(name, "core.img") {
			t.Errorf("an empty MBR code area named %q", name)
		}
	}
}

// TestBootCodeCorrupt: GRUB's boot.img with a damaged pointer to core.img,
// or core.img's block list damaged: the MBR code is still named, core.img
// is not (no guess at its length), nothing panics.
func TestBootCodeCorrupt(t *testing.T) {
	img, coreSize := grubDisk(t)
	le16 := binary.LittleEndian.PutUint16
	le64 := binary.LittleEndian.PutUint64
	for _, c := range []struct {
		name string
		mut  func(b []byte)
	}{
		{"kernel sector 0", func(b []byte) { le64(b[0x5c:], 0) }},
		{"kernel sector past the disk", func(b []byte) { le64(b[0x5c:], 1<<40) }},
		{"kernel sector at the last sector", func(b []byte) { le64(b[0x5c:], uint64(len(b)/512-1)) }},
		{"kernel sector huge", func(b []byte) { le64(b[0x5c:], ^uint64(0)) }},
		{"block list start elsewhere", func(b []byte) { le64(b[512+0x1f4:], 7) }},
		{"block list length 0", func(b []byte) { le16(b[512+0x1fc:], 0) }},
		{"block list longer than the gap", func(b []byte) { le16(b[512+0x1fc:], 0xffff) }},
		{"load segment wrong", func(b []byte) { le16(b[512+0x1fe:], 0x7c0) }},
		{"a second block list entry", func(b []byte) { le16(b[512+0x1f0:], 5) }},
		{"core.img zeroed", func(b []byte) { clear(b[512:1024]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(img)
			c.mut(b)
			s := structures(t, b)
			if _, ok := s["MBR boot code (GRUB)"]; !ok {
				t.Errorf("MBR boot code no longer named: %v", s)
			}
			if got, ok := s["GRUB core.img"]; ok {
				t.Errorf("core.img named from damaged bytes: %+v", got)
			}
		})
	}
	// A disk one sector shorter than the core.img the block list gives.
	short := img[:(coreSize+511)/512*512]
	s := bootCode(bytes.NewReader(short), int64(len(short)))
	for _, x := range s {
		if x.Name == "GRUB core.img" {
			t.Errorf("core.img past the disk's end named: %+v", x)
		}
	}
}

func FuzzBootCode(f *testing.F) {
	mbr, err := os.ReadFile("/usr/lib/grub/i386-pc/boot.img")
	if err == nil {
		seed := make([]byte, 2048)
		copy(seed, mbr[:440])
		if d, err := os.ReadFile("/usr/lib/grub/i386-pc/diskboot.img"); err == nil {
			copy(seed[512:], d)
		}
		f.Add(seed)
	}
	f.Add(make([]byte, 1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range bootCode(bytes.NewReader(b), int64(len(b))) {
			if s.Off < 0 || s.Len <= 0 || s.Off+s.Len > int64(len(b)) {
				t.Fatalf("structure %+v outside the %d-byte disk", s, len(b))
			}
		}
	})
}
