// Package part reads a disk image's partition table: an MBR (with the
// extended partition's chain of EBRs, mbr.go and ebr.go) or a GPT (gpt.go,
// through go-diskfs, with the backup header as a fallback).
//
// Read never writes and never trusts the image: every partition is checked
// against the disk's size, every count is capped, and a problem that can be
// worked around (an EBR loop, a partition running past the disk's end, a
// damaged primary GPT header) is reported through the caller's warning
// function while the rest of the table is still returned.
//
// Offsets and sizes are in bytes from the start of the disk, so a caller can
// cut a partition out with io.NewSectionReader(disk, p.Start, p.Size).
package part

import (
	"fmt"
	"io"
	"sort"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// Scheme names the kind of partition table.
type Scheme string

const (
	SchemeNone Scheme = ""    // no partition table: a bare filesystem, or nothing known
	SchemeMBR  Scheme = "mbr" // DOS/MBR, with logical partitions
	SchemeGPT  Scheme = "gpt" // GUID partition table
)

// Table is a disk's partition table.
type Table struct {
	Scheme     Scheme
	DiskGUID   string // GPT disk GUID, upper-case canonical form as sgdisk prints it
	DiskID     uint32 // MBR disk signature
	SectorSize int64  // logical sector size the table was read with: 512, or 4096 for a 4Kn GPT
	Partitions []Partition
	// Regions are where the table itself lies: the MBR, each EBR of the
	// chain, the GPT headers and entry arrays that were found valid.
	Regions []Region
}

// Region is a partition-table structure on the disk.
type Region struct {
	Name     string // "MBR", "EBR", "GPT header", "GPT entries", "GPT backup header"...
	Off, Len int64
}

// Partition is one entry of the table.
type Partition struct {
	// Number is the Linux partition number: MBR primaries 1-4 by slot,
	// logicals 5, 6, ... in EBR chain order; GPT: entry index + 1.
	Number   int
	Start    int64  // bytes from the start of the disk
	Size     int64  // bytes (clamped to the disk's end, with a warning, when the entry runs past it)
	Type     string // MBR: "0x83"; GPT: type GUID upper-case
	TypeName string // "Linux", "Linux filesystem", "EFI System", "Extended"...
	Name     string // GPT partition name
	GUID     string // GPT unique partition GUID, upper-case
	Bootable bool   // MBR active flag (status 0x80)
	// Extended marks the MBR extended container (0x05, 0x0f, 0x85). Linux
	// shows it as a partition too; the caller maps it and does not probe it
	// for a filesystem.
	Extended bool
}

// End is the offset one past the partition's last byte.
func (p Partition) End() int64 { return p.Start + p.Size }

const sectorSize = 512

// Read reads the partition table of a disk of size bytes.
//
// A disk without a partition table (no 0x55AA signature, a bare FAT, NTFS or
// exFAT filesystem whose boot sector carries the signature, or an image
// shorter than one sector) gives Scheme "" and no partitions, not an error.
// A protective MBR (type 0xEE) makes Read read the GPT; a GPT that is
// unreadable in both its primary and its backup copy is an error.
//
// warn may be nil.
func Read(r io.ReaderAt, size int64, warn fs.WarnFunc) (*Table, error) {
	if warn == nil {
		warn = func(error) {}
	}
	if size < sectorSize {
		return &Table{SectorSize: sectorSize}, nil
	}
	var sec [sectorSize]byte
	if _, err := r.ReadAt(sec[:], 0); err != nil {
		return nil, fmt.Errorf("mbr: reading sector 0: %w", err)
	}
	if sec[510] != 0x55 || sec[511] != 0xAA {
		// A GPT disk without a protective MBR is unusual but readable.
		if ss := gptSectorSize(r, size); ss != 0 {
			warn(&diskerr.FormatError{FS: "mbr", Off: 0, What: "boot sector", Msg: "no 0x55AA signature but a GPT header follows: reading the GPT"})
			return readGPT(r, size, ss, warn)
		}
		return &Table{SectorSize: sectorSize}, nil
	}
	m := decodeMBR(sec[:])
	if m.protective() {
		ss := gptSectorSize(r, size)
		if ss == 0 {
			ss = sectorSize
		}
		return readGPT(r, size, ss, warn)
	}
	return readMBR(r, size, m, warn)
}

// checkBounds drops partitions that start at or beyond the disk's end and
// clamps those that run past it, warning for each. off is the byte offset
// of the structure that described the partition, for the warning.
func checkBounds(p *Partition, size int64, scheme string, off int64, warn fs.WarnFunc) bool {
	what := fmt.Sprintf("partition %d", p.Number)
	if p.Start >= size {
		warn(&diskerr.FormatError{FS: scheme, Off: off, What: what,
			Msg: fmt.Sprintf("starts at byte %#x, beyond the disk's end %#x: skipped", p.Start, size)})
		return false
	}
	if p.Size > size-p.Start {
		warn(&diskerr.FormatError{FS: scheme, Off: off, What: what,
			Msg: fmt.Sprintf("runs from %#x to %#x, past the disk's end %#x: clamped to %d bytes", p.Start, p.Start+p.Size, size, size-p.Start)})
		p.Size = size - p.Start
	}
	return true
}

// warnOverlaps reports every pair of partitions that share bytes, except a
// logical partition and the extended container that holds it. Both are
// kept: the map shows what the table says, and the overlap is a warning
// for whoever reads it.
func warnOverlaps(scheme string, parts []Partition, warn fs.WarnFunc) {
	idx := make([]int, len(parts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return parts[idx[a]].Start < parts[idx[b]].Start })
	for a := 0; a < len(idx); a++ {
		p := parts[idx[a]]
		for b := a + 1; b < len(idx); b++ {
			q := parts[idx[b]]
			if q.Start >= p.End() {
				break
			}
			if q.Size == 0 || p.Size == 0 || (p.Extended && q.Number > 4) || (q.Extended && p.Number > 4) {
				continue
			}
			warn(&diskerr.FormatError{FS: scheme, Off: p.Start, What: fmt.Sprintf("partition %d", p.Number),
				Msg: fmt.Sprintf("overlaps partition %d (bytes %#x-%#x and %#x-%#x): both kept", q.Number, p.Start, p.End(), q.Start, q.End())})
		}
	}
}

// DeviceName is the Linux device node of a disk (1-based, in the order the
// images were given) or of one of its partitions: DeviceName(1, 0) is
// "/dev/sda", DeviceName(2, 5) "/dev/sdb5", DeviceName(27, 1) "/dev/sdaa1"
// (past sdz Linux goes on with sdaa, sdab, ...). A disk number below 1
// gives "".
func DeviceName(disk, partition int) string {
	if disk < 1 {
		return ""
	}
	var b [16]byte
	i := len(b)
	for n := disk; n > 0; n = (n - 1) / 26 {
		i--
		b[i] = byte('a' + (n-1)%26)
	}
	name := "/dev/sd" + string(b[i:])
	if partition > 0 {
		name += fmt.Sprint(partition)
	}
	return name
}
