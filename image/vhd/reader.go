// Package vhd reads VHD disk images (Virtual PC, Hyper-V generation 1,
// Azure; qemu calls the format "vpc") read-only, as the guest sees them:
// ReadAt takes virtual (guest) offsets.
//
// What is read, after Microsoft's "Virtual Hard Disk Image Format
// Specification" and qemu's block/vpc.c:
//   - the hard disk footer (footer.go) at the end of the file, its
//     "conectix" cookie, type and checksum checked; when the footer at the
//     end is missing, truncated or fails its checksum, a dynamic or
//     differencing disk is read through the footer's copy at offset 0 (if
//     that one is whole), with a warning;
//   - the virtual size, by qemu's rule (footer.sizeFromCurrentSize): CHS
//     geometry for Virtual PC and qemu ("vpc ", "qemu") images,
//     current_size for Hyper-V, Disk2vhd, XenServer, XenConverter and
//     qemu with force_size ("win ", "d2v ", "tap\0", "CTXS", "qem2"), and
//     current_size whenever the geometry is the maximum one; over 2040 GiB
//     is refused as qemu refuses it;
//   - fixed disks: the bytes of the file from offset 0; a footer that
//     claims more than the file holds reads as zeros past the end, as in
//     qemu (whose file layer pads short reads);
//   - dynamic disks: the dynamic disk header ("cxsparse", checksum,
//     power-of-two block size, dynheader.go), the block allocation table
//     (bat.go; its size checked against the file and the disk, every
//     block inside the file) and each block's sector bitmap: a sector
//     whose bit is clear reads as zeros. (qemu ignores the bitmaps and
//     reads whole blocks; the images qemu writes set every bit, so the two
//     agree on them.)
//   - differencing disks: the same, and a sector whose bit is clear, or a
//     block that is not allocated, reads from the parent. The parent is
//     found through the parent locators (locator.go): W2ru (relative),
//     W2ku (absolute) UTF-16LE Windows paths turned to slash form, MacX
//     URLs, then the parent's name in the header; each name goes through
//     the chain.Opener the caller gives, which applies image/chain's
//     policy (relative to the image's directory, nothing outside it unless
//     the user allowed it) and detects loops. The parent's footer UUID
//     must equal the parent UUID in the child's header.
//
// Nothing is allocated by a count read from the image without a bound:
// the BAT must lie in the file, locators are at most 64 KiB, sector
// bitmaps are kept in a bounded LRU cache. The image is never written to.
package vhd

import (
	"errors"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/lru"
)

// ErrParentMismatch is wrapped by the error for a parent whose UUID is not
// the one the differencing disk names.
var ErrParentMismatch = errors.New("vhd: parent UUID does not match the differencing disk's")

// Config tunes New.
type Config struct {
	// Path is where the image was opened from: the opener resolves
	// parent names against it.
	Path string
	// Open opens the parent of a differencing disk. When nil, a
	// differencing disk is refused with an error that says so.
	Open chain.Opener
	// Warn receives notices (a footer read from its copy). nil drops them.
	Warn func(string)
	// CacheBytes bounds the sector bitmaps kept in memory (0: 1 MiB).
	CacheBytes int64
}

// Info describes an opened disk.
type Info struct {
	Type        int    // TypeFixed, TypeDynamic or TypeDifferencing
	Size        int64  // virtual size in bytes
	BlockSize   int64  // 0 for fixed disks
	CreatorApp  string // "qemu", "qem2", "win "...
	UUID        [16]byte
	ParentUUID  [16]byte // differencing disks
	ParentPath  string   // as resolved by the opener
	FooterAt    int64    // where the footer used was read
	CurrentSize int64    // the footer's current_size, whichever size is used
}

// Disk is an opened VHD. ReadAt and Extents may be called concurrently.
type Disk struct {
	r        io.ReaderAt
	fileSize int64
	f        *footer
	footerAt int64
	size     int64

	h          *dynHeader // nil for fixed disks
	bat        []uint32
	blockSize  int64
	bitmapSize int64
	bitmaps    *lru.Cache[uint32, []byte]

	parent     chain.Image
	parentSize int64
	parentPath string
}

