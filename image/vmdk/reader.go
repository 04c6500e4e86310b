// Package vmdk reads VMware VMDK disks read-only, as the guest sees them:
// ReadAt takes guest offsets, Extents gives the allocation (data, holes,
// zeroed grains) for NBD block status and the block map.
//
// It follows VMware's Virtual Disk Format 5.0 and, where they differ, what
// qemu's block/vmdk.c accepts, since qemu-img is what the tests compare
// against. Read:
//
//   - hosted sparse extents (header "KDMV", versions 1 to 3): the grain
//     directory, grain tables, unallocated grains (read from the parent,
//     or as zeros) and zeroed grains (grain table entry 1, when the header
//     has the zeroed-grain flag); monolithicSparse files and the -sNNN
//     extents of twoGbMaxExtentSparse disks;
//   - streamOptimized extents: grains compressed with zlib behind grain
//     markers, the grain directory either in the header or (GD_AT_END, as
//     VMware and VirtualBox stream them into OVAs) in the footer at the end
//     of the file, after the end-of-stream marker is checked;
//   - text descriptors naming several extents: monolithicFlat,
//     twoGbMaxExtentFlat, twoGbMaxExtentSparse, ESXi's descriptor plus
//     -flat.vmdk (VMFS extents), with FLAT, VMFS, SPARSE and ZERO
//     extents, and RW and RDONLY access (qemu drops RDONLY and ZERO
//     extents from the disk; VMware does not, and neither do we);
//     NOACCESS extents are part of the disk but reading them is an error;
//   - the descriptor embedded in a sparse extent (its CID, parentCID and
//     parentFileNameHint; its extent line is the file itself, as in qemu);
//   - snapshot chains: parentFileNameHint names the parent, opened as a
//     VMDK through the caller's chain.Opener, and the parent's CID must
//     equal the child's parentCID. qemu fails every read that reaches the
//     parent of a disk whose parentCID is stale; we refuse such a chain at
//     open with ErrParentCID, since its bytes are not what the guest saw.
//
// Not read, and refused with a message that names them: the VMware 3
// "COWD" sparse format (vmfsSparse, VMFSSPARSE extents), ESXi's seSparse
// (SESPARSE extents; qemu-img cannot make samples), raw device mappings
// (VMFSRDM, VMFSRAW), and a sparse header of capacity 0 that defers to its
// embedded descriptor.
//
// Checked, on untrusted input: every header field before it sizes anything
// (version, grain size, entries per grain table, compression, the grain
// directory must fit in the file, so a huge capacity in a tiny file is
// refused instead of being allocated); each grain table must lie in the
// file (a primary grain directory that points outside it falls back to the
// redundant one); each grain must start in the file and after the
// metadata; each grain marker must name its own grain and a compressed
// size of at most two grains inside the file; each grain must inflate,
// with a good checksum, to exactly its size (a random read that needs
// only the start of a grain inflates that much and no further, so the
// checksum is checked when the grain is inflated whole: see
// compressedGrain); the footer and end-of-stream
// markers of a GD_AT_END stream; the descriptor's extent lines. Files the
// descriptor names (extents, parents) are opened only through the Opener,
// which applies image/chain's policy: nothing outside the image's
// directory unless the user allowed it.
//
// Memory is bounded by the input: the grain directory is read whole
// (bounded by the file size and qemu's 32 Mi entries), grain tables and
// inflated grains are kept in LRU caches bounded in bytes
// (Config.CacheBytes; a grain inflated only up to what a read needed is
// cached at that length), and a compressed grain is at most 4 MiB. ReadAt and
// Extents are safe for concurrent use.
package vmdk

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/chain"
)

// ErrParentCID is wrapped by the error for a snapshot whose parentCID is
// not the CID of the parent its parentFileNameHint names: the parent was
// changed after the snapshot was taken.
var ErrParentCID = errors.New("vmdk: parent CID mismatch")

// ErrUnsupported is wrapped by the error for a VMDK variant that is
// recognised but not read (COWD, seSparse, raw device mappings).
var ErrUnsupported = errors.New("vmdk: not supported")

// DefaultCacheBytes bounds each of a disk's two caches (grain tables,
// inflated grains) when Config.CacheBytes is 0.
const DefaultCacheBytes = 16 << 20

// Config tunes New.
type Config struct {
	// Open opens the files the disk names: extent files and the parent.
	// When nil, a disk that names other files is refused.
	Open chain.Opener
	// Path is where the disk was opened from: the "from" of Open's calls.
	Path string
	// CacheBytes bounds each cache (0: DefaultCacheBytes).
	CacheBytes int64
	// Warn receives notices (a grain directory replaced by the redundant
	// one, an extent file shorter than its extent); nil drops them.
	Warn func(string)
}

// Info describes an opened disk.
type Info struct {
	CreateType string // from the descriptor; "monolithicSparse" or "streamOptimized" without one
	CID        uint32
	ParentCID  uint32 // 0xffffffff without a parent
	Parent     string // parentFileNameHint, as stored
	Extents    []ExtentLine
	GrainSize  int64 // bytes, of the first sparse extent (0 without one)
	Compressed bool  // a sparse extent holds compressed grains
	Version    int   // of the first sparse extent's header
	DDB        map[string]string
}

