// Package qcow2 reads qcow2 disk images (versions 2 and 3) read-only, as
// the guest sees them: ReadAt takes virtual (guest) offsets.
//
// It follows docs/interop/qcow2.txt of qemu: the active L1 table and the
// L2 tables it points to (standard and extended 128-bit entries with 32
// subclusters each), zero clusters and subclusters, unallocated ranges
// read from the backing file (zeros past its end or without one),
// zlib (raw deflate) and zstd compressed clusters, external data files,
// and backing chains. The backing image and the external data file are
// opened only through a chain.Opener (Config.Opener), which holds the
// names the image stores to image/chain's policy: an untrusted image
// cannot make us read a host file the user did not name. Extents reports
// the allocation (alloc.Mapper). Internal snapshots are ignored: only the
// active L1 table is read. Encrypted images (AES or LUKS) and unknown incompatible
// features are refused with a message that names them.
//
// The dirty bit only says refcounts may be stale, which a reader never
// looks at: dirty images are read normally. The corrupt bit says some
// metadata may be wrong; qemu itself still opens such an image read-only,
// and so do we: Info reports the bit so the caller can warn, and every
// structure we use is checked as we read it, so corruption gives errors,
// not wrong offsets into other files.
//
// We wrote our own reader because no Go library reads qcow2 read-only
// with backing chains, subclusters and zstd, and because the reader must
// be safe on untrusted images: nothing is allocated by a count read from
// the image without a cap (the L1 table is bounded by the file size and
// qemu's 32 MiB limit, the header area by one cluster of at most 2 MiB, a
// compressed cluster by two clusters), L2 tables and decompressed
// clusters are kept in LRU caches bounded in bytes (Config.CacheBytes),
// and every offset is checked against the file size before it is used.
// Decompression uses github.com/klauspost/compress (flate and zstd). A
// random read that needs only the start of a compressed cluster
// decompresses it only that far (qemu decompresses it whole) and caches
// that prefix; a read past a cached prefix decompresses the whole cluster.
package qcow2

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/lru"
)

// Config tunes NewConfig.
type Config struct {
	// Opener opens the backing image (OpenImage, with the backing format
	// of the header, "" when absent) and the external data file
	// (OpenFile, always raw), with the names exactly as stored: resolving
	// them, and refusing names that leave the image's directory, is the
	// Opener's job (image/chain's policy). When nil, an image that has
	// either is refused with an error that says so.
	Opener chain.Opener
	// Path is where the image was opened from: the from the Opener
	// resolves names against.
	Path string
	// CacheBytes bounds each of the two caches (L2 tables, decompressed
	// clusters); 0 means DefaultCacheBytes. Each holds at least 4 entries.
	CacheBytes int64
}

// DefaultCacheBytes is the default bound of each cache of an image.
const DefaultCacheBytes = 8 << 20

// Info describes an opened image.
type Info struct {
	Version       int    // 2 or 3
	Size          int64  // virtual size in bytes
	ClusterSize   int64  // bytes
	Compression   string // "zlib" or "zstd": the type compressed clusters use
	BackingFile   string // as stored in the header; "" without one
	BackingFormat string // from the backing format extension; "" when absent
	DataFile      string // external data file name; "" without one
	DataFileRaw   bool   // the external data file is a consistent raw image
	ExtendedL2    bool   // 128-bit L2 entries with 32 subclusters
	Dirty         bool   // refcounts may be stale (harmless for reading)
	Corrupt       bool   // qemu marked the metadata as possibly corrupt
	LazyRefcounts bool
	Snapshots     int // internal snapshots (ignored: the active L1 is read)
	RefcountBits  int
}

// Stats counts cache use since the image was opened.
type Stats struct {
	L2Hits, L2Misses           uint64
	ClusterHits, ClusterMisses uint64
}

// Image is an opened qcow2 image. ReadAt may be called concurrently.
type Image struct {
	r        io.ReaderAt // the qcow2 file
	fileSize int64
	hdr      *header

	clusterBits  uint32
	clusterSize  int64
	l2Bits       uint32 // log2 of entries per L2 table
	l1Shift      uint32 // log2 of the guest bytes one L2 table maps
	extendedL2   bool
	externalData bool
	size         int64

	l1           []uint64
	l2Cache      *lru.Cache[int64, []uint64]
	clusterCache *lru.Cache[int64, []byte]

	data     io.ReaderAt // guest clusters: r, or the external data file
	dataSize int64

	backing     chain.Image // nil: unallocated reads as zeros
	backingSize int64

	closers   []io.Closer
	closeOnce sync.Once
	closeErr  error
}

