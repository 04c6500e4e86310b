package vmdk

import (
	"fmt"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// Extents reports the allocation of the guest range [off, off+length):
// allocated grains and flat extents are data (parts of a flat extent file
// that are holes in it read as zeros: Zero, as qemu reports them),
// unallocated grains are what the parent reports there (holes without a
// parent), zeroed grains and ZERO extents are holes that read as zeros.
func (d *Disk) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || off >= d.size || length <= 0 {
		return nil, nil
	}
	end := min(d.size, off+min(length, d.size))
	var out []alloc.Extent
	d0 := off
	for i := d.find(off); off < end && len(out) < maxMapExtents && (off == d0 || off-d0 < maxMapBytes); i++ {
		e := d.extents[i]
		n := min(end, e.end()) - off
		var err error
		out, err = d.extentMap(out, e, off, n)
		if err != nil {
			return out, err
		}
		if len(out) == 0 || out[len(out)-1].End() < off+n {
			break // the walk stopped early: the caller asks again
		}
		off += n
	}
	return out, nil
}

// maxMapExtents and maxMapLookups bound the work of one Extents call (it
// may cover less than was asked; the caller asks again): the extents it
// gathers, and the grain table lookups it makes, so that a disk of tiny
// grains or a crafted one answers in bounded time. maxMapBytes bounds the
// guest bytes it walks through extents.
const (
	maxMapExtents = 1024
	maxMapLookups = 1 << 14
	maxMapBytes   = 1 << 40
)

func (d *Disk) extentMap(out []alloc.Extent, e *extent, off, n int64) ([]alloc.Extent, error) {
	switch e.kind {
	case extZero, extNoAccess:
		return alloc.Append(out, alloc.Extent{Off: off, Len: n, Hole: true, Zero: true}), nil
	case extFlat:
		return flatMap(out, e, off, n), nil
	}
	s := e.sp
	rel := off - e.start
	for done, lookups := int64(0), 0; done < n && len(out) < maxMapExtents && lookups < maxMapLookups; lookups++ {
		r := rel + done
		at := off + done
		if r >= s.capacity {
			return alloc.Append(out, alloc.Extent{Off: at, Len: n - done, Hole: true, Zero: true}), nil
		}
		k, _, m, err := s.lookup(r)
		if err != nil {
			return out, err
		}
		m = min(m, n-done)
		switch k {
		case kindUnalloc:
			out, err = d.parentMap(out, at, m)
			if err != nil {
				return out, err
			}
		case kindZero:
			out = alloc.Append(out, alloc.Extent{Off: at, Len: m, Hole: true, Zero: true})
		default:
			out = alloc.Append(out, alloc.Extent{Off: at, Len: m})
		}
		if out[len(out)-1].End() < at+m {
			return out, nil // the parent's walk stopped early
		}
		done += m
	}
	return out, nil
}

// parentMap appends the parent's allocation of [off, off+n): all of it,
// however many extents that takes, so the caller's walk stays in step.
func (d *Disk) parentMap(out []alloc.Extent, off, n int64) ([]alloc.Extent, error) {
	if d.parent == nil || off >= d.parentSize {
		return alloc.Append(out, alloc.Extent{Off: off, Len: n, Hole: true, Zero: true}), nil
	}
	end := off + n
	pend := min(end, d.parentSize)
	m, ok := d.parent.(alloc.Mapper)
	if !ok {
		out = alloc.Append(out, alloc.Extent{Off: off, Len: pend - off})
	}
	for at := off; ok && at < pend; {
		if len(out) >= maxMapExtents {
			return out, nil
		}
		exts, err := m.Extents(at, pend-at)
		if err != nil {
			return out, fmt.Errorf("vmdk: parent %q: %w", d.info.Parent, err)
		}
		if len(exts) == 0 {
			return out, fmt.Errorf("vmdk: parent %q reports no allocation at %#x", d.info.Parent, at)
		}
		for _, x := range exts {
			x.Off, x.Len = max(x.Off, at), min(x.End(), pend)-max(x.Off, at)
			if x.Len <= 0 {
				continue
			}
			out = alloc.Append(out, x)
			at = x.End()
		}
	}
	return alloc.Append(out, alloc.Extent{Off: pend, Len: end - pend, Hole: true, Zero: true}), nil
}

// flatMap appends the allocation of a flat extent: data, except where its
// file has holes (Zero) or ends (Hole and Zero).
func flatMap(out []alloc.Extent, e *extent, off, n int64) []alloc.Extent {
	host := e.flatOff + off - e.start
	fileEnd := min(host+n, max(host, e.fileSize))
	if fileEnd > host {
		for _, x := range fileHoles(e.r, host, fileEnd-host) {
			x.Off += off - host
			out = alloc.Append(out, x)
		}
	}
	if tail := host + n - fileEnd; tail > 0 {
		out = alloc.Append(out, alloc.Extent{Off: off + n - tail, Len: tail, Hole: true, Zero: true})
	}
	return out
}

// finish covers what a walk over [off, end) left out as data, so the
// caller always gets the whole range.
func finish(out []alloc.Extent, off, end int64) []alloc.Extent {
	at := off
	if len(out) > 0 {
		at = out[len(out)-1].End()
	}
	return alloc.Append(out, alloc.Extent{Off: at, Len: end - at})
}
