package vhdx

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Payload block states (MS-VHDX 2.5.1.1) and the sector bitmap block
// state that says a bitmap is present (2.5.1.2).
const (
	stateNotPresent       = 0
	stateUndefined        = 1
	stateZero             = 2
	stateUnmapped         = 3
	stateUnmappedV095     = 5 // qemu accepts this older value
	stateFullyPresent     = 6
	statePartiallyPresent = 7

	bitmapPresent = 6
)

// sectorsPerChunk is how many logical sectors one 1 MiB sector bitmap
// block describes: 2^23.
const sectorsPerChunk = 1 << 23

// bat is the Block Allocation Table with the geometry to index it:
// payload block i is entry i + i/chunkRatio; the sector bitmap of chunk c
// is entry c*(chunkRatio+1) + chunkRatio.
type bat struct {
	entries    []uint64
	chunkRatio int64
	blocks     int64 // payload blocks of the virtual disk
}

func (b *bat) payload(i int64) uint64 { return b.entries[i+i/b.chunkRatio] }

func (b *bat) bitmap(chunk int64) uint64 {
	i := chunk*(b.chunkRatio+1) + b.chunkRatio
	if i >= int64(len(b.entries)) {
		return 0
	}
	return b.entries[i]
}

func entryState(e uint64) uint64 { return e & 7 }
func entryOffset(e uint64) int64 { return int64(e>>20) << 20 }

// readBAT reads the BAT: as many entries as the virtual size needs (the
// region must hold them; it lies in the file, which bounds the memory),
// and checks every entry: known state, and the bytes of a present block
// or bitmap inside the file (fileSize: after the log's replay) and not in
// the header section.
func readBAT(r io.ReaderAt, fileSize int64, reg region, m *metadata) (*bat, error) {
	ferr := func(off int64, msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: off, What: "BAT", Msg: msg}
	}
	b := &bat{chunkRatio: sectorsPerChunk * m.logicalSector / m.blockSize}
	b.blocks = (m.virtualSize + m.blockSize - 1) / m.blockSize
	bitmaps := (b.blocks + b.chunkRatio - 1) / b.chunkRatio
	var n int64
	if m.hasParent {
		n = bitmaps * (b.chunkRatio + 1)
	} else if b.blocks > 0 {
		n = b.blocks + (b.blocks-1)/b.chunkRatio
	}
	if n*8 > reg.length {
		return nil, ferr(reg.off, fmt.Sprintf("%d entries do not fit in the %d-byte region", n, reg.length))
	}
	raw := make([]byte, n*8)
	if _, err := r.ReadAt(raw, reg.off); err != nil {
		return nil, &diskerr.FormatError{FS: "vhdx", Off: reg.off, What: "BAT", Msg: "reading", Err: err}
	}
	b.entries = make([]uint64, n)
	for i := range b.entries {
		b.entries[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	for i := int64(0); i < b.blocks; i++ {
		idx := i + i/b.chunkRatio
		e := b.entries[idx]
		at := reg.off + 8*idx
		switch entryState(e) {
		case stateNotPresent, stateUndefined, stateZero, stateUnmapped, stateUnmappedV095:
			continue
		case stateFullyPresent:
		case statePartiallyPresent:
			if !m.hasParent {
				return nil, ferr(at, fmt.Sprintf("block %d is partially present in a disk without a parent", i))
			}
		default:
			return nil, ferr(at, fmt.Sprintf("block %d has unknown state %d", i, entryState(e)))
		}
		// The part of the block the virtual disk uses must be in the file.
		used := min(m.blockSize, m.virtualSize-i*m.blockSize)
		if off := entryOffset(e); off < mib || off > fileSize-used {
			return nil, ferr(at, fmt.Sprintf("block %d at %#x is outside the %d-byte file", i, off, fileSize))
		}
	}
	if m.hasParent {
		for c := int64(0); c < bitmaps; c++ {
			e := b.bitmap(c)
			at := reg.off + 8*(c*(b.chunkRatio+1)+b.chunkRatio)
			switch entryState(e) {
			case stateNotPresent:
			case bitmapPresent:
				if off := entryOffset(e); off < mib || off > fileSize-mib {
					return nil, ferr(at, fmt.Sprintf("sector bitmap %d at %#x is outside the %d-byte file", c, off, fileSize))
				}
			default:
				return nil, ferr(at, fmt.Sprintf("sector bitmap %d has unknown state %d", c, entryState(e)))
			}
		}
	}
	return b, nil
}
