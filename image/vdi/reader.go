// Package vdi reads VirtualBox VDI disk images read-only, as the guest
// sees them: ReadAt takes guest offsets.
//
// It reads version 1.1 images (what VirtualBox and qemu write): the
// pre-header text and signature (0xbeda107f), the header (image type,
// block map and data offsets, 512-byte sectors, disk and block sizes,
// block extra data, the four UUIDs), and the block map, one entry per
// block: the block's number in the data area, 0xffffffff for a block never
// written (zeros, or the parent's bytes in a differencing image) or
// 0xfffffffe for a discarded block (zeros). Static (fixed), dynamic and
// differencing images are read; undo images and version 0 headers are
// refused with a message that names them.
//
// A differencing image names its parent only by UUID (the link UUID is
// the parent's image UUID; the parent modification UUID must equal the
// parent's modification UUID, else the parent changed since the child was
// made and the child is refused): there is no path in the file. The parent
// is looked for, in this order, among the files the user named
// (Config.Parents: --allow-backing PATH), then among the files of the
// differencing image's own directory, sorted by name; the first VDI whose
// image UUID matches is opened. Every candidate is opened through the
// chain.Opener, so image/chain's policy holds (a symbolic link leading
// out of the directory is skipped) and loops are caught by its tracker.
//
// Checks for untrusted images: every header field is checked against the
// file size before use (the block map must fit in the file, so its memory
// follows the input), every block map entry is a block number below the
// block count or one of the two markers, and a block past the end of the
// file is an error naming the guest offset. No Go library reads VDI (the
// formats in go-diskfs and others are raw, qcow2 and VHD), so this is our
// own, after VirtualBox's VDICore.h and qemu's block/vdi.c.
package vdi

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
)

// Config says how New finds the files a differencing image needs.
type Config struct {
	// Opener opens the parent of a differencing image. When nil, such an
	// image is refused with an error that says so.
	Opener chain.Opener
	// Path is where the image was opened from: the parent is searched in
	// its directory, and names are resolved against it.
	Path string
	// Parents are files the user named as possible parents: searched
	// first, wherever they are (the Opener must allow them).
	Parents []string
}

// Info describes an opened image.
type Info struct {
	Text         string // the pre-header text, e.g. "<<< Oracle VM VirtualBox Disk Image >>>"
	Type         int    // TypeDynamic, TypeStatic or TypeDiff
	Comment      string
	Size         int64 // disk size in bytes
	BlockSize    int64
	BlockExtra   int64
	Blocks       int // blocks in the image
	Allocated    int // blocks allocated, as the header says
	UUID         UUID
	ModifyUUID   UUID
	ParentUUID   UUID   // the link UUID: the parent's image UUID
	ParentModify UUID   // the parent's modification UUID when linked
	Parent       string // resolved path of the parent; "" without one
}

// Image is an opened VDI image. ReadAt and Extents may be called
// concurrently.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	h        *header
	bmap     []uint32

	parent     chain.Image // differencing images: the parent, else nil
	parentSize int64
	parentPath string
	file       chain.File // the file Open opened, closed by Close; nil for New

	closeOnce sync.Once
	closeErr  error
}

// New reads the VDI image in r (size bytes), opened from path; o opens the
// parent of a differencing image (see Config).
func New(r io.ReaderAt, size int64, o chain.Opener, path string) (*Image, error) {
	return NewConfig(r, size, Config{Opener: o, Path: path})
}

// NewConfig is New with a Config.
func NewConfig(r io.ReaderAt, size int64, c Config) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("vdi: negative file size %d", size)
	}
	h, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	bmap, err := readBlockMap(r, h)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, fileSize: size, h: h, bmap: bmap}
	if h.imageType == TypeDiff {
		if err := img.openParent(c); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// Size is the disk size the guest sees.
func (img *Image) Size() int64 { return img.h.diskSize }

// Close closes the parent chain (and for Open the file itself, never the
// reader given to New). It is safe to call more than once.
func (img *Image) Close() error {
	img.closeOnce.Do(func() {
		var errs []error
		if img.parent != nil {
			errs = append(errs, img.parent.Close())
		}
		if img.file != nil {
			errs = append(errs, img.file.Close())
		}
		img.closeErr = errors.Join(errs...)
	})
	return img.closeErr
}

// Info describes the image.
func (img *Image) Info() Info {
	h := img.h
	return Info{
		Text: h.text, Type: int(h.imageType), Comment: h.comment, Size: h.diskSize,
		BlockSize: h.blockSize, BlockExtra: h.extra, Blocks: int(h.blocks), Allocated: int(h.allocated),
		UUID: h.uuid, ModifyUUID: h.modify, ParentUUID: h.link, ParentModify: h.parentMod,
		Parent: img.parentPath,
	}
}

// ReadAt reads the guest bytes at off. Reads past the disk size are short
// with io.EOF.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vdi: negative offset %d", off)
	}
	size := img.h.diskSize
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > size-off {
		p = p[:size-off]
		eof = io.EOF
	}
	bs := img.h.blockSize
	for done := 0; done < len(p); {
		at := off + int64(done)
		bi, inner := at/bs, at%bs
		n := int(min(int64(len(p)-done), bs-inner))
		buf := p[done : done+n]
		var err error
		switch e := img.bmap[bi]; e {
		case blockZero:
			clear(buf)
		case blockFree:
			err = img.readParent(buf, at)
		default:
			err = img.readBlock(buf, e, inner, at)
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return len(p), eof
}

// readBlock fills buf from file block e, inner bytes in, for guest offset
// guest. A block that starts past the end of the file is an error (a
// truncated image); the part of a last block past the end reads as zeros.
func (img *Image) readBlock(buf []byte, e uint32, inner, guest int64) error {
	start := img.h.blockOffset(e)
	if start >= img.fileSize {
		return formatErr(start, fmt.Sprintf("block %d (guest offset %#x)", e, guest), "is past the end of the file (%d bytes)", img.fileSize)
	}
	host := start + inner
	n := min(int64(len(buf)), max(0, img.fileSize-host))
	if m, err := img.r.ReadAt(buf[:n], host); int64(m) < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("vdi: reading guest offset %#x at file offset %#x: %w", guest, host, err)
	}
	clear(buf[n:])
	return nil
}

