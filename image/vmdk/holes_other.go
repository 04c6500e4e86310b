//go:build !linux

package vmdk

import (
	"io"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// fileHoles reports a flat extent's file as all data where lseek's
// SEEK_DATA is not known to work, unless the file knows its allocation.
func fileHoles(r io.ReaderAt, off, n int64) []alloc.Extent {
	if m, ok := r.(alloc.Mapper); ok {
		if exts, err := m.Extents(off, n); err == nil && len(exts) > 0 {
			var out []alloc.Extent
			for _, x := range exts {
				x.Hole = false
				out = alloc.Append(out, x)
			}
			return finish(out, off, off+n)
		}
	}
	return []alloc.Extent{{Off: off, Len: n}}
}