// New reads the qcow2 image in r (size bytes), opened from path. o opens
// its backing image and external data file, if it has them, with names
// resolved against path (see Config.Opener); it may be nil, and then such
// an image is refused.
func New(r io.ReaderAt, size int64, o chain.Opener, path string) (*Image, error) {
	return NewConfig(r, size, Config{Opener: o, Path: path})
}

// NewConfig is New with a Config.
func NewConfig(r io.ReaderAt, size int64, c Config) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("qcow2: negative file size %d", size)
	}
	h, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	l1, err := readL1(r, h)
	if err != nil {
		return nil, err
	}
	img := &Image{
		r:            r,
		fileSize:     size,
		hdr:          h,
		clusterBits:  h.clusterBits,
		clusterSize:  1 << h.clusterBits,
		l2Bits:       h.l2Bits(),
		extendedL2:   h.incompatible&incExtendedL2 != 0,
		externalData: h.incompatible&incDataFile != 0,
		size:         int64(h.size),
		l1:           l1,
		data:         r,
		dataSize:     size,
	}
	img.l1Shift = img.clusterBits + img.l2Bits
	budget := c.CacheBytes
	if budget <= 0 {
		budget = DefaultCacheBytes
	}
	entries := int(max(4, budget/img.clusterSize))
	img.l2Cache = lru.New[int64, []uint64](int64(entries))
	// Decompressed clusters are counted in bytes: a random read caches
	// only the start of a cluster (compressedCluster), so more fit.
	img.clusterCache = lru.New[int64, []byte](int64(entries) * img.clusterSize)

	if img.externalData {
		if h.dataFile == "" {
			return nil, errors.New("qcow2: the image uses an external data file but does not name it")
		}
		if c.Opener == nil {
			return nil, fmt.Errorf("qcow2: the image keeps its data in the external file %q, and no opener was given for it", h.dataFile)
		}
		if strings.HasPrefix(h.dataFile, "json:") {
			return nil, fmt.Errorf("qcow2: external data file %q: json: pseudo-protocol names are not supported", h.dataFile)
		}
		d, _, err := c.Opener.OpenFile(c.Path, h.dataFile)
		if err != nil {
			return nil, wrap(fmt.Sprintf("qcow2: external data file %q", h.dataFile), err)
		}
		img.data, img.dataSize = d, d.Size()
		img.closers = append(img.closers, d)
	}
	if h.backingFile != "" {
		if c.Opener == nil {
			img.Close()
			return nil, fmt.Errorf("qcow2: the image has the backing file %q, and no opener was given for it", h.backingFile)
		}
		if strings.HasPrefix(h.backingFile, "json:") {
			img.Close()
			return nil, fmt.Errorf("qcow2: backing file %q: json: pseudo-protocol backing names are not supported", h.backingFile)
		}
		b, _, err := c.Opener.OpenImage(c.Path, h.backingFile, h.backingFormat)
		if err != nil {
			img.Close()
			return nil, wrap(fmt.Sprintf("qcow2: backing file %q", h.backingFile), err)
		}
		img.backing, img.backingSize = b, max(0, b.Size())
		img.closers = append(img.closers, b)
	}
	return img, nil
}

// Size is the virtual size: the disk as the guest sees it.
func (img *Image) Size() int64 { return img.size }

// Close closes the backing files and data file the opener opened (for
// Open: the whole chain and the image file itself). It is safe to call
// more than once.
func (img *Image) Close() error {
	img.closeOnce.Do(func() {
		var errs []error
		for i := len(img.closers) - 1; i >= 0; i-- {
			errs = append(errs, img.closers[i].Close())
		}
		img.closeErr = errors.Join(errs...)
	})
	return img.closeErr
}

// Info describes the image.
func (img *Image) Info() Info {
	h := img.hdr
	comp := "zlib"
	if h.compression == compZstd {
		comp = "zstd"
	}
	return Info{
		Version:       int(h.version),
		Size:          img.size,
		ClusterSize:   img.clusterSize,
		Compression:   comp,
		BackingFile:   h.backingFile,
		BackingFormat: h.backingFormat,
		DataFile:      h.dataFile,
		DataFileRaw:   img.externalData && h.autoclear&autoclearRawData != 0,
		ExtendedL2:    img.extendedL2,
		Dirty:         h.incompatible&incDirty != 0,
		Corrupt:       h.incompatible&incCorrupt != 0,
		LazyRefcounts: h.compatible&compatLazyRefcounts != 0,
		Snapshots:     int(h.nbSnapshots),
		RefcountBits:  1 << h.refcountOrder,
	}
}

