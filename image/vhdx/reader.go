// Package vhdx reads VHDX disk images (Hyper-V) read-only, as the guest
// sees them: ReadAt takes virtual (guest) offsets.
//
// What is read and checked, after Microsoft's [MS-VHDX] specification
// and qemu's block/vhdx.c and block/vhdx-log.c:
//   - the file identifier ("vhdxfile") and the two headers (header.go):
//     signature, CRC-32C, version 1; the valid one with the higher
//     sequence number is used, one damaged header is a warning;
//   - the region table (region.go): signature, CRC-32C, entries in whole
//     MiBs inside the file; the BAT and metadata regions; an unknown
//     region marked required is refused; a damaged first table falls back
//     to the second with a warning;
//   - the metadata (metadata.go): file parameters (block size, a power of
//     two from 1 to 256 MiB; LeaveBlocksAllocated; HasParent), virtual
//     disk size (at most 64 TiB, whole sectors), logical (512 or 4096) and
//     physical sector sizes, page 83 data, and the parent locator of a
//     differencing disk; unknown required items are refused;
//   - the BAT (bat.go): payload block entries interleaved with sector
//     bitmap entries (one per chunk of 2^23 sectors); every present block
//     is checked to lie in the file. Payload states: NOT_PRESENT reads as
//     zeros (from the parent in a differencing disk), UNDEFINED, ZERO and
//     UNMAPPED as zeros, FULLY_PRESENT from the file, PARTIALLY_PRESENT
//     sector by sector through the chunk's sector bitmap (bit set: this
//     file; clear: the parent);
//   - the log (log.go): when the header's LogGuid is not zero the disk was
//     not shut down cleanly, and the log must be replayed before anything
//     else is read. We replay it in memory, never writing the file: every
//     entry ("loge", descriptors "desc"/"zero", data sectors "data",
//     sequence numbers, CRC-32C) is checked, the active sequence is found
//     from the newest valid entry back to its tail, and its writes lie
//     over every later read of the file (region table, metadata, BAT,
//     bitmaps, payload). A broken active sequence, a log over 64 MiB, or
//     a file truncated below the log's FlushedFileOffset are refused with
//     ErrLog. (qemu refuses to open such a file read-only and tells the
//     user to run "qemu-img check -r all", which writes the replay.)
//   - differencing disks: the parent locator's relative_path, then
//     absolute_win32_path, turned to slash form, are opened through the
//     chain.Opener the caller gives (image/chain's policy: the image's
//     directory only, unless the user allowed the file; loops detected);
//     the parent's DataWriteGuid must equal parent_linkage (or
//     parent_linkage2).
//
// Nothing is allocated by a count read from the image without a bound:
// the BAT and the log must lie in the file (the log replayed is at most
// 64 MiB), metadata items in their region, locators at most 64 KiB;
// sector bitmaps are cached per block in a bounded LRU cache.
package vhdx

import (
	"errors"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/lru"
)

// ErrParentMismatch is wrapped by the error for a parent whose
// DataWriteGuid is not the one the differencing disk names.
var ErrParentMismatch = errors.New("vhdx: parent DataWriteGuid does not match the differencing disk's parent_linkage")

// Config tunes New.
type Config struct {
	// Path is where the image was opened from: the opener resolves the
	// parent's names against it.
	Path string
	// Open opens the parent of a differencing disk. When nil, such a disk
	// is refused with an error that says so.
	Open chain.Opener
	// Warn receives notices (a damaged header, a replayed log). nil drops
	// them.
	Warn func(string)
	// CacheBytes bounds the sector bitmaps kept in memory (0: 4 MiB).
	CacheBytes int64
}

// Info describes an opened disk.
type Info struct {
	Size           int64
	BlockSize      int64
	LogicalSector  int64
	PhysicalSector int64
	LeaveAllocated bool
	HasParent      bool
	ParentPath     string
	LogReplayed    bool // the log was not empty and was replayed in memory
	HeaderSequence uint64
	DataWriteGUID  string
	Page83         string
	ChunkRatio     int64
}

// Disk is an opened VHDX. ReadAt and Extents may be called concurrently.
type Disk struct {
	file     *overlay // the file, with the log replayed over it
	hdr      *header
	meta     *metadata
	bat      *bat
	size     int64
	bs       int64
	lss      int64
	replayed bool
	bitmaps  *lru.Cache[int64, []byte]

	parent     chain.Image
	parentSize int64
	parentPath string
}