// readParent fills buf with the parent's bytes at guest offset off (zeros
// without a parent, or past its end).
func (img *Image) readParent(buf []byte, off int64) error {
	if img.parent == nil || off >= img.parentSize {
		clear(buf)
		return nil
	}
	n := min(int64(len(buf)), img.parentSize-off)
	if m, err := img.parent.ReadAt(buf[:n], off); int64(m) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("vdi: parent %s at %#x: %w", img.parentPath, off, err)
	}
	clear(buf[n:])
	return nil
}

// maxExtents bounds the extents one Extents call returns (after merging).
const maxExtents = 4096

// Extents reports the allocation of the guest range [off, off+length)
// (Image is an alloc.Mapper), as qemu's block status reads a VDI:
// allocated blocks are data; free and discarded blocks are holes of
// zeros, except that a differencing image's free blocks are what its
// parent has there. In a static image, allocated blocks that are holes of
// the file itself read as zeros (qemu asks the file there too), when the
// reader the image was given is an alloc.Mapper of the file.
func (img *Image) Extents(off, length int64) ([]alloc.Extent, error) {
	size := img.h.diskSize
	if off < 0 || off >= size || length <= 0 {
		return nil, nil
	}
	end := off + min(length, size-off)
	bs := img.h.blockSize
	var out []alloc.Extent
	for pos := off; pos < end && len(out) < maxExtents; {
		bi, inner := pos/bs, pos%bs
		n := min(end-pos, bs-inner)
		var err error
		switch e := img.bmap[bi]; {
		case e == blockZero || (e == blockFree && img.parent == nil):
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: n, Hole: true, Zero: true})
		case e == blockFree:
			out, err = img.parentExtents(out, pos, n)
		default:
			out = img.dataExtents(out, pos, n, img.h.blockOffset(e)+inner)
		}
		if err != nil {
			if len(out) > 0 {
				return out, nil // the caller asks again from here and gets the error
			}
			return nil, err
		}
		pos += n
	}
	return out, nil
}

// dataExtents appends the guest range [off, off+n), data at file offset
// host: data, or (static images over a file that knows its holes) data
// that reads as zeros where the file has holes.
func (img *Image) dataExtents(out []alloc.Extent, off, n, host int64) []alloc.Extent {
	if m, ok := img.r.(alloc.Mapper); ok && img.h.imageType == TypeStatic {
		hend := min(host+n, img.fileSize)
		for host < hend {
			exts, err := m.Extents(host, hend-host)
			progressed := false
			for _, e := range exts {
				if e.Off != host || e.Len <= 0 || host >= hend {
					break
				}
				l := min(e.End(), hend) - host
				out = alloc.Append(out, alloc.Extent{Off: off, Len: l, Zero: e.Zero})
				off, host, n = off+l, host+l, n-l
				progressed = true
			}
			if err != nil || !progressed {
				break
			}
		}
	}
	// What the file cannot say is data.
	return alloc.Append(out, alloc.Extent{Off: off, Len: n})
}

// parentExtents appends the parent's allocation of the guest range [off,
// off+n), then holes of zeros past its end.
func (img *Image) parentExtents(out []alloc.Extent, off, n int64) ([]alloc.Extent, error) {
	end := off + n
	pend := max(off, min(end, img.parentSize))
	m, mapped := img.parent.(alloc.Mapper)
	if pend > off && !mapped {
		out = alloc.Append(out, alloc.Extent{Off: off, Len: pend - off})
	}
	for pos := off; mapped && pos < pend; {
		exts, err := m.Extents(pos, pend-pos)
		if err != nil {
			return out, fmt.Errorf("vdi: allocation of the parent %s at %#x: %w", img.parentPath, pos, err)
		}
		start := pos
		for _, e := range exts {
			if e.Off != pos || e.Len <= 0 || pos >= pend {
				break
			}
			l := min(e.End(), pend) - pos
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: l, Hole: e.Hole, Zero: e.Zero})
			pos += l
		}
		if pos == start {
			out = alloc.Append(out, alloc.Extent{Off: pos, Len: pend - pos})
			pos = pend
		}
	}
	return alloc.Append(out, alloc.Extent{Off: pend, Len: end - pend, Hole: true, Zero: true}), nil
}

// KnownData reports whether the guest range [off, off+n) is known to be
// all data without work: every block in it is allocated here (and, in a
// static image over a file that knows its holes, that file knows the
// range is data). The NBD server then skips asking for extents on reads.
func (img *Image) KnownData(off, n int64) bool {
	if off < 0 || n <= 0 || off+n > img.h.diskSize {
		return false
	}
	k, fileKnows := img.r.(interface{ KnownData(off, n int64) bool })
	bs := img.h.blockSize
	for pos, end := off, off+n; pos < end; {
		bi, inner := pos/bs, pos%bs
		l := min(end-pos, bs-inner)
		e := img.bmap[bi]
		if e >= img.h.blocks {
			return false
		}
		if img.h.imageType == TypeStatic && (!fileKnows || !k.KnownData(img.h.blockOffset(e)+inner, l)) {
			return false
		}
		pos += l
	}
	return true
}
