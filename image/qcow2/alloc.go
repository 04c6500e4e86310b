package qcow2

import (
	"fmt"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// maxExtents bounds the extents one Extents call returns (after merging).
const maxExtents = 4096

// Extents reports the allocation of the guest range [off, off+length) as
// the guest sees it (Image is an alloc.Mapper), from the L1 and L2 tables
// as qemu's block status reads them: data and compressed clusters are
// data; zero clusters and subclusters read as zeros and are not data
// (Hole and Zero, as qemu-nbd reports them); unallocated ranges are what
// the backing image says it has there (when it is an alloc.Mapper; else
// data), and past the backing image's end or without one, holes of zeros.
func (img *Image) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || off >= img.size || length <= 0 {
		return nil, nil
	}
	end := off + min(length, img.size-off)
	var out []alloc.Extent
	for pos := off; pos < end && len(out) < maxExtents; {
		x, err := img.extentAt(pos, end-pos)
		if err == nil && x.n <= 0 {
			err = fmt.Errorf("qcow2: empty extent at guest offset %#x", pos)
		}
		if err != nil {
			if len(out) > 0 {
				return out, nil // the caller asks again from here and gets the error
			}
			return nil, err
		}
		switch x.kind {
		case kindZero:
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: x.n, Hole: true, Zero: true})
		case kindData, kindCompressed:
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: x.n})
		case kindBacking:
			out, err = img.backingExtents(out, pos, x.n)
			if err != nil {
				if len(out) > 0 {
					return out, nil
				}
				return nil, err
			}
		}
		pos += x.n
	}
	return out, nil
}

// backingExtents appends the allocation of the unallocated guest range
// [off, off+n) of this image: the backing image's, then holes of zeros
// past its end.
func (img *Image) backingExtents(out []alloc.Extent, off, n int64) ([]alloc.Extent, error) {
	end := off + n
	bend := off
	if img.backing != nil && off < img.backingSize {
		bend = min(end, img.backingSize)
	}
	m, mapped := img.backing.(alloc.Mapper)
	if bend > off && !mapped {
		out = alloc.Append(out, alloc.Extent{Off: off, Len: bend - off})
	}
	for pos := off; mapped && pos < bend; {
		exts, err := m.Extents(pos, bend-pos)
		if err != nil {
			return out, fmt.Errorf("qcow2: allocation of the backing file %q at %#x: %w", img.hdr.backingFile, pos, err)
		}
		start := pos
		for _, e := range exts {
			if e.Off != pos || e.Len <= 0 || pos >= bend {
				break // not consecutive: ask again from pos
			}
			l := min(e.End(), bend) - pos
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: l, Hole: e.Hole, Zero: e.Zero})
			pos += l
		}
		if pos == start {
			// The backing image cannot say: data.
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: bend - pos})
			pos = bend
		}
	}
	return alloc.Append(out, alloc.Extent{Off: bend, Len: end - bend, Hole: true, Zero: true}), nil
}