// New reads the VHDX in r (size bytes).
func New(r io.ReaderAt, size int64, c Config) (*Disk, error) {
	if size < 0 {
		return nil, fmt.Errorf("vhdx: negative file size %d", size)
	}
	h, err := readHeaders(r, size, c.Warn)
	if err != nil {
		return nil, err
	}
	ov, err := replayLog(r, size, h, c.Warn)
	if err != nil {
		return nil, err
	}
	batReg, metaReg, err := readRegionTable(ov, ov.size, c.Warn)
	if err != nil {
		return nil, err
	}
	m, err := readMetadata(ov, metaReg)
	if err != nil {
		return nil, err
	}
	b, err := readBAT(ov, ov.size, batReg, m)
	if err != nil {
		return nil, err
	}
	d := &Disk{file: ov, hdr: h, meta: m, bat: b, size: m.virtualSize, bs: m.blockSize,
		lss: m.logicalSector, replayed: ov.dirty()}
	budget := c.CacheBytes
	if budget <= 0 {
		budget = 4 << 20
	}
	d.bitmaps = lru.New[int64, []byte](int64(max(8, budget/max(1, d.bs/d.lss/8))))
	if m.hasParent {
		if err := d.openParent(c); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *Disk) openParent(c Config) error {
	l, err := parseLocator(d.meta.locator, d.meta.locatorAt)
	if err != nil {
		return err
	}
	if c.Open == nil {
		return fmt.Errorf("vhdx: differencing disk with the parent %q, and no opener was given for it", l.names[0])
	}
	var errs []error
	for _, name := range l.names {
		pf, path, err := c.Open.OpenFile(c.Path, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("parent %q: %w", name, err))
			continue
		}
		ph, err := readHeaders(pf, pf.Size(), nil)
		pf.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("parent %q: %w", name, err))
			continue
		}
		if ph.dataWriteGUID != l.linkage && (l.linkage2.isZero() || ph.dataWriteGUID != l.linkage2) {
			errs = append(errs, fmt.Errorf("parent %q: %w (its DataWriteGuid is %s, the child names %s)", name, ErrParentMismatch, ph.dataWriteGUID, l.linkage))
			continue
		}
		img, _, err := c.Open.OpenImage(c.Path, name, "vhdx")
		if err != nil {
			return fmt.Errorf("vhdx: parent %q: %w", name, err)
		}
		d.parent, d.parentSize, d.parentPath = img, img.Size(), path
		return nil
	}
	return fmt.Errorf("vhdx: no parent of the differencing disk could be opened: %w", errors.Join(errs...))
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
	return Info{
		Size: d.size, BlockSize: d.bs, LogicalSector: d.lss, PhysicalSector: d.meta.physicalSector,
		LeaveAllocated: d.meta.leaveAllocated, HasParent: d.meta.hasParent, ParentPath: d.parentPath,
		LogReplayed: d.replayed, HeaderSequence: d.hdr.seq, DataWriteGUID: d.hdr.dataWriteGUID.String(),
		Page83: d.meta.page83.String(), ChunkRatio: d.bat.chunkRatio,
	}
}

// ReadAt reads the guest bytes at off. Reads past the virtual size are
// short with io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhdx: negative offset %d", off)
	}
	if off >= d.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > d.size-off {
		p, eof = p[:d.size-off], io.EOF
	}
	for done := 0; done < len(p); {
		at := off + int64(done)
		idx, within := at/d.bs, at%d.bs
		n := int(min(int64(len(p)-done), d.bs-within))
		if err := d.readBlock(p[done:done+n], idx, within); err != nil {
			return done, err
		}
		done += n
	}
	return len(p), eof
}

// what a run of a block reads from.
const (
	fromZero = iota
	fromFile
	fromParent
)

// run returns where the bytes of block idx from within (at most n) come
// from and how many of them come from there.
func (d *Disk) run(idx, within, n int64) (int64, int, error) {
	e := d.bat.payload(idx)
	switch entryState(e) {
	case stateFullyPresent:
		return n, fromFile, nil
	case stateNotPresent:
		if d.parent != nil {
			return n, fromParent, nil
		}
		return n, fromZero, nil
	case statePartiallyPresent:
		bm, err := d.bitmap(idx)
		if err != nil {
			return 0, 0, err
		}
		s := within / d.lss
		in := bm[s>>3]&(1<<(s&7)) != 0
		next := (s + 1) * d.lss
		for next < within+n && (bm[(next/d.lss)>>3]&(1<<((next/d.lss)&7)) != 0) == in {
			next += d.lss
		}
		src := fromParent
		if in {
			src = fromFile
		}
		return min(next, within+n) - within, src, nil
	}
	return n, fromZero, nil
}

