package btrfs

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

var _ fs.Walker = (*FS)(nil)

// FS is a btrfs filesystem on one device, opened read-only. Its methods
// may be called from several goroutines at once.
type FS struct {
	r         io.ReaderAt
	size      int64
	sb        *superblock
	chunks    chunkMap
	rootTree  treeRoot
	defaultID uint64 // subvolume served by Open, ReadDir...
	warn      fs.WarnFunc
	cache     *chunkcache.Cache

	mu     sync.Mutex
	blocks map[uint64][]byte // verified tree blocks by logical address
	roots  map[uint64]treeRoot
}

// New opens the btrfs filesystem that starts at r's first byte; size is
// the size of the partition (or image) holding it. It reads the
// superblock, the chunk tree and the root tree, and fails with an error
// saying where when they cannot be used, when the filesystem spans
// several devices (naming the devices missing), or when a chunk uses a
// RAID profile.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < superblockOff+superblockSize {
		return nil, &diskerr.FormatError{FS: "btrfs", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("device of %d bytes too small for a superblock", size)}
	}
	b := make([]byte, superblockSize)
	if err := chunkcache.ReadFull(r, b, superblockOff); err != nil {
		return nil, &diskerr.FormatError{FS: "btrfs", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("reading: %v", err)}
	}
	sb, err := parseSuperblock(b, superblockOff)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, sb: sb, blocks: make(map[uint64][]byte), roots: make(map[uint64]treeRoot)}
	f.cache = chunkcache.New(r, size, cacheChunkSize, cacheChunks)
	if err := parseSysChunkArray(sb.sysChunkArray, &f.chunks); err != nil {
		return nil, err
	}
	if err := f.readChunkTree(); err != nil {
		return nil, err
	}
	f.rootTree = treeRoot{id: rootTreeID, bytenr: sb.root, level: sb.rootLevel}
	if _, err := f.readBlock(f.rootTree, sb.root, sb.rootLevel); err != nil {
		return nil, err
	}
	if f.defaultID, err = f.findDefault(); err != nil {
		return nil, err
	}
	return f, nil
}

// Tree blocks and file data are read through a cache of 64 KiB chunks
// (16 MiB in all); verified tree blocks are kept too, up to maxBlocks.
const (
	cacheChunkSize = 64 << 10
	cacheChunks    = 256
	maxBlocks      = 4096
)

// SetWarn sets the function that receives the problems Walk works around.
// Without one, they are dropped.
func (f *FS) SetWarn(w fs.WarnFunc) { f.warn = w }

func (f *FS) warnErr(err error) {
	if f.warn != nil && err != nil {
		f.warn(err)
	}
}

// Info describes the filesystem; BlockSize is the sector size.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type:      "btrfs",
		Label:     f.sb.label,
		UUID:      uuidString(f.sb.fsid),
		BlockSize: int64(f.sb.sectorSize),
		Size:      int64(min(f.sb.totalBytes, 1<<62)),
	}
}

// NodeSize is the size of the filesystem's tree blocks.
func (f *FS) NodeSize() int { return int(f.sb.nodeSize) }

// ChecksumType names the metadata checksum ("crc32c", "xxhash64",
// "sha256", "blake2b"). blake2b checksums are not verified.
func (f *FS) ChecksumType() string { return csumName(f.sb.csumType) }

// readChunkTree adds the chunk tree's CHUNK_ITEMs to the bootstrap map
// and checks that the filesystem has one device, this one.
func (f *FS) readChunkTree() error {
	t := treeRoot{id: chunkTreeID, bytenr: f.sb.chunkRoot, level: f.sb.chunkLevel}
	var others []uint64
	err := f.iterate(t, key{}, func(it item) (bool, error) {
		switch it.key.typ {
		case typeChunkItem:
			c, _, err := parseChunk(it.data, it.key.offset, "chunk tree item", it.phys)
			if err != nil {
				return false, err
			}
			if err := f.chunks.add(c); err != nil {
				return false, &diskerr.FormatError{FS: "btrfs", Off: it.phys, What: "chunk tree item", Msg: err.Error()}
			}
		case typeDevItem:
			if it.key.offset != f.sb.devID && len(others) < 64 {
				others = append(others, it.key.offset)
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if len(others) > 0 || f.sb.numDevices != 1 {
		missing := "no DEV_ITEM names the others"
		if len(others) > 0 {
			missing = fmt.Sprintf("missing device(s) %v", others)
		}
		return fmt.Errorf("%w: the filesystem has %d devices, this is device %d; %s", ErrMultiDevice, f.sb.numDevices, f.sb.devID, missing)
	}
	for _, c := range f.chunks.chunks {
		if c.typ&bgRAIDMask != 0 {
			return fmt.Errorf("btrfs: chunk at logical %#x: profile %s: %w", c.logical, profile(c.typ), ErrProfile)
		}
		for _, s := range c.stripes {
			if s.devID != f.sb.devID {
				return fmt.Errorf("%w: chunk at logical %#x has a stripe on device %d, this is device %d", ErrMultiDevice, c.logical, s.devID, f.sb.devID)
			}
		}
	}
	return nil
}

// Errors New returns for filesystems this package does not read.
var (
	ErrMultiDevice = errors.New("btrfs: multi-device filesystem not supported")
	ErrProfile     = errors.New("RAID profiles are not supported (single device only)")
)

// mapLogical returns the physical offset of logical, and how many bytes
// from there lie in the same chunk. DUP chunks are read from their first
// copy.
func (f *FS) mapLogical(logical uint64) (int64, uint64, error) {
	c := f.chunks.find(logical)
	if c == nil {
		return -1, 0, fmt.Errorf("logical %#x is in no chunk", logical)
	}
	s := c.stripes[0]
	phys := s.offset + (logical - c.logical)
	if phys >= uint64(f.size) {
		return -1, 0, fmt.Errorf("logical %#x maps to disk %#x, beyond the device's %d bytes (chunk at logical %#x)", logical, phys, f.size, c.logical)
	}
	return int64(phys), c.logical + c.length - logical, nil
}

// physCopies returns every physical copy of [logical, logical+n) that lies
// in one chunk (two for DUP), for the walker.
func (f *FS) physCopies(logical, n uint64) ([]int64, error) {
	c := f.chunks.find(logical)
	if c == nil {
		return nil, fmt.Errorf("logical %#x is in no chunk", logical)
	}
	if logical+n > c.logical+c.length || logical+n < logical {
		return nil, fmt.Errorf("logical %#x+%#x crosses the end of its chunk at %#x", logical, n, c.logical+c.length)
	}
	var out []int64
	for _, s := range c.stripes {
		p := s.offset + (logical - c.logical)
		if p+n > uint64(f.size) || p+n < p {
			return nil, fmt.Errorf("logical %#x maps to disk %#x, beyond the device's %d bytes", logical, p, f.size)
		}
		out = append(out, int64(p))
	}
	return out, nil
}

// readLogical fills b with the bytes at logical, across chunks if need
// be.
func (f *FS) readLogical(b []byte, logical uint64) error {
	for len(b) > 0 {
		phys, room, err := f.mapLogical(logical)
		if err != nil {
			return err
		}
		n := uint64(len(b))
		if n > room {
			n = room
		}
		if phys+int64(n) > f.size {
			return fmt.Errorf("logical %#x: %d bytes at disk %#x run past the device's %d bytes", logical, n, phys, f.size)
		}
		if err := f.cache.Read(b[:n], phys); err != nil {
			return err
		}
		b = b[n:]
		logical += n
	}
	return nil
}