// New reads the VHD in r (size bytes).
func New(r io.ReaderAt, size int64, c Config) (*Disk, error) {
	if size < 0 {
		return nil, fmt.Errorf("vhd: negative file size %d", size)
	}
	f, at, err := readFooter(r, size, c.Warn)
	if err != nil {
		return nil, err
	}
	vsize, err := f.virtualSize(at)
	if err != nil {
		return nil, err
	}
	d := &Disk{r: r, fileSize: size, f: f, footerAt: at, size: vsize}
	if f.diskType == TypeFixed {
		return d, nil
	}
	if f.dataOffset > uint64(size) || int64(f.dataOffset) > size-dynHeaderSize {
		return nil, &diskerr.FormatError{FS: "vhd", Off: at, What: "footer",
			Msg: fmt.Sprintf("dynamic disk header offset %#x is not inside the %d-byte file", f.dataOffset, size)}
	}
	hb := make([]byte, dynHeaderSize)
	if n, err := r.ReadAt(hb, int64(f.dataOffset)); n < len(hb) {
		return nil, &diskerr.FormatError{FS: "vhd", Off: int64(f.dataOffset), What: "dynamic disk header", Msg: "reading", Err: err}
	}
	h, err := parseDynHeader(hb, int64(f.dataOffset))
	if err != nil {
		return nil, err
	}
	d.h = h
	d.blockSize = int64(h.blockSize)
	d.bitmapSize = h.bitmapSize()
	if d.bat, err = readBAT(r, size, h, vsize); err != nil {
		return nil, err
	}
	budget := c.CacheBytes
	if budget <= 0 {
		budget = 1 << 20
	}
	d.bitmaps = lru.New[uint32, []byte](int64(max(16, budget/d.bitmapSize)))
	if f.diskType == TypeDifferencing {
		if err := d.openParent(c); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readFooter finds the footer: at the end of the file, or, when that one
// is unusable, its copy at offset 0 (dynamic and differencing disks only).
func readFooter(r io.ReaderAt, size int64, warn func(string)) (*footer, int64, error) {
	if size < footerSize {
		return nil, 0, &diskerr.FormatError{FS: "vhd", What: "footer", Msg: fmt.Sprintf("file of %d bytes is too small", size), Err: io.ErrUnexpectedEOF}
	}
	read := func(off int64) (*footer, error) {
		b := make([]byte, footerSize)
		if n, err := r.ReadAt(b, off); n < footerSize {
			return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer", Msg: "reading", Err: err}
		}
		return parseFooter(b, off)
	}
	end := size - footerSize
	f, errEnd := read(end)
	if errEnd == nil {
		return f, end, nil
	}
	c, errStart := read(0)
	if errStart == nil && c.diskType != TypeFixed {
		if warn != nil {
			warn(fmt.Sprintf("vhd: %v; using the footer's copy at offset 0", errEnd))
		}
		return c, 0, nil
	}
	if errStart == nil {
		errStart = errors.New("vhd: the copy at offset 0 is of a fixed disk, which has none")
	}
	return nil, 0, fmt.Errorf("%w (and no usable copy at offset 0: %w)", errEnd, errStart)
}

// openParent finds, checks and opens the parent of a differencing disk.
func (d *Disk) openParent(c Config) error {
	names, err := parentNames(d.r, d.fileSize, d.h)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return &diskerr.FormatError{FS: "vhd", Off: int64(d.f.dataOffset), What: "dynamic disk header", Msg: "differencing disk names no parent"}
	}
	if c.Open == nil {
		return fmt.Errorf("vhd: differencing disk with the parent %q, and no opener was given for it", names[0])
	}
	var errs []error
	for _, name := range names {
		pf, path, err := c.Open.OpenFile(c.Path, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("parent %q: %w", name, err))
			continue
		}
		pfoot, _, err := readFooter(pf, pf.Size(), nil)
		pf.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("parent %q: %w", name, err))
			continue
		}
		if pfoot.uuid != d.h.parentUUID {
			errs = append(errs, fmt.Errorf("parent %q: %w (its UUID is %s, the child names %s)",
				name, ErrParentMismatch, uuidString(pfoot.uuid), uuidString(d.h.parentUUID)))
			continue
		}
		img, _, err := c.Open.OpenImage(c.Path, name, "vpc")
		if err != nil {
			return fmt.Errorf("vhd: parent %q: %w", name, err)
		}
		d.parent, d.parentSize, d.parentPath = img, img.Size(), path
		return nil
	}
	return fmt.Errorf("vhd: no parent of the differencing disk could be opened: %w", errors.Join(errs...))
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Size is the virtual size: the disk as the guest sees it.
func (d *Disk) Size() int64 { return d.size }

