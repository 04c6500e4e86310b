package fsfile

import (
	"fmt"
	"io"
	iofs "io/fs"
	"sort"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// Extents reads the Size bytes of a file whose data extents (sorted by
// FileOff, Off on R) a filesystem has mapped: what no extent maps, and
// unwritten extents, read as zeros. fs/ext, fs/xfs and fs/ufs read files
// and directories through it.
type Extents struct {
	R    io.ReaderAt
	Size int64
	Ext  []bmap.Extent
}

// find returns the index of the first extent ending after off.
func (c *Extents) find(off int64) int {
	return sort.Search(len(c.Ext), func(i int) bool { return c.Ext[i].FileOff+c.Ext[i].Len > off })
}

// Mapped reports whether byte off is in a written extent.
func (c *Extents) Mapped(off int64) bool {
	i := c.find(off)
	return i < len(c.Ext) && c.Ext[i].FileOff <= off && !c.Ext[i].Unwritten
}

// DiskOff returns where byte off lies on R (for error messages), or -1.
func (c *Extents) DiskOff(off int64) int64 {
	i := c.find(off)
	if i < len(c.Ext) && c.Ext[i].FileOff <= off {
		return c.Ext[i].Off + off - c.Ext[i].FileOff
	}
	return -1
}

// ReadAt reads the file's bytes at off; a read past Size is short with
// io.EOF. Errors name the bytes and offset on R that could not be read.
func (c *Extents) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, iofs.ErrInvalid
	}
	if off >= c.Size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > c.Size-off {
		p = p[:c.Size-off]
	}
	done := 0
	i := c.find(off)
	for done < len(p) {
		pos := off + int64(done)
		for i < len(c.Ext) && c.Ext[i].FileOff+c.Ext[i].Len <= pos {
			i++
		}
		if i == len(c.Ext) || c.Ext[i].FileOff > pos {
			// A hole up to the next extent.
			end := int64(len(p))
			if i < len(c.Ext) {
				end = min(end, c.Ext[i].FileOff-off)
			}
			clear(p[done:end])
			done = int(end)
			continue
		}
		e := c.Ext[i]
		n := int(min(int64(len(p)-done), e.FileOff+e.Len-pos))
		if e.Unwritten {
			clear(p[done : done+n])
		} else if err := chunkcache.ReadFull(c.R, p[done:done+n], e.Off+pos-e.FileOff); err != nil {
			return done, fmt.Errorf("reading %d bytes at %#x: %w", n, e.Off+pos-e.FileOff, err)
		}
		done += n
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}
