//go:build linux

package vmdk

import (
	"errors"
	"io"
	"syscall"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

const (
	seekData = 3 // SEEK_DATA (Linux)
	seekHole = 4 // SEEK_HOLE (Linux)
)

// fileHoles reports [off, off+n) of a flat extent's file: data, and the
// file's holes as Zero (not Hole: qemu reports them as data that reads as
// zeros, since the extent itself is allocated). A file that knows its
// allocation (alloc.Mapper) is asked; an *os.File is asked through lseek
// SEEK_DATA/SEEK_HOLE; anything else is all data.
func fileHoles(r io.ReaderAt, off, n int64) []alloc.Extent {
	end := off + n
	var out []alloc.Extent
	if m, ok := r.(alloc.Mapper); ok {
		for at := off; at < end && len(out) < maxMapExtents; {
			exts, err := m.Extents(at, end-at)
			if err != nil || len(exts) == 0 {
				break
			}
			for _, x := range exts {
				x.Off, x.Len = max(x.Off, at), min(x.End(), end)-max(x.Off, at)
				if x.Len <= 0 {
					continue
				}
				x.Hole = false
				out = alloc.Append(out, x)
				at = x.End()
			}
		}
		return finish(out, off, end)
	}
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return []alloc.Extent{{Off: off, Len: n}}
	}
	fd := int(f.Fd())
	for pos := off; pos < end && len(out) < maxMapExtents; {
		d, err := syscall.Seek(fd, pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			d = end // no data after pos
		} else if err != nil {
			break
		}
		if d > pos {
			l := min(d, end) - pos
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: l, Zero: true})
			pos += l
			continue
		}
		h, err := syscall.Seek(fd, pos, seekHole)
		if err != nil || h <= pos {
			h = end
		}
		l := min(h, end) - pos
		out = alloc.Append(out, alloc.Extent{Off: pos, Len: l})
		pos += l
	}
	return finish(out, off, end)
}
