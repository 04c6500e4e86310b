package vmdk

import (
	"fmt"
	"io"
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// MapFile says where the guest bytes at off sit in a file (Disk is an
// alloc.FileMapper): a flat extent's bytes are its file's at the extent's
// offset, a sparse extent's uncompressed grains are in its file (both
// zeros past the end of the file, as ReadAt reads them); ZERO extents,
// zeroed grains and unallocated grains without a parent are zeros;
// compressed grains (streamOptimized), the parent's bytes, and extents
// whose reader is not a file must be read through ReadAt. A grain table
// entry pointing out of the file and a NOACCESS extent are ReadAt's
// errors. It agrees with ReadAt byte for byte.
func (d *Disk) MapFile(off, n int64) (alloc.FileRun, error) {
	if off < 0 || n <= 0 || off >= d.size {
		return alloc.FileRun{}, fmt.Errorf("vmdk: bad file map range %d+%d", off, n)
	}
	e := d.extents[d.find(off)]
	n = min(n, e.end()-off)
	rel := off - e.start
	switch e.kind {
	case extZero:
		return alloc.FileRun{Len: n, Zero: true}, nil
	case extNoAccess:
		return alloc.FileRun{}, fmt.Errorf("vmdk: %s: guest offset %#x lies in a NOACCESS extent", d.name, off)
	case extFlat:
		return fileRun(e.r, e.fileSize, e.flatOff+rel, n), nil
	}
	s := e.sp
	if rel >= s.capacity {
		return alloc.FileRun{Len: n, Zero: true}, nil
	}
	k, host, m, err := s.lookup(rel)
	if err != nil {
		return alloc.FileRun{}, err
	}
	n = min(n, m)
	switch k {
	case kindUnalloc:
		if d.parent == nil || off >= d.parentSize {
			return alloc.FileRun{Len: n, Zero: true}, nil
		}
		return alloc.FileRun{Len: min(n, d.parentSize-off)}, nil
	case kindZero:
		return alloc.FileRun{Len: n, Zero: true}, nil
	case kindData:
		return fileRun(s.r, s.size, host, n), nil
	}
	return alloc.FileRun{Len: n}, nil // compressed
}

// fileRun is the run of n bytes of the file r (size bytes) at host, as
// ReadAt reads them: zeros past the end of the file, through ReadAt when
// r is not a file.
func fileRun(r io.ReaderAt, size, host, n int64) alloc.FileRun {
	if host >= size {
		return alloc.FileRun{Len: n, Zero: true}
	}
	n = min(n, size-host)
	if s, ok := r.(interface{ SourceFile() *os.File }); ok {
		if f := s.SourceFile(); f != nil {
			return alloc.FileRun{Len: n, File: f, FileOff: host}
		}
	}
	return alloc.FileRun{Len: n}
}