// Stats returns the cache counters.
func (img *Image) Stats() Stats {
	return Stats{
		L2Hits: img.l2Cache.Hits.Load(), L2Misses: img.l2Cache.Misses.Load(),
		ClusterHits: img.clusterCache.Hits.Load(), ClusterMisses: img.clusterCache.Misses.Load(),
	}
}

// ReadAt reads the guest bytes at off. Reads past the virtual size are
// short with io.EOF.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: negative offset %d", off)
	}
	if off >= img.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > img.size-off {
		p = p[:img.size-off]
		eof = io.EOF
	}
	var jobs []compJob
	for done := int64(0); done < int64(len(p)); {
		at := off + done
		x, err := img.extentAt(at, int64(len(p))-done)
		if err != nil {
			return int(done), err
		}
		buf := p[done : done+x.n]
		switch x.kind {
		case kindZero:
			clear(buf)
		case kindBacking:
			err = img.readBacking(buf, at)
		case kindData:
			err = img.readData(buf, x.host, at)
		case kindCompressed:
			jobs = append(jobs, compJob{buf, x.entry, at})
		}
		if err != nil {
			return int(done), err
		}
		done += x.n
	}
	if err := img.runCompressed(jobs); err != nil {
		return 0, err
	}
	return len(p), eof
}

// compJob is one compressed cluster a read needs: buf gets its bytes from
// guest offset at on.
type compJob struct {
	buf   []byte
	entry uint64
	at    int64
}

func (img *Image) doCompressed(j compJob) error {
	if int64(len(j.buf)) == img.clusterSize {
		// A whole cluster (sequential reads): decompress straight into
		// the caller's buffer, unless it is cached whole; do not cache it.
		off, _ := compressedDesc(j.entry, img.clusterBits)
		if b, ok := img.clusterCache.Get(off); ok && len(b) == len(j.buf) {
			copy(j.buf, b)
			return nil
		}
		return img.decompressCluster(j.buf, j.entry, j.at)
	}
	start := j.at & (img.clusterSize - 1)
	b, err := img.compressedCluster(j.entry, j.at, start+int64(len(j.buf)))
	if err != nil {
		return err
	}
	copy(j.buf, b[start:])
	return nil
}

// runCompressed decompresses the clusters of one read, on as many cores
// as there are when there are several.
func (img *Image) runCompressed(jobs []compJob) error {
	workers := min(len(jobs), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for _, j := range jobs {
			if err := img.doCompressed(j); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(jobs) || first != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				if err := img.doCompressed(j); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// readBacking fills buf with the backing file's bytes at guest offset off,
// and zeros past its end or without one.
func (img *Image) readBacking(buf []byte, off int64) error {
	if img.backing == nil || off >= img.backingSize {
		clear(buf)
		return nil
	}
	n := min(int64(len(buf)), img.backingSize-off)
	if m, err := img.backing.ReadAt(buf[:n], off); int64(m) < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("qcow2: backing file %q at %#x: %w", img.hdr.backingFile, off, err)
	}
	clear(buf[n:])
	return nil
}

// readData fills buf from the data file at host offset host, for guest
// offset guest. A cluster that starts past the end of the data file is
// an error (a truncated image); the part of the last cluster past the end
// reads as zeros, as in qemu.
func (img *Image) readData(buf []byte, host, guest int64) error {
	cs := img.clusterSize
	end := host + int64(len(buf))
	bad := max((img.dataSize+cs-1)&^(cs-1), host&^(cs-1))
	if bad < end {
		g := guest + max(0, bad-host)
		return formatErr(max(bad, host), fmt.Sprintf("data cluster for guest offset %#x", g),
			"is past the end of the %s (%d bytes)", img.dataName(), img.dataSize)
	}
	n := min(int64(len(buf)), max(0, img.dataSize-host))
	if m, err := img.data.ReadAt(buf[:n], host); int64(m) < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("qcow2: reading guest offset %#x at host offset %#x of the %s: %w", guest, host, img.dataName(), err)
	}
	clear(buf[n:])
	return nil
}

func (img *Image) dataName() string {
	if img.externalData {
		return fmt.Sprintf("external data file %q", img.hdr.dataFile)
	}
	return "file"
}
