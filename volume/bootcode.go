package volume

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Boot code named by its signature, so that a BIOS boot's reads of it are
// traced as what they are rather than as the bare disk:
//
//   - the MBR's code (bytes 0-439, before the disk id and the partition
//     table): GRUB's boot.img, SYSLINUX's mbr.bin, Windows' MBR, each told
//     by the messages it prints;
//   - GRUB's core.img where boot.img says it is (the 8-byte sector number
//     at 0x5c, sector 1 when grub-install embeds it in the gap after the
//     MBR): its first sector, diskboot.img, ends in a block list (start
//     sector, sector count, load segment 0x820) that gives core.img's
//     length; only a core.img in one piece right after that sector, as
//     grub-install writes it into the gap, is named.
//
// Volume boot records are named by the filesystems' walks (FAT's boot
// sector, NTFS's $Boot).

const (
	mbrCodeLen = 440 // the MBR's code area: the disk id follows

	grubKernelSectorOff = 0x5c  // boot.img: where core.img's first sector is
	grubBlocklistOff    = 0x1f4 // diskboot.img: the last block list entry
	grubLoadSegment     = 0x820 // diskboot.img loads core.img's rest there
	grubMaxCoreSectors  = 2047  // a gap of 1 MiB less the MBR: the most a core.img in the gap spans
)

// mbrCode is boot code told by the strings it holds, all of which must be
// in the MBR's code area.
var mbrCode = []struct {
	name    string
	strings [][]byte
}{
	{"GRUB", [][]byte{[]byte("GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error")}},
	{"SYSLINUX", [][]byte{[]byte("Missing operating system."), []byte("Multiple active partitions."), []byte("Operating system load error.")}},
	{"Windows", [][]byte{[]byte("Invalid partition table"), []byte("Error loading operating system"), []byte("Missing operating system")}},
}

// bootCode returns the boot code structures found on a partitioned disk
// of size bytes: the MBR's code and GRUB's core.img. Unreadable or
// unknown bytes give none.
func bootCode(r io.ReaderAt, size int64) []Structure {
	var mbr [512]byte
	if size < 512 {
		return nil
	}
	if _, err := r.ReadAt(mbr[:], 0); err != nil && err != io.EOF {
		return nil
	}
	code := mbr[:mbrCodeLen]
	name := ""
	for _, c := range mbrCode {
		all := true
		for _, s := range c.strings {
			if !bytes.Contains(code, s) {
				all = false
				break
			}
		}
		if all {
			name = c.name
			break
		}
	}
	if name == "" {
		return nil
	}
	out := []Structure{{Name: "MBR boot code (" + name + ")", Off: 0, Len: mbrCodeLen}}
	if name == "GRUB" {
		if s, ok := grubCore(r, size, binary.LittleEndian.Uint64(mbr[grubKernelSectorOff:])); ok {
			out = append(out, s)
		}
	}
	return out
}

// grubCore checks for GRUB's core.img at sector kernel: diskboot.img's
// block list must name the sectors right after it, loaded at 0x820.
func grubCore(r io.ReaderAt, size int64, kernel uint64) (Structure, bool) {
	if kernel == 0 || kernel > uint64(size/512-1) {
		return Structure{}, false
	}
	var sec [512]byte
	off := int64(kernel) * 512
	if _, err := r.ReadAt(sec[:], off); err != nil && err != io.EOF {
		return Structure{}, false
	}
	bl := sec[grubBlocklistOff:]
	start := binary.LittleEndian.Uint64(bl[0:8])
	n := uint64(binary.LittleEndian.Uint16(bl[8:10]))
	seg := binary.LittleEndian.Uint16(bl[10:12])
	// The entry before the last (12 bytes down) ends the list: zero length.
	prevLen := binary.LittleEndian.Uint16(sec[grubBlocklistOff-12+8:])
	if start != kernel+1 || seg != grubLoadSegment || n == 0 || n > grubMaxCoreSectors || prevLen != 0 {
		return Structure{}, false
	}
	end := (start + n) * 512
	if end > uint64(size) {
		return Structure{}, false
	}
	return Structure{Name: "GRUB core.img", Off: off, Len: int64(end) - off}, true
}
