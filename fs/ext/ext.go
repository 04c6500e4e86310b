package ext

import (
	"fmt"
	"io"
	"math"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

var _ fs.Walker = (*FS)(nil)

// FS is an ext2, ext3 or ext4 filesystem opened read-only. Its methods may
// be called from several goroutines at once.
type FS struct {
	r         io.ReaderAt
	size      int64
	sb        *superblock
	bs        int64  // block size in bytes
	ngroups   uint64 // number of block groups
	groups    []groupDesc
	gdtBlocks []uint64 // primary group descriptor blocks, in table order
	warn      fs.WarnFunc
	cache     *chunkcache.Cache
}

// New opens the filesystem that starts at r's first byte; size is the
// size of the partition (or image) holding it. It fails with an
// *diskerr.FormatError when the superblock or the group descriptors cannot be
// used.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < superblockOff+superblockSize {
		return nil, &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("device of %d bytes too small for a superblock", size)}
	}
	b := make([]byte, superblockSize)
	if err := chunkcache.ReadFull(r, b, superblockOff); err != nil {
		return nil, &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("reading: %v", err)}
	}
	sb, err := parseSuperblock(b)
	if err != nil {
		return nil, err
	}
	if err := sb.check(size); err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, sb: sb, bs: sb.blockSize(), ngroups: sb.groupCount()}
	limit := int64(math.MaxInt64)
	if sb.blocksCount < uint64(math.MaxInt64)/uint64(f.bs) {
		limit = int64(sb.blocksCount * uint64(f.bs))
	}
	f.cache = chunkcache.New(r, limit, chunkSize, cacheChunks)
	if err := f.readGroupDescs(); err != nil {
		return nil, err
	}
	return f, nil
}

// SetWarn sets the function that receives the problems Walk works around
// (a bad inode, extent tree, indirect block or directory block, a loop).
// Without one, they are dropped.
func (f *FS) SetWarn(w fs.WarnFunc) { f.warn = w }

// Info describes the filesystem. Type is "ext2", "ext3" or "ext4", decided
// from the feature flags as libblkid does.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type:      f.sb.fsType(),
		Label:     f.sb.label(),
		UUID:      f.sb.uuidString(),
		BlockSize: f.bs,
		Size:      int64(f.sb.blocksCount) * f.bs,
	}
}

// SuperblockChecksumOK reports whether the superblock's metadata_csum
// checksum matches (true when the filesystem has none).
func (f *FS) SuperblockChecksumOK() bool { return f.sb.checksumOK() }

func (f *FS) warnErr(err error) {
	if f.warn != nil && err != nil {
		f.warn(err)
	}
}

// readBlocks reads n whole blocks starting at blk into buf[:n*bs].
func (f *FS) readBlocks(buf []byte, blk, n uint64) error {
	if blk >= f.sb.blocksCount || f.sb.blocksCount-blk < n {
		return fmt.Errorf("blocks %d-%d beyond the filesystem's %d blocks", blk, blk+n-1, f.sb.blocksCount)
	}
	return chunkcache.ReadFull(f.r, buf[:int64(n)*f.bs], int64(blk)*f.bs)
}

// The inode tables are read through a cache of 64 KiB chunks (16 MiB in
// all), so that inodes are read in large pieces instead of one syscall
// each.
const (
	chunkSize   = 64 << 10
	cacheChunks = 256
)

func sprintfMsg(format string, args ...any) string { return fmt.Sprintf(format, args...) }