// Close closes the parent chain. The caller closes r.
func (d *Disk) Close() error {
	if d.parent != nil {
		p := d.parent
		d.parent = nil
		return p.Close()
	}
	return nil
}

// Info describes the disk.
func (d *Disk) Info() Info {
	i := Info{
		Type: int(d.f.diskType), Size: d.size, BlockSize: d.blockSize,
		CreatorApp: string(d.f.creatorApp[:]), UUID: d.f.uuid,
		ParentPath: d.parentPath, FooterAt: d.footerAt, CurrentSize: int64(min(d.f.currentSize, 1<<62)),
	}
	if d.h != nil {
		i.ParentUUID = d.h.parentUUID
	}
	return i
}

// ReadAt reads the guest bytes at off. Reads past the virtual size are
// short with io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhd: negative offset %d", off)
	}
	if off >= d.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > d.size-off {
		p = p[:d.size-off]
		eof = io.EOF
	}
	if d.h == nil {
		if err := d.readFile(p, off); err != nil {
			return 0, err
		}
		return len(p), eof
	}
	for done := 0; done < len(p); {
		at := off + int64(done)
		idx := at / d.blockSize
		within := at % d.blockSize
		n := int(min(int64(len(p)-done), d.blockSize-within))
		if err := d.readBlock(p[done:done+n], idx, within); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), eof
}

// readFile reads the image file at off, zeros past its end.
func (d *Disk) readFile(p []byte, off int64) error {
	n := int64(len(p))
	if off >= d.fileSize {
		n = 0
	} else {
		n = min(n, d.fileSize-off)
	}
	if n > 0 {
		if m, err := d.r.ReadAt(p[:n], off); int64(m) < n {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("vhd: reading %d bytes at %#x: %w", n, off, err)
		}
	}
	clear(p[n:])
	return nil
}

// readParent reads the parent at guest offset off: zeros past its end and
// for a dynamic disk (which has none).
func (d *Disk) readParent(p []byte, off int64) error {
	if d.parent == nil || off >= d.parentSize {
		clear(p)
		return nil
	}
	n := min(int64(len(p)), d.parentSize-off)
	if m, err := d.parent.ReadAt(p[:n], off); int64(m) < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("vhd: parent %s at %#x: %w", d.parentPath, off, err)
	}
	clear(p[n:])
	return nil
}

// bitmap returns the sector bitmap of block idx (allocated), or nil when
// every sector of the block is present.
func (d *Disk) bitmap(idx int64) ([]byte, error) {
	if b, ok := d.bitmaps.Get(uint32(idx)); ok {
		return b, nil
	}
	at := int64(d.bat[idx]) * 512
	b := make([]byte, d.bitmapSize)
	if n, err := d.r.ReadAt(b, at); n < len(b) {
		return nil, &diskerr.FormatError{FS: "vhd", Off: at, What: fmt.Sprintf("sector bitmap of block %d", idx), Msg: "reading", Err: err}
	}
	full := true
	for _, c := range b[:d.blockSize/512/8] {
		if c != 0xff {
			full = false
			break
		}
	}
	if full {
		b = nil
	}
	d.bitmaps.Add(uint32(idx), b, 1)
	return b, nil
}

// present tells whether sector s of a block is in the file: bit s of the
// bitmap, most significant bit first.
func present(bm []byte, s int64) bool {
	return bm == nil || bm[s>>3]&(0x80>>(s&7)) != 0
}

// sectorRun returns how many bytes from within (up to n) have the same
// presence as the first, and that presence.
func sectorRun(bm []byte, within, n int64) (int64, bool) {
	s := within / 512
	p := present(bm, s)
	if bm == nil {
		return n, true
	}
	end := within + n
	next := (s + 1) * 512
	for next < end && present(bm, next/512) == p {
		next += 512
	}
	return min(next, end) - within, p
}

// readBlock fills p from block idx at offset within.
func (d *Disk) readBlock(p []byte, idx, within int64) error {
	guest := idx*d.blockSize + within
	if idx >= int64(len(d.bat)) || d.bat[idx] == unallocated {
		return d.readParent(p, guest)
	}
	bm, err := d.bitmap(idx)
	if err != nil {
		return err
	}
	base := int64(d.bat[idx])*512 + d.bitmapSize
	for done := int64(0); done < int64(len(p)); {
		n, in := sectorRun(bm, within+done, int64(len(p))-done)
		q := p[done : done+n]
		if in {
			err = d.readFile(q, base+within+done)
		} else {
			err = d.readParent(q, guest+done)
		}
		if err != nil {
			return err
		}
		done += n
	}
	return nil
}

