package btrfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"sync"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// File extent types (btrfs_file_extent_item.type).
const (
	extInline   = 0
	extRegular  = 1
	extPrealloc = 2
)

const (
	fileExtentHdr  = 21 // generation, ram_bytes, compression, encryption, other_encoding, type
	fileExtentSize = 53
	// maxFileExtents caps the EXTENT_DATA items read for one file.
	maxFileExtents = 1 << 20
	// maxInline caps an inline extent's decompressed size: btrfs keeps
	// at most a sector inline, and never more than a node.
	maxInline = 64 << 10
)

// ErrUnsupported is wrapped by the error for an extent this package
// cannot read (encrypted or otherwise encoded).
var ErrUnsupported = errors.New("btrfs: unsupported")

// fileExtent is one EXTENT_DATA item: length bytes of the file from
// fileOff.
type fileExtent struct {
	fileOff uint64
	length  uint64 // num_bytes; for inline, ram_bytes
	typ     uint8
	comp    uint8
	// Regular and prealloc: the disk extent, its size, and where the
	// file's bytes start in its (decompressed) contents. diskBytenr 0
	// is a hole.
	diskBytenr, diskNum, offset, ramBytes uint64
	// Inline: the item's data (compressed or not), and where it lies.
	inline     []byte
	inlineLeaf uint64 // leaf logical address
	inlineOff  int    // data offset inside the leaf
}

func (e *fileExtent) hole() bool {
	return e.typ != extInline && e.diskBytenr == 0
}

// parseFileExtent decodes the EXTENT_DATA item it at file offset fileOff.
func parseFileExtent(it item, where string) (fileExtent, error) {
	b := it.data
	bad := func(format string, args ...any) (fileExtent, error) {
		return fileExtent{}, &diskerr.FormatError{FS: "btrfs", Off: it.phys, What: where, Msg: fmt.Sprintf("extent at file offset %d: ", it.key.offset) + fmt.Sprintf(format, args...)}
	}
	if len(b) < fileExtentHdr {
		return bad("%d bytes, short of a file extent", len(b))
	}
	le := binary.LittleEndian
	e := fileExtent{fileOff: it.key.offset, ramBytes: le.Uint64(b[8:]), comp: b[16], typ: b[20]}
	if b[17] != 0 || le.Uint16(b[18:]) != 0 {
		return fileExtent{}, fmt.Errorf("btrfs: %s: extent at file offset %d: encryption %d, encoding %d: %w", where, it.key.offset, b[17], le.Uint16(b[18:]), ErrUnsupported)
	}
	if e.comp > compZstd {
		return bad("unknown compression %d", e.comp)
	}
	switch e.typ {
	case extInline:
		if it.key.offset != 0 {
			return bad("inline extent not at offset 0")
		}
		e.inline = append([]byte(nil), b[fileExtentHdr:]...)
		if e.comp == compNone {
			e.ramBytes = uint64(len(e.inline))
		}
		if e.ramBytes > maxInline {
			return bad("inline extent of %d bytes", e.ramBytes)
		}
		e.length = e.ramBytes
		e.inlineLeaf, e.inlineOff = it.logical, it.dataOff+fileExtentHdr
		return e, nil
	case extRegular, extPrealloc:
	default:
		return bad("unknown extent type %d", e.typ)
	}
	if len(b) < fileExtentSize {
		return bad("%d bytes, short of a regular file extent", len(b))
	}
	e.diskBytenr, e.diskNum, e.offset, e.length = le.Uint64(b[21:]), le.Uint64(b[29:]), le.Uint64(b[37:]), le.Uint64(b[45:])
	if e.length == 0 {
		return bad("length 0")
	}
	if e.fileOff+e.length < e.fileOff || e.fileOff+e.length > 1<<62 {
		return bad("length %d overflows", e.length)
	}
	if e.diskBytenr == 0 {
		return e, nil
	}
	if e.comp != compNone {
		if e.typ == extPrealloc {
			return bad("compressed preallocated extent")
		}
		if e.diskNum == 0 || e.diskNum > maxCompressed || e.ramBytes > maxCompressed {
			return bad("compressed extent of %d bytes (%d on disk) beyond %d", e.ramBytes, e.diskNum, maxCompressed)
		}
		if e.offset+e.length > e.ramBytes || e.offset+e.length < e.offset {
			return bad("offset %d + %d beyond the %d bytes of the extent", e.offset, e.length, e.ramBytes)
		}
	} else if e.offset+e.length > e.diskNum || e.offset+e.length < e.offset {
		return bad("offset %d + %d beyond the %d bytes of the disk extent", e.offset, e.length, e.diskNum)
	}
	if e.diskBytenr+e.diskNum < e.diskBytenr {
		return bad("disk extent %#x+%d overflows", e.diskBytenr, e.diskNum)
	}
	return e, nil
}

