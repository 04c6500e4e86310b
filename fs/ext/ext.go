package ext

import (
	"fmt"
	"io"
	"sync"

	"github.com/virt-bmap/virt-bmap/fs"
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
	cache     *chunkCache
}

// New opens the filesystem that starts at r's first byte; size is the
// size of the partition (or image) holding it. It fails with an
// *fs.FormatError when the superblock or the group descriptors cannot be
// used.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < superblockOff+superblockSize {
		return nil, &fs.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("device of %d bytes too small for a superblock", size)}
	}
	b := make([]byte, superblockSize)
	if err := readAt(r, b, superblockOff); err != nil {
		return nil, &fs.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("reading: %v", err)}
	}
	sb, err := parseSuperblock(b)
	if err != nil {
		return nil, err
	}
	if err := sb.check(size); err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, sb: sb, bs: sb.blockSize(), ngroups: sb.groupCount()}
	f.cache = newChunkCache(r, sb.blocksCount*uint64(f.bs))
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
	return readAt(f.r, buf[:int64(n)*f.bs], int64(blk)*f.bs)
}

// readAt fills b from off. An io.ReaderAt may return io.EOF with a full
// buffer at the end of its data; that is a success.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if err == io.EOF && n == len(b) {
		return nil
	}
	return err
}

// chunkSize is the unit in which inode tables are read and cached.
const chunkSize = 64 << 10

// cacheChunks is how many chunks the cache keeps (16 MiB).
const cacheChunks = 256

// chunkCache keeps recently read 64 KiB chunks of the device, so that
// inode tables are read in large pieces instead of one syscall per inode.
type chunkCache struct {
	r     io.ReaderAt
	limit uint64 // bytes of the filesystem; nothing past it is read
	mu    sync.Mutex
	index map[int64]int // chunk number -> slot
	slots []chunkSlot
	hand  int
}

type chunkSlot struct {
	chunk int64
	ref   bool
	n     int // valid bytes
	buf   []byte
}

func newChunkCache(r io.ReaderAt, limit uint64) *chunkCache {
	return &chunkCache{r: r, limit: limit, index: make(map[int64]int)}
}

// read copies len(dst) bytes at off into dst; the range must not cross a
// chunk boundary (callers read inodes, whose size divides chunkSize).
func (c *chunkCache) read(dst []byte, off int64) error {
	ch := off / chunkSize
	in := int(off % chunkSize)
	if in+len(dst) > chunkSize {
		return readAt(c.r, dst, off)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[ch]
	if !ok {
		var err error
		if i, err = c.load(ch); err != nil {
			return err
		}
	}
	s := &c.slots[i]
	s.ref = true
	if in+len(dst) > s.n {
		return fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
	}
	copy(dst, s.buf[in:])
	return nil
}

// load reads chunk ch into a slot chosen by the clock algorithm.
func (c *chunkCache) load(ch int64) (int, error) {
	var i int
	if len(c.slots) < cacheChunks {
		c.slots = append(c.slots, chunkSlot{buf: make([]byte, chunkSize)})
		i = len(c.slots) - 1
	} else {
		for c.slots[c.hand].ref {
			c.slots[c.hand].ref = false
			c.hand = (c.hand + 1) % len(c.slots)
		}
		i = c.hand
		c.hand = (c.hand + 1) % len(c.slots)
		delete(c.index, c.slots[i].chunk)
	}
	s := &c.slots[i]
	n := int64(chunkSize)
	if end := uint64(ch+1) * chunkSize; end > c.limit {
		n = int64(c.limit) - ch*chunkSize
	}
	s.n = 0
	if n > 0 {
		m, err := c.r.ReadAt(s.buf[:n], ch*chunkSize)
		if err != nil && !(err == io.EOF && int64(m) == n) {
			// Keep the slot empty; the caller reports the error.
			c.slots[i].chunk = -1
			return 0, err
		}
		s.n = m
	}
	s.chunk = ch
	c.index[ch] = i
	return i, nil
}

func sprintfMsg(format string, args ...any) string { return fmt.Sprintf(format, args...) }