// bitmap returns the part of the sector bitmap that covers payload block
// idx (one bit per logical sector, bit 0 of byte 0 first).
func (d *Disk) bitmap(idx int64) ([]byte, error) {
	if b, ok := d.bitmaps.Get(idx); ok {
		return b, nil
	}
	chunk := idx / d.bat.chunkRatio
	e := d.bat.bitmap(chunk)
	if entryState(e) != bitmapPresent {
		return nil, &diskerr.FormatError{FS: "vhdx", What: fmt.Sprintf("sector bitmap of chunk %d", chunk),
			Msg: fmt.Sprintf("block %d is partially present but its chunk has no sector bitmap (state %d)", idx, entryState(e))}
	}
	per := d.bs / d.lss / 8
	at := entryOffset(e) + (idx%d.bat.chunkRatio)*per
	b := make([]byte, per)
	if _, err := d.file.ReadAt(b, at); err != nil {
		return nil, &diskerr.FormatError{FS: "vhdx", Off: at, What: fmt.Sprintf("sector bitmap of block %d", idx), Msg: "reading", Err: err}
	}
	d.bitmaps.Add(idx, b, 1)
	return b, nil
}

// readBlock fills p from block idx at offset within.
func (d *Disk) readBlock(p []byte, idx, within int64) error {
	for done := int64(0); done < int64(len(p)); {
		n, src, err := d.run(idx, within+done, int64(len(p))-done)
		if err != nil {
			return err
		}
		q := p[done : done+n]
		switch src {
		case fromZero:
			clear(q)
		case fromFile:
			at := entryOffset(d.bat.payload(idx)) + within + done
			if m, err := d.file.ReadAt(q, at); m < len(q) {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("vhdx: block %d at %#x: %w", idx, at, err)
			}
		case fromParent:
			if err := d.readParent(q, idx*d.bs+within+done); err != nil {
				return err
			}
		}
		done += n
	}
	return nil
}

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
		return fmt.Errorf("vhdx: parent %s at %#x: %w", d.parentPath, off, err)
	}
	clear(p[n:])
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
// alloc.Mapper. Present blocks and sectors are data; blocks with no
// storage in the file (NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED) are zero
// holes, as qemu-nbd reports what is not data; in a differencing disk what
// comes from the parent has the parent's allocation.
func (d *Disk) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("vhdx: bad extent range %d+%d", off, length)
	}
	end := min(d.size, off+length)
	var out []alloc.Extent
	for at, blocks := off, 0; at < end && len(out) < maxExtents && blocks < maxExtentBlocks; blocks++ {
		idx, within := at/d.bs, at%d.bs
		n := min(end-at, d.bs-within)
		for done := int64(0); done < n; {
			m, src, err := d.run(idx, within+done, n-done)
			if err != nil {
				return nil, err
			}
			x := alloc.Extent{Off: at + done, Len: m}
			switch src {
			case fromZero:
				x.Zero, x.Hole = true, true
			case fromParent:
				if out, err = d.parentExtents(out, x.Off, m); err != nil {
					return nil, err
				}
				done += m
				continue
			}
			out = alloc.Append(out, x)
			done += m
		}
		at += n
	}
	return out, nil
}

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
				return nil, fmt.Errorf("vhdx: parent %s: %w", d.parentPath, err)
			}
			if len(exts) == 0 || exts[len(exts)-1].End() <= at {
				return nil, fmt.Errorf("vhdx: parent %s: extents at %#x do not advance", d.parentPath, at)
			}
			last := exts[len(exts)-1].End()
			for _, e := range exts {
				e.Off, e.Len = max(e.Off, at), min(e.End(), off+in)-max(e.Off, at)
				out = alloc.Append(out, e)
			}
			at = last
		}
	}
	return alloc.Append(out, alloc.Extent{Off: off + in, Len: n - in, Hole: true, Zero: true}), nil
}
