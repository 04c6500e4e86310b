package part

import (
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// An extended partition holds a chain of EBRs (extended boot records). Each
// is an MBR-shaped sector: its first entry is one logical partition, with
// its LBA relative to the EBR itself; its second entry, when it has an
// extended type, links to the next EBR, with its LBA relative to the start
// of the extended partition. The other entries are unused.

// maxEBRs caps the chain: Linux stops at 256 partitions per disk too.
const maxEBRs = 256

// readEBRChain follows the chain from the extended partition at extStart
// (bytes, extSize long) and returns the logical partitions, numbered from 5
// in chain order. A loop, an EBR outside the extended partition or the
// disk, a missing signature, an unreadable sector or a chain longer than
// maxEBRs is warned about (naming the EBR's byte offset) and ends the chain;
// the partitions found so far are kept.
func readEBRChain(r io.ReaderAt, size, extStart, extSize int64, warn fs.WarnFunc) (parts []Partition, ebrs []Region) {
	visited := make(map[int64]bool)
	extEnd := extStart + extSize
	cur := extStart
	var sec [sectorSize]byte
	for n := 0; ; n++ {
		if n >= maxEBRs {
			warn(&diskerr.FormatError{FS: "mbr", Off: cur, What: "EBR",
				Msg: fmt.Sprintf("chain longer than %d EBRs: stopped", maxEBRs)})
			return parts, ebrs
		}
		if visited[cur] {
			warn(&diskerr.FormatError{FS: "mbr", Off: cur, What: "EBR",
				Msg: "loop in the EBR chain (this EBR was already read): stopped"})
			return parts, ebrs
		}
		visited[cur] = true
		if cur < extStart || cur+sectorSize > extEnd {
			warn(&diskerr.FormatError{FS: "mbr", Off: cur, What: "EBR",
				Msg: fmt.Sprintf("outside the extended partition %#x-%#x: chain stopped", extStart, extEnd)})
			return parts, ebrs
		}
		if cur+sectorSize > size {
			warn(&diskerr.FormatError{FS: "mbr", Off: cur, What: "EBR",
				Msg: fmt.Sprintf("beyond the disk's end %#x: chain stopped", size)})
			return parts, ebrs
		}
		if _, err := r.ReadAt(sec[:], cur); err != nil {
			warn(fmt.Errorf("mbr: reading EBR at %#x: chain stopped: %w", cur, err))
			return parts, ebrs
		}
		if sec[510] != 0x55 || sec[511] != 0xAA {
			warn(&diskerr.FormatError{FS: "mbr", Off: cur, What: "EBR",
				Msg: "no 0x55AA signature: chain stopped"})
			return parts, ebrs
		}
		ebrs = append(ebrs, Region{"EBR", cur, sectorSize})
		m := decodeMBR(sec[:])
		if e := m.Entries[0]; !e.empty() && !e.extended() {
			p := Partition{
				Number:   5 + len(parts),
				Start:    cur + int64(e.LBA)*sectorSize,
				Size:     int64(e.Count) * sectorSize,
				Type:     fmt.Sprintf("0x%02x", e.Type),
				TypeName: mbrTypeName(e.Type),
				Bootable: e.Status == 0x80,
			}
			if checkBounds(&p, size, "mbr", cur+mbrEntriesOff, warn) {
				if p.Start < extStart || p.End() > extEnd {
					warn(&diskerr.FormatError{FS: "mbr", Off: cur + mbrEntriesOff, What: fmt.Sprintf("partition %d", p.Number),
						Msg: fmt.Sprintf("bytes %#x-%#x lie outside the extended partition %#x-%#x: kept", p.Start, p.End(), extStart, extEnd)})
				}
				parts = append(parts, p)
			}
		}
		next := int64(-1)
		for _, link := range m.Entries[1:] {
			if !link.empty() && link.extended() {
				next = extStart + int64(link.LBA)*sectorSize
				break
			}
		}
		if next < 0 {
			return parts, ebrs
		}
		cur = next
	}
}
