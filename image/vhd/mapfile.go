package vhd

import (
	"fmt"
	"os"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// MapFile says where the guest bytes at off sit in the image file (Disk is
// an alloc.FileMapper): a fixed disk's bytes are the file's at the same
// offset, a dynamic or differencing disk's present sectors are in their
// block after its bitmap; past the end of the file and in a dynamic
// disk's unallocated blocks and absent sectors they are zeros; a
// differencing disk's parent, and everything when the reader is not a
// file, must be read through ReadAt. It agrees with ReadAt (readFile,
// readBlock) byte for byte.
func (d *Disk) MapFile(off, n int64) (alloc.FileRun, error) {
	if off < 0 || n <= 0 || off >= d.size {
		return alloc.FileRun{}, fmt.Errorf("vhd: bad file map range %d+%d", off, n)
	}
	n = min(n, d.size-off)
	f := d.file()
	if d.h == nil {
		return d.fileRun(f, off, n), nil
	}
	idx, within := off/d.blockSize, off%d.blockSize
	n = min(n, d.blockSize-within)
	if idx >= int64(len(d.bat)) || d.bat[idx] == unallocated {
		return d.parentRun(off, n), nil
	}
	bm, err := d.bitmap(idx)
	if err != nil {
		return alloc.FileRun{}, err
	}
	m, in := sectorRun(bm, within, n)
	if !in {
		return d.parentRun(off, m), nil
	}
	r := d.fileRun(f, int64(d.bat[idx])*512+d.bitmapSize+within, m)
	return r, nil
}

// file is the image file when the reader is one (image/raw over an opened
// file), or nil.
func (d *Disk) file() *os.File {
	if s, ok := d.r.(interface{ SourceFile() *os.File }); ok {
		return s.SourceFile()
	}
	return nil
}

// fileRun is the run of n bytes of the file f at at, as readFile reads
// them: zeros past the end of the file.
func (d *Disk) fileRun(f *os.File, at, n int64) alloc.FileRun {
	if at >= d.fileSize {
		return alloc.FileRun{Len: n, Zero: true}
	}
	n = min(n, d.fileSize-at)
	if f == nil {
		return alloc.FileRun{Len: n}
	}
	return alloc.FileRun{Len: n, File: f, FileOff: at}
}

// parentRun is a run of n bytes not in the file, as readParent reads
// them: zeros without a parent or past its end, else through ReadAt.
func (d *Disk) parentRun(off, n int64) alloc.FileRun {
	if d.parent == nil || off >= d.parentSize {
		return alloc.FileRun{Len: n, Zero: true}
	}
	return alloc.FileRun{Len: min(n, d.parentSize-off)}
}
