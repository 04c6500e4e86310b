package vmdk

import (
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/lru"
)

// kind says where the bytes of a range of a sparse extent come from.
type kind uint8

const (
	kindUnalloc    kind = iota // no grain: the parent, or zeros without one
	kindZero                   // a zeroed grain (GTE 1): zeros, never the parent
	kindData                   // an uncompressed grain at host
	kindCompressed             // a compressed grain whose marker is at host
)

// sparse is one hosted sparse extent: a monolithicSparse file, one of the
// -sNNN.vmdk files of a twoGbMaxExtentSparse disk, or a streamOptimized
// extent. Its grain directory is read whole at open (bounded by the file
// size and qemu's limit); grain tables and inflated grains go through the
// disk's caches.
type sparse struct {
	r        io.ReaderAt
	size     int64 // of the file
	name     string
	id       int // this extent's part of the cache keys
	h        *header
	grain    int64 // bytes per grain
	capacity int64 // bytes
	gtBytes  int64
	gtSpan   int64 // bytes one grain table maps
	gd       []uint32
	gdName   string // "grain directory" or "redundant grain directory"
	overhead int64  // first byte grains may use (0: unchecked)
	c        *caches
	warn     func(string)
}

// cacheKey names a grain table or an inflated grain: the extent and the
// sector it is at.
type cacheKey struct {
	ext    int
	sector uint64
}

// caches are shared by the extents of a disk.
type caches struct {
	gt    *lru.Cache[cacheKey, []uint32]
	grain *lru.Cache[cacheKey, []byte]
}

// openSparse reads the header and the grain directory of the sparse extent
// in r. When the primary grain directory names a grain table outside the
// file and the redundant one does not, the redundant one is used (a
// warning says so).
func openSparse(r io.ReaderAt, size int64, name string, id int, c *caches, warn func(string)) (*sparse, error) {
	h, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	s := &sparse{
		r: r, size: size, name: name, id: id, h: h, c: c, warn: warn,
		grain:    int64(h.grainSize) * sectorSize,
		capacity: int64(h.capacity) * sectorSize,
		gtBytes:  int64(h.numGTEs) * 4,
	}
	s.gtSpan = int64(h.numGTEs) * s.grain
	if ov := int64(min(h.overhead, maxCapacity)) * sectorSize; ov > 0 && ov <= size {
		s.overhead = ov
	}
	n := int64(h.gdEntries())
	gd, bad, err := s.readGD(int64(h.gdOffset)*sectorSize, n, "grain directory")
	if err != nil {
		return nil, err
	}
	s.gd, s.gdName = gd, "grain directory"
	if bad >= 0 && h.hasRGD() && h.rgdOffset <= uint64(size)/sectorSize && int64(h.rgdOffset)*sectorSize+n*4 <= size {
		rgd, rbad, err := s.readGD(int64(h.rgdOffset)*sectorSize, n, "redundant grain directory")
		if err == nil && rbad < 0 {
			s.gd, s.gdName = rgd, "redundant grain directory"
			if warn != nil {
				warn(fmt.Sprintf("vmdk: %s: grain directory entry %d names a grain table outside the file; using the redundant grain directory", name, bad))
			}
		}
	}
	return s, nil
}

// readGD reads n grain directory entries at off (header.check has made
// sure they lie in the file) and returns them with the index of the first
// entry whose grain table would lie outside the file (-1: none).
func (s *sparse) readGD(off, n int64, what string) ([]uint32, int64, error) {
	buf := make([]byte, n*4)
	if m, err := s.r.ReadAt(buf, off); m < len(buf) {
		return nil, 0, fmt.Errorf("vmdk: %s: reading the %s at %#x: %w", s.name, what, off, orEOF(err))
	}
	gd := make([]uint32, n)
	bad := int64(-1)
	for i := range gd {
		gd[i] = le.Uint32(buf[i*4:])
		if bad < 0 && gd[i] != 0 && int64(gd[i])*sectorSize+s.gtBytes > s.size {
			bad = int64(i)
		}
	}
	return gd, bad, nil
}

