package vhdx

import (
	"fmt"
	"io"
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// MapFile says where the guest bytes at off sit in the image file (Disk is
// an alloc.FileMapper): a fully present block's bytes, and a partially
// present block's present sectors, are in the file at the block's offset;
// blocks not present (without a parent, or past its end) and zero or
// unmapped blocks are zeros; the parent's bytes must be read through
// ReadAt, and so must everything when the log was replayed over the file
// (the replayed sectors are not in it) or the reader is not a file. Data
// past the end of the file is ReadAt's error. It agrees with ReadAt byte
// for byte.
func (d *Disk) MapFile(off, n int64) (alloc.FileRun, error) {
	if off < 0 || n <= 0 || off >= d.size {
		return alloc.FileRun{}, fmt.Errorf("vhdx: bad file map range %d+%d", off, n)
	}
	idx, within := off/d.bs, off%d.bs
	n = min(n, d.size-off, d.bs-within)
	m, src, err := d.run(idx, within, n)
	if err != nil {
		return alloc.FileRun{}, err
	}
	switch src {
	case fromZero:
		return alloc.FileRun{Len: m, Zero: true}, nil
	case fromParent:
		if d.parent == nil || off >= d.parentSize {
			return alloc.FileRun{Len: m, Zero: true}, nil
		}
		return alloc.FileRun{Len: min(m, d.parentSize-off)}, nil
	}
	o := d.file
	if o.dirty() || o.size != o.fileSize {
		return alloc.FileRun{Len: m}, nil
	}
	at := entryOffset(d.bat.payload(idx)) + within
	if at+m > o.fileSize {
		return alloc.FileRun{}, fmt.Errorf("vhdx: block %d at %#x: %w", idx, at, io.ErrUnexpectedEOF)
	}
	if s, ok := o.r.(interface{ SourceFile() *os.File }); ok {
		if f := s.SourceFile(); f != nil {
			return alloc.FileRun{Len: m, File: f, FileOff: at}, nil
		}
	}
	return alloc.FileRun{Len: m}, nil
}
