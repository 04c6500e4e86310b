// Package lvm reads LVM2 physical volumes and maps their logical volumes:
// the label and PV header (label.go), the metadata area and its circular
// buffer (mda.go), the text metadata (metadata.go), volume groups assembled
// from PVs found on one or more disks (vg.go), and an io.ReaderAt over a
// logical volume (reader.go).
//
// Linear and striped segments are mapped; for mirror and raid1 segments the
// first leg is mapped (all legs hold the same bytes) and the others are
// named in a note; thin pools and volumes, snapshots, caches, VDO and the
// other raid levels are listed with a note and left unmapped.
//
// We wrote our own reader rather than use a library: the Go LVM packages
// drive the lvm2 command-line tools, which need root, device-mapper and
// block devices, while virt-bmap reads untrusted image files read-only.
// Every size and count read from a PV is checked and capped.
package lvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// ErrNoLabel is returned by ReadLabel when none of the first four sectors
// holds an LVM2 label.
var ErrNoLabel = errors.New("lvm: no LVM2 label")

const (
	sectorSize   = 512
	labelScan    = 4 // the label may be in any of sectors 0-3
	labelID      = "LABELONE"
	labelType    = "LVM2 001"
	maxAreas     = 16 // data and metadata areas listed in a PV header (lvm2 writes 1 and 1-2)
	initialCRC   = 0xf597a6cf
	pvHeaderSize = 32 + 8
)

// Label is an LVM2 physical volume's label and PV header.
type Label struct {
	Sector  int64  // sector (0-3) the label was found in
	UUID    string // PV UUID as lvm prints it: "Tq3ZcC-...-xyz123" (6-4-4-4-4-4-6)
	DevSize int64  // device size recorded by pvcreate, in bytes
	// DataAreas and MetaAreas are byte ranges from the start of the PV.
	// A data area's Size 0 means "to the end of the device".
	DataAreas []Area
	MetaAreas []Area
}

// Area is a byte range of a PV.
type Area struct{ Off, Size int64 }

// crc is LVM's CRC-32 (lib/misc/crc.c): the IEEE polynomial, initial value
// 0xf597a6cf and no final inversion.
func crc(b []byte) uint32 {
	return ^crc32.Update(^uint32(initialCRC), crc32.IEEETable, b)
}

// FormatUUID inserts the dashes lvm prints in a 32-character UUID.
func FormatUUID(u string) string {
	if len(u) != 32 {
		return u
	}
	return u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
}

// ReadLabel finds and decodes the label and PV header of the device r of
// size bytes. It returns ErrNoLabel when there is none, and a
// *diskerr.FormatError for a label that is there but damaged.
func ReadLabel(r io.ReaderAt, size int64) (*Label, error) {
	var b [sectorSize]byte
	for s := int64(0); s < labelScan; s++ {
		if (s+1)*sectorSize > size {
			break
		}
		if _, err := r.ReadAt(b[:], s*sectorSize); err != nil {
			return nil, fmt.Errorf("lvm: reading sector %d: %w", s, err)
		}
		if string(b[:8]) != labelID {
			continue
		}
		return decodeLabel(b[:], s, size)
	}
	return nil, ErrNoLabel
}

// decodeLabel decodes the label sector b found in sector s.
func decodeLabel(b []byte, s, size int64) (*Label, error) {
	off := s * sectorSize
	bad := func(msg string, a ...any) error {
		return &diskerr.FormatError{FS: "lvm", Off: off, What: "label", Msg: fmt.Sprintf(msg, a...)}
	}
	if len(b) < sectorSize || string(b[:8]) != labelID {
		return nil, bad("no %q magic", labelID)
	}
	if string(b[0x18:0x20]) != labelType {
		return nil, bad("type %q, want %q", b[0x18:0x20], labelType)
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != uint64(s) {
		return nil, bad("says it is in sector %d", got)
	}
	if want, got := binary.LittleEndian.Uint32(b[0x10:]), crc(b[0x14:sectorSize]); want != got {
		return nil, bad("checksum %#08x, computed %#08x", want, got)
	}
	hoff := int(binary.LittleEndian.Uint32(b[0x14:]))
	if hoff < 0x20 || hoff > sectorSize-pvHeaderSize-16 {
		return nil, bad("PV header offset %d outside the sector", hoff)
	}
	h := b[hoff:sectorSize]
	l := &Label{Sector: s, UUID: FormatUUID(string(h[:32]))}
	for _, c := range h[:32] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil, bad("PV UUID %q is not 32 letters and digits", h[:32])
		}
	}
	ds := binary.LittleEndian.Uint64(h[32:])
	if ds > 1<<62 {
		return nil, bad("device size %d out of range", ds)
	}
	l.DevSize = int64(ds)
	p := 40
	for list := 0; list < 2; list++ {
		var areas []Area
		for {
			if p+16 > len(h) {
				return nil, bad("PV header area list runs past the sector")
			}
			o, n := binary.LittleEndian.Uint64(h[p:]), binary.LittleEndian.Uint64(h[p+8:])
			p += 16
			if o == 0 {
				break
			}
			if len(areas) == maxAreas {
				return nil, bad("more than %d areas", maxAreas)
			}
			if o > 1<<62 || n > 1<<62 {
				return nil, bad("area at %#x size %#x out of range", o, n)
			}
			areas = append(areas, Area{Off: int64(o), Size: int64(n)})
		}
		if list == 0 {
			l.DataAreas = areas
		} else {
			l.MetaAreas = areas
		}
	}
	if len(l.DataAreas) == 0 {
		return nil, bad("no data area")
	}
	return l, nil
}