// table returns the grain table of grain directory entry i, or nil when
// the entry is 0 (no table: every grain it maps is unallocated).
func (s *sparse) table(i int64) ([]uint32, error) {
	sec := s.gd[i]
	if sec == 0 {
		return nil, nil
	}
	k := cacheKey{s.id, uint64(sec)}
	if t, ok := s.c.gt.Get(k); ok {
		return t, nil
	}
	off := int64(sec) * sectorSize
	what := fmt.Sprintf("grain table %d (from the %s of %s)", i, s.gdName, s.name)
	if off+s.gtBytes > s.size {
		return nil, formatErr(off, what, "runs past the end of the file (%d bytes)", s.size)
	}
	buf := make([]byte, s.gtBytes)
	if n, err := s.r.ReadAt(buf, off); int64(n) < s.gtBytes {
		return nil, fmt.Errorf("vmdk: %s: reading %s at %#x: %w", s.name, what, off, orEOF(err))
	}
	t := make([]uint32, len(buf)/4)
	for j := range t {
		t[j] = le.Uint32(buf[j*4:])
	}
	s.c.gt.Add(k, t, int64(len(buf))+64)
	return t, nil
}

// lookup says where the byte at off (relative to the extent, below its
// capacity) comes from, and for how many bytes from off that holds: to
// the end of its grain, or further over the following grains of the same
// grain table when they are of the same kind (and, for data, contiguous
// in the file); to the end of the grain table's span when it has none.
// host is the byte offset in the file of the data (kindData) or of the
// grain's marker (kindCompressed).
func (s *sparse) lookup(off int64) (k kind, host, n int64, err error) {
	g := off / s.grain
	t, err := s.table(off / s.gtSpan)
	if err != nil {
		return 0, 0, 0, err
	}
	if t == nil {
		return kindUnalloc, 0, min((off/s.gtSpan+1)*s.gtSpan, s.capacity) - off, nil
	}
	per := int64(s.h.numGTEs)
	i := g % per
	k, host, err = s.entry(t[i], g)
	if err != nil {
		return 0, 0, 0, err
	}
	j := i + 1
	if k != kindCompressed {
		for ; j < per && (g+j-i)*s.grain < s.capacity; j++ {
			k2, h2, err := s.entry(t[j], g+j-i)
			if err != nil || k2 != k || (k == kindData && h2 != host+(j-i)*s.grain) {
				break
			}
		}
	}
	n = min((g+j-i)*s.grain, s.capacity) - off
	if k == kindData {
		host += off % s.grain
	}
	return k, host, n, nil
}

// entry decodes grain table entry e of grain g.
func (s *sparse) entry(e uint32, g int64) (kind, int64, error) {
	switch {
	case e == 0:
		return kindUnalloc, 0, nil
	case e == 1 && s.h.flags&flagZeroGrain != 0:
		return kindZero, 0, nil
	}
	host := int64(e) * sectorSize
	if host >= s.size {
		return 0, 0, formatErr(host, fmt.Sprintf("grain %d of %s", g, s.name), "starts past the end of the file (%d bytes)", s.size)
	}
	if host < s.overhead {
		return 0, 0, formatErr(host, fmt.Sprintf("grain %d of %s", g, s.name), "lies inside the metadata (the first %d bytes)", s.overhead)
	}
	if s.h.compressed() {
		return kindCompressed, host, nil
	}
	return kindData, host, nil
}

// readData reads an uncompressed grain's bytes at host; the part of a
// grain past the end of the file reads as zeros, as in qemu.
func (s *sparse) readData(p []byte, host int64) error {
	n := max(0, min(int64(len(p)), s.size-host))
	if m, err := s.r.ReadAt(p[:n], host); int64(m) < n {
		return fmt.Errorf("vmdk: %s: reading a grain at %#x: %w", s.name, host, orEOF(err))
	}
	clear(p[n:])
	return nil
}