// fileExtents returns the EXTENT_DATA items of inode in, sorted by file
// offset; overlapping extents are an error.
func (f *FS) fileExtents(t treeRoot, in *Inode) ([]fileExtent, error) {
	var out []fileExtent
	where := fmt.Sprintf("%s inode %d", treeName(t.id), in.Num)
	err := f.iterate(t, key{objectid: in.Num, typ: typeExtentData}, func(it item) (bool, error) {
		if it.key.objectid != in.Num || it.key.typ != typeExtentData {
			return false, nil
		}
		if len(out) >= maxFileExtents {
			return false, fmt.Errorf("btrfs: %s: more than %d extents", where, maxFileExtents)
		}
		e, err := parseFileExtent(it, where)
		if err != nil {
			return false, err
		}
		if n := len(out); n > 0 && out[n-1].fileOff+out[n-1].length > e.fileOff {
			return false, &diskerr.FormatError{FS: "btrfs", Off: it.phys, What: where, Msg: fmt.Sprintf("extent at file offset %d overlaps the one at %d (+%d)", e.fileOff, out[n-1].fileOff, out[n-1].length)}
		}
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// extentReader reads a file's contents: size bytes mapped by extents;
// holes, prealloc extents and what no extent maps read as zeros.
type extentReader struct {
	f    *FS
	size int64
	ext  []fileExtent

	mu      sync.Mutex
	lastKey uint64 // diskBytenr (or 1 for the inline extent) of last
	last    []byte // decompressed contents of the last compressed extent
}

func (c *extentReader) find(off uint64) int {
	return sort.Search(len(c.ext), func(i int) bool { return c.ext[i].fileOff+c.ext[i].length > off })
}

// decompressed returns the whole decompressed contents of e.
func (c *extentReader) decompressed(e *fileExtent) ([]byte, error) {
	k := e.diskBytenr
	if e.typ == extInline {
		k = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.lastKey == k {
		return c.last, nil
	}
	src := e.inline
	if e.typ != extInline {
		src = make([]byte, e.diskNum)
		if err := c.f.readLogical(src, e.diskBytenr); err != nil {
			return nil, err
		}
	}
	out := make([]byte, e.ramBytes)
	if err := decompress(e.comp, src, out, int(c.f.sb.sectorSize)); err != nil {
		return nil, fmt.Errorf("extent at file offset %d (logical %#x): %w", e.fileOff, e.diskBytenr, err)
	}
	c.last, c.lastKey = out, k
	return out, nil
}

func (c *extentReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, iofs.ErrInvalid
	}
	if off >= c.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > c.size-off {
		p = p[:c.size-off]
	}
	done := 0
	i := c.find(uint64(off))
	for done < len(p) {
		pos := uint64(off) + uint64(done)
		for i < len(c.ext) && c.ext[i].fileOff+c.ext[i].length <= pos {
			i++
		}
		if i == len(c.ext) || c.ext[i].fileOff > pos {
			end := len(p)
			if i < len(c.ext) {
				end = int(min(uint64(end), c.ext[i].fileOff-uint64(off)))
			}
			clear(p[done:end])
			done = end
			continue
		}
		e := &c.ext[i]
		n := int(min(uint64(len(p)-done), e.fileOff+e.length-pos))
		in := pos - e.fileOff // offset inside the extent's file range
		dst := p[done : done+n]
		switch {
		case e.hole() || e.typ == extPrealloc:
			clear(dst)
		case e.comp != compNone:
			d, err := c.decompressed(e)
			if err != nil {
				return done, err
			}
			copy(dst, d[e.offset+in:])
		case e.typ == extInline:
			copy(dst, e.inline[in:])
		default:
			if err := c.f.readLogical(dst, e.diskBytenr+e.offset+in); err != nil {
				return done, fmt.Errorf("extent at file offset %d (logical %#x): %w", e.fileOff, e.diskBytenr, err)
			}
		}
		done += n
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}
