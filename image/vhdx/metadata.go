package vhdx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// metaTableSize is the size of the metadata table at the start of the
// metadata region; items lie after it.
const metaTableSize = 64 << 10

// maxVirtualSize is the spec's largest virtual disk: 64 TiB.
const maxVirtualSize = 64 << 40

// metadata is what the metadata region says about the disk (MS-VHDX 2.6).
type metadata struct {
	blockSize      int64
	leaveAllocated bool
	hasParent      bool
	virtualSize    int64
	logicalSector  int64 // 512 or 4096
	physicalSector int64 // 512 or 4096
	page83         guid
	locator        []byte // the parent locator item, for differencing disks
	locatorAt      int64
}

// readMetadata reads the metadata table and the items it knows. Items
// must lie in the region after the table; an unknown item marked
// required is refused; the file parameters, the virtual disk size and the
// logical sector size must be there and valid.
func readMetadata(r io.ReaderAt, reg region) (*metadata, error) {
	ferr := func(off int64, what, msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: off, What: what, Msg: msg}
	}
	if reg.length < metaTableSize {
		return nil, ferr(reg.off, "metadata region", fmt.Sprintf("%d bytes is smaller than its table", reg.length))
	}
	b := make([]byte, metaTableSize)
	if _, err := r.ReadAt(b, reg.off); err != nil {
		return nil, &diskerr.FormatError{FS: "vhdx", Off: reg.off, What: "metadata table", Msg: "reading", Err: err}
	}
	if !bytes.Equal(b[:8], []byte("metadata")) {
		return nil, ferr(reg.off, "metadata table", fmt.Sprintf("no \"metadata\" signature (%q)", b[:8]))
	}
	le := binary.LittleEndian
	n := int(le.Uint16(b[10:]))
	if n > 2047 {
		return nil, ferr(reg.off, "metadata table", fmt.Sprintf("%d entries (at most 2047)", n))
	}
	m := &metadata{}
	var have struct{ params, size, logical bool }
	for i := range n {
		e := b[32+32*i:]
		var id guid
		copy(id[:], e)
		off, ln, flags := int64(le.Uint32(e[16:])), int64(le.Uint32(e[20:])), le.Uint32(e[24:])
		what := fmt.Sprintf("metadata item %s", id)
		if ln == 0 {
			if off != 0 {
				return nil, ferr(reg.off+32+32*int64(i), what, "empty item with an offset")
			}
		} else if off < metaTableSize || off > reg.length || ln > reg.length-off {
			return nil, ferr(reg.off+32+32*int64(i), what, fmt.Sprintf("%d bytes at %#x do not lie in the %d-byte region", ln, off, reg.length))
		}
		at := reg.off + off
		item := func(want int64) ([]byte, error) {
			if ln < want {
				return nil, ferr(at, what, fmt.Sprintf("%d bytes, want %d", ln, want))
			}
			v := make([]byte, ln)
			if _, err := r.ReadAt(v, at); err != nil {
				return nil, &diskerr.FormatError{FS: "vhdx", Off: at, What: what, Msg: "reading", Err: err}
			}
			return v, nil
		}
		var v []byte
		var err error
		switch id {
		case metaFileParameters:
			if v, err = item(8); err != nil {
				return nil, err
			}
			bs := le.Uint32(v)
			if bs < mib || bs > 256*mib || bits.OnesCount32(bs) != 1 {
				return nil, ferr(at, "file parameters", fmt.Sprintf("block size %d is not a power of two from 1 MiB to 256 MiB", bs))
			}
			m.blockSize = int64(bs)
			m.leaveAllocated = le.Uint32(v[4:])&1 != 0
			m.hasParent = le.Uint32(v[4:])&2 != 0
			have.params = true
		case metaVirtualSize:
			if v, err = item(8); err != nil {
				return nil, err
			}
			s := le.Uint64(v)
			if s > maxVirtualSize {
				return nil, ferr(at, "virtual disk size", fmt.Sprintf("%d bytes is over the 64 TiB the format allows", s))
			}
			m.virtualSize = int64(s)
			have.size = true
		case metaLogicalSector, metaPhysicalSector:
			if v, err = item(4); err != nil {
				return nil, err
			}
			s := int64(le.Uint32(v))
			if s != 512 && s != 4096 {
				return nil, ferr(at, what, fmt.Sprintf("sector size %d (512 or 4096)", s))
			}
			if id == metaLogicalSector {
				m.logicalSector, have.logical = s, true
			} else {
				m.physicalSector = s
			}
		case metaPage83:
			if v, err = item(16); err != nil {
				return nil, err
			}
			copy(m.page83[:], v)
		case metaParentLocator:
			if ln > 64<<10 {
				return nil, ferr(at, "parent locator", fmt.Sprintf("%d bytes (at most 64 KiB)", ln))
			}
			if m.locator, err = item(20); err != nil {
				return nil, err
			}
			m.locatorAt = at
		default:
			if flags&4 != 0 {
				return nil, ferr(at, what, "unknown required metadata item")
			}
		}
	}
	switch {
	case !have.params:
		return nil, ferr(reg.off, "metadata table", "no file parameters")
	case !have.size:
		return nil, ferr(reg.off, "metadata table", "no virtual disk size")
	case !have.logical:
		return nil, ferr(reg.off, "metadata table", "no logical sector size")
	case m.virtualSize%m.logicalSector != 0:
		return nil, ferr(reg.off, "virtual disk size", fmt.Sprintf("%d bytes is not a whole number of %d-byte sectors", m.virtualSize, m.logicalSector))
	case m.hasParent && m.locator == nil:
		return nil, ferr(reg.off, "metadata table", "differencing disk without a parent locator")
	}
	return m, nil
}