// maxExtents bounds the extents one Extents call returns, and
// maxExtentBlocks the blocks it looks at (a huge empty disk is one extent
// of millions of blocks: the caller asks again from where it stops).
const (
	maxExtents      = 1024
	maxExtentBlocks = 1 << 14
)

// Extents reports data, holes and zeros in [off, off+length): see
// alloc.Mapper. A fixed disk is data up to the end of the file (or, when
// the reader it was given is an alloc.Mapper, what that says: the holes
// of a sparse file) and a zero hole past it; a dynamic disk's unallocated blocks and absent
// sectors are zero holes; a differencing disk reports its parent's
// allocation there (data when the parent does not say).
func (d *Disk) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("vhd: bad extent range %d+%d", off, length)
	}
	end := min(d.size, off+length)
	var out []alloc.Extent
	if d.h == nil {
		data := min(end, max(off, d.fileSize))
		if m, ok := d.r.(alloc.Mapper); ok && off < data {
			// The file knows its own holes (a sparse fixed VHD).
			exts, err := m.Extents(off, data-off)
			if err != nil {
				return nil, fmt.Errorf("vhd: %w", err)
			}
			if len(exts) == 0 || exts[0].Off != off {
				return nil, fmt.Errorf("vhd: the file's extents at %#x start elsewhere", off)
			}
			for _, e := range exts {
				e.Len = min(e.End(), data) - e.Off
				out = alloc.Append(out, e)
			}
			return out, nil // the caller asks again from where they end
		}
		out = alloc.Append(out, alloc.Extent{Off: off, Len: data - off})
		out = alloc.Append(out, alloc.Extent{Off: data, Len: end - data, Hole: true, Zero: true})
		return out, nil
	}
	for at, blocks := off, 0; at < end && len(out) < maxExtents && blocks < maxExtentBlocks; blocks++ {
		idx := at / d.blockSize
		within := at % d.blockSize
		n := min(end-at, d.blockSize-within)
		if idx >= int64(len(d.bat)) || d.bat[idx] == unallocated {
			var err error
			if out, err = d.parentExtents(out, at, n); err != nil {
				return nil, err
			}
			at += n
			continue
		}
		bm, err := d.bitmap(idx)
		if err != nil {
			return nil, err
		}
		for done := int64(0); done < n; {
			m, in := sectorRun(bm, within+done, n-done)
			if in {
				out = alloc.Append(out, alloc.Extent{Off: at + done, Len: m})
			} else if out, err = d.parentExtents(out, at+done, m); err != nil {
				return nil, err
			}
			done += m
		}
		at += n
	}
	return out, nil
}

// parentExtents appends the allocation of [off, off+n) as the parent
// gives it: zero holes for a dynamic disk and past the parent's end.
func (d *Disk) parentExtents(out []alloc.Extent, off, n int64) ([]alloc.Extent, error) {
	if d.parent == nil || off >= d.parentSize {
		return alloc.Append(out, alloc.Extent{Off: off, Len: n, Hole: true, Zero: true}), nil
	}
	in := min(n, d.parentSize-off)
	m, ok := d.parent.(alloc.Mapper)
	if !ok {
		out = alloc.Append(out, alloc.Extent{Off: off, Len: in})
	} else {
		for at := off; at < off+in; {
			exts, err := m.Extents(at, off+in-at)
			if err != nil {
				return nil, fmt.Errorf("vhd: parent %s: %w", d.parentPath, err)
			}
			if len(exts) == 0 {
				return nil, fmt.Errorf("vhd: parent %s: no extents at %#x", d.parentPath, at)
			}
			last := exts[len(exts)-1].End()
			if last <= at {
				return nil, fmt.Errorf("vhd: parent %s: extents at %#x do not advance", d.parentPath, at)
			}
			for _, e := range exts {
				e.Off, e.Len = max(e.Off, at), min(e.End(), off+in)-max(e.Off, at)
				out = alloc.Append(out, e)
			}
			at = last
		}
	}
	return alloc.Append(out, alloc.Extent{Off: off + in, Len: n - in, Hole: true, Zero: true}), nil
}
