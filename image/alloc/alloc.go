// Package alloc describes which bytes of a disk image hold data and which
// are holes or read as zeros. Every image format (image/...) reports its
// allocation with these types, and the NBD server answers block-status
// requests (NBD_CMD_BLOCK_STATUS, base:allocation) from them, so that
// `nbdinfo --map` of an export and the block map's holes both come from
// the one place that reads the format. It is a leaf package.
package alloc

import "os"

// Extent is a run of bytes of an image with the same allocation state.
// Hole: not allocated in the image file (or its chain), Zero: reads as
// zeros. Data is Hole == Zero == false. A hole that a backing file fills is
// not a hole: formats report what the guest sees through the whole chain.
type Extent struct {
	Off, Len   int64
	Hole, Zero bool
}

// End is one past the extent's last byte.
func (e Extent) End() int64 { return e.Off + e.Len }

// Mapper is implemented by an image that knows its allocation. Extents
// returns consecutive extents starting at off and covering at most length
// bytes; it may cover fewer (the caller asks again from where they end),
// but at least one byte when off < size. It must be safe for concurrent
// use.
type Mapper interface {
	Extents(off, length int64) ([]Extent, error)
}

// Append adds e to list, merging it with the last extent when they touch
// and have the same state. Empty extents are dropped.
func Append(list []Extent, e Extent) []Extent {
	if e.Len <= 0 {
		return list
	}
	if n := len(list); n > 0 {
		l := &list[n-1]
		if l.End() == e.Off && l.Hole == e.Hole && l.Zero == e.Zero {
			l.Len += e.Len
			return list
		}
	}
	return append(list, e)
}

// FileRun is where the first bytes of a guest range are stored: Len
// bytes that are the bytes of File from FileOff on (File != nil, stored
// verbatim), or read as zeros (Zero), or neither: they must be read
// through the image's ReadAt (compressed, in a parent image, a block
// whose sectors are partly present...).
type FileRun struct {
	Len     int64
	File    *os.File
	FileOff int64
	Zero    bool
}

// FileMapper is implemented by an image reader that can say where guest
// bytes sit verbatim in a file, so that the NBD server sends them from
// the file with sendfile(2) instead of reading them through a buffer.
// MapFile returns the first run of [off, off+n) (0 < n, off+n within the
// disk), at least one byte and at most n. Its answer must agree with
// ReadAt byte for byte. It must be safe for concurrent use and cheap:
// the format's cached tables, no data read.
type FileMapper interface {
	MapFile(off, n int64) (FileRun, error)
}