// extKind is how an extent stores its bytes.
type extKind uint8

const (
	extFlat     extKind = iota // FLAT, VMFS: the bytes at an offset of a file
	extSparse                  // SPARSE: a hosted sparse extent
	extZero                    // ZERO: zeros, no file
	extNoAccess                // NOACCESS: not readable
)

// extent is one extent of the disk, at guest bytes [start, start+length).
type extent struct {
	start, length int64
	kind          extKind
	name          string
	r             io.ReaderAt // flat: the file
	fileSize      int64
	flatOff       int64 // bytes
	sp            *sparse
}

func (e *extent) end() int64 { return e.start + e.length }

// Disk is an opened VMDK disk: one or more extents and maybe a parent.
type Disk struct {
	size    int64
	extents []*extent
	info    Info
	c       *caches
	name    string

	parent     io.ReaderAt // nil: unallocated grains read as zeros
	parentSize int64

	files   map[string]chain.File // extent files by path, each opened once
	sparses map[string]*sparse    // sparse extents by path

	closers   []io.Closer
	closeOnce sync.Once
	closeErr  error
}

// Size is the virtual size: the disk as the guest sees it.
func (d *Disk) Size() int64 { return d.size }

// Info describes the disk.
func (d *Disk) Info() Info { return d.info }

// Close closes the extent files and the parent the Opener opened. It is
// safe to call more than once.
func (d *Disk) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		for i := len(d.closers) - 1; i >= 0; i-- {
			errs = append(errs, d.closers[i].Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Stats counts cache use since the disk was opened.
type Stats struct {
	GTHits, GTMisses       uint64
	GrainHits, GrainMisses uint64
}

// Stats returns the cache counters.
func (d *Disk) Stats() Stats {
	return Stats{
		GTHits: d.c.gt.Hits.Load(), GTMisses: d.c.gt.Misses.Load(),
		GrainHits: d.c.grain.Hits.Load(), GrainMisses: d.c.grain.Misses.Load(),
	}
}

// find returns the index of the extent holding guest offset off < size.
func (d *Disk) find(off int64) int {
	return sort.Search(len(d.extents), func(i int) bool { return d.extents[i].end() > off })
}

// ReadAt reads the guest bytes at off. Reads past the virtual size are
// short with io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vmdk: negative offset %d", off)
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
	var jobs []grainJob
	done := int64(0)
	for i := d.find(off); done < int64(len(p)); i++ {
		e := d.extents[i]
		at := off + done
		n := min(int64(len(p))-done, e.end()-at)
		var err error
		jobs, err = d.readExtent(e, p[done:done+n], at, jobs)
		if err != nil {
			return int(done), err
		}
		done += n
	}
	if err := runGrains(jobs); err != nil {
		return 0, err
	}
	return len(p), eof
}

// readExtent fills p with the guest bytes at off, all inside extent e.
// Compressed grains are appended to jobs, to be inflated together.
func (d *Disk) readExtent(e *extent, p []byte, off int64, jobs []grainJob) ([]grainJob, error) {
	rel := off - e.start
	switch e.kind {
	case extZero:
		clear(p)
		return jobs, nil
	case extNoAccess:
		return jobs, fmt.Errorf("vmdk: %s: guest offset %#x lies in a NOACCESS extent", d.name, off)
	case extFlat:
		host := e.flatOff + rel
		n := min(int64(len(p)), max(0, e.fileSize-host))
		if m, err := e.r.ReadAt(p[:n], host); int64(m) < n {
			return jobs, fmt.Errorf("vmdk: extent %s at %#x (guest offset %#x): %w", e.name, host, off, orEOF(err))
		}
		clear(p[n:]) // past the end of a short extent file: zeros, as in qemu
		return jobs, nil
	}
	s := e.sp
	for done := int64(0); done < int64(len(p)); {
		r := rel + done
		buf := p[done:]
		if r >= s.capacity { // the descriptor's extent is longer than its header says
			clear(buf)
			return jobs, nil
		}
		k, host, n, err := s.lookup(r)
		if err != nil {
			return jobs, err
		}
		n = min(n, int64(len(buf)))
		buf = buf[:n]
		switch k {
		case kindUnalloc:
			err = d.readParent(buf, off+done)
		case kindZero:
			clear(buf)
		case kindData:
			err = s.readData(buf, host)
		case kindCompressed:
			jobs = append(jobs, grainJob{s, buf, host, r})
		}
		if err != nil {
			return jobs, err
		}
		done += n
	}
	return jobs, nil
}

// readParent fills buf with the parent's bytes at guest offset off, and
// zeros past its end or without one.
func (d *Disk) readParent(buf []byte, off int64) error {
	if d.parent == nil || off >= d.parentSize {
		clear(buf)
		return nil
	}
	n := min(int64(len(buf)), d.parentSize-off)
	if m, err := d.parent.ReadAt(buf[:n], off); int64(m) < n {
		return fmt.Errorf("vmdk: parent %q at %#x: %w", d.info.Parent, off, orEOF(err))
	}
	clear(buf[n:])
	return nil
}
