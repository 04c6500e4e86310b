package part

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// The MBR: 446 bytes of boot code, four 16-byte partition entries at 446,
// and the signature 0x55 0xAA at 510. An entry is
//
//	0  status (0x80 active, 0x00 inactive; anything else: not a table)
//	1  CHS of the first sector (ignored)
//	4  type
//	5  CHS of the last sector (ignored)
//	8  LBA of the first sector, little-endian uint32
//	12 number of sectors, little-endian uint32
const (
	mbrEntriesOff = 446
	mbrEntrySize  = 16
	mbrDiskIDOff  = 440
)

type mbrEntry struct {
	Status byte
	Type   byte
	LBA    uint32
	Count  uint32
}

func (e mbrEntry) empty() bool    { return e.Type == 0 || e.Count == 0 }
func (e mbrEntry) extended() bool { return isExtendedType(e.Type) }

func isExtendedType(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

type mbr struct {
	DiskID  uint32
	Entries [4]mbrEntry
}

// decodeMBR decodes a 512-byte MBR or EBR sector; the caller has checked
// the signature.
func decodeMBR(b []byte) mbr {
	var m mbr
	m.DiskID = binary.LittleEndian.Uint32(b[mbrDiskIDOff:])
	for i := range m.Entries {
		e := b[mbrEntriesOff+i*mbrEntrySize:]
		m.Entries[i] = mbrEntry{
			Status: e[0],
			Type:   e[4],
			LBA:    binary.LittleEndian.Uint32(e[8:]),
			Count:  binary.LittleEndian.Uint32(e[12:]),
		}
	}
	return m
}

// protective reports whether the MBR holds a GPT protective entry (0xEE).
// A hybrid MBR (0xEE next to real entries) is read as GPT too, as Linux
// does.
func (m mbr) protective() bool {
	for _, e := range m.Entries {
		if e.Type == 0xEE && e.Status&0x7f == 0 {
			return true
		}
	}
	return false
}

// badStatus returns the first slot whose status byte is neither 0x00 nor
// 0x80, or -1. Linux rejects such a sector as a partition table: it is
// most likely a filesystem's boot sector.
func (m mbr) badStatus() int {
	for i, e := range m.Entries {
		if e.Status != 0 && e.Status != 0x80 {
			return i
		}
	}
	return -1
}

func (m mbr) hasEntries() bool {
	for _, e := range m.Entries {
		if !e.empty() {
			return true
		}
	}
	return false
}

// bareFilesystems are the filesystems whose boot sector, at the disk's
// first byte, also ends with 0x55AA and so can pass for an MBR.
var bareFilesystems = map[string]bool{"vfat": true, "ntfs": true, "exfat": true}

// readMBR turns a decoded MBR into a Table: the four primaries, then the
// logical partitions of the (first) extended partition.
func readMBR(r io.ReaderAt, size int64, m mbr, warn fs.WarnFunc) (*Table, error) {
	bad := m.badStatus()
	if (bad >= 0 || !m.hasEntries()) && bareFilesystems[fs.Detect(r, size).Name] {
		return &Table{SectorSize: sectorSize}, nil
	}
	if bad >= 0 {
		warn(&diskerr.FormatError{FS: "mbr", Off: int64(mbrEntriesOff + bad*mbrEntrySize), What: fmt.Sprintf("entry %d", bad+1),
			Msg: fmt.Sprintf("status byte %#02x is neither 0x00 nor 0x80: sector 0 is not a partition table", m.Entries[bad].Status)})
		return &Table{SectorSize: sectorSize}, nil
	}
	t := &Table{Scheme: SchemeMBR, DiskID: m.DiskID, SectorSize: sectorSize,
		Regions: []Region{{"MBR", 0, sectorSize}}}
	var ext *Partition
	for i, e := range m.Entries {
		if e.empty() {
			continue
		}
		p := Partition{
			Number:   i + 1,
			Start:    int64(e.LBA) * sectorSize,
			Size:     int64(e.Count) * sectorSize,
			Type:     fmt.Sprintf("0x%02x", e.Type),
			TypeName: mbrTypeName(e.Type),
			Bootable: e.Status == 0x80,
			Extended: e.extended(),
		}
		if !checkBounds(&p, size, "mbr", int64(mbrEntriesOff+i*mbrEntrySize), warn) {
			continue
		}
		t.Partitions = append(t.Partitions, p)
		if p.Extended {
			if ext != nil {
				warn(&diskerr.FormatError{FS: "mbr", Off: int64(mbrEntriesOff + i*mbrEntrySize), What: fmt.Sprintf("entry %d", i+1),
					Msg: fmt.Sprintf("second extended partition (the first is partition %d): its logical partitions are not read", ext.Number)})
				continue
			}
			ext = &t.Partitions[len(t.Partitions)-1]
		}
	}
	if ext != nil {
		logicals, ebrs := readEBRChain(r, size, ext.Start, ext.Size, warn)
		t.Partitions = append(t.Partitions, logicals...)
		t.Regions = append(t.Regions, ebrs...)
	}
	warnOverlaps("mbr", t.Partitions, warn)
	return t, nil
}

// mbrTypeName gives fdisk's name for common MBR partition types.
func mbrTypeName(t byte) string {
	if n, ok := mbrTypeNames[t]; ok {
		return n
	}
	return "Unknown"
}

var mbrTypeNames = map[byte]string{
	0x01: "FAT12",
	0x04: "FAT16 <32M",
	0x05: "Extended",
	0x06: "FAT16",
	0x07: "HPFS/NTFS/exFAT",
	0x0b: "W95 FAT32",
	0x0c: "W95 FAT32 (LBA)",
	0x0e: "W95 FAT16 (LBA)",
	0x0f: "W95 Ext'd (LBA)",
	0x11: "Hidden FAT12",
	0x12: "Compaq diagnostics",
	0x14: "Hidden FAT16 <32M",
	0x16: "Hidden FAT16",
	0x17: "Hidden HPFS/NTFS",
	0x1b: "Hidden W95 FAT32",
	0x1c: "Hidden W95 FAT32 (LBA)",
	0x1e: "Hidden W95 FAT16 (LBA)",
	0x27: "Hidden NTFS WinRE",
	0x42: "SFS",
	0x82: "Linux swap / Solaris",
	0x83: "Linux",
	0x85: "Linux extended",
	0x86: "NTFS volume set",
	0x87: "NTFS volume set",
	0x8e: "Linux LVM",
	0xa5: "FreeBSD",
	0xa6: "OpenBSD",
	0xa8: "Darwin UFS",
	0xa9: "NetBSD",
	0xab: "Darwin boot",
	0xaf: "HFS / HFS+",
	0xbe: "Solaris boot",
	0xbf: "Solaris",
	0xda: "Non-FS data",
	0xde: "Dell Utility",
	0xee: "GPT",
	0xef: "EFI (FAT-12/16/32)",
	0xfb: "VMware VMFS",
	0xfc: "VMware VMKCORE",
	0xfd: "Linux raid autodetect",
}
