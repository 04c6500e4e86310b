package xfs

import (
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

var _ fs.Walker = (*FS)(nil)

// FS is an XFS filesystem opened read-only. Its methods may be called from
// several goroutines at once.
type FS struct {
	r     io.ReaderAt
	size  int64
	sb    *superblock
	bs    int64 // block size in bytes
	dirBS int64 // directory block size in bytes
	warn  fs.WarnFunc
	cache *chunkcache.Cache
}

// Inodes and small metadata blocks are read through a cache of 64 KiB
// chunks (16 MiB in all) so that a walk reads the device in large pieces.
const (
	chunkSize   = 64 << 10
	cacheChunks = 256
)

// New opens the XFS filesystem that starts at r's first byte; size is the
// size of the partition (or image) holding it. It fails with an
// *diskerr.FormatError when the superblock cannot be used.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < 512 {
		return nil, sbErr("device of %d bytes too small for a superblock", size)
	}
	b := make([]byte, 512)
	if err := chunkcache.ReadFull(r, b, 0); err != nil {
		return nil, sbErr("reading: %v", err)
	}
	sb, err := parseSuperblock(b, size)
	if err != nil {
		return nil, err
	}
	if sb.sectSize > 512 && sb.v5() {
		// The checksum covers the whole sector.
		b = make([]byte, sb.sectSize)
		if err := chunkcache.ReadFull(r, b, 0); err != nil {
			return nil, sbErr("reading: %v", err)
		}
		if sb, err = parseSuperblock(b, size); err != nil {
			return nil, err
		}
	}
	f := &FS{r: r, size: size, sb: sb, bs: int64(sb.blockSize), dirBS: int64(sb.blockSize) << sb.dirBlkLog}
	f.cache = chunkcache.New(r, int64(sb.dblocks)*f.bs, chunkSize, cacheChunks)
	return f, nil
}

// SetWarn sets the function that receives the problems Walk and the
// io/fs methods work around (a bad inode, btree block or directory block,
// a loop). Without one, they are dropped.
func (f *FS) SetWarn(w fs.WarnFunc) { f.warn = w }

func (f *FS) warnErr(err error) {
	if f.warn != nil && err != nil {
		f.warn(err)
	}
}

// Info describes the filesystem.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type:      "xfs",
		Label:     f.sb.label(),
		UUID:      f.sb.uuidString(),
		BlockSize: f.bs,
		Size:      int64(f.sb.dblocks) * f.bs,
	}
}

// Version is the superblock's version: 4 or 5 (with CRCs).
func (f *FS) Version() int { return int(f.sb.version()) }

// SuperblockChecksumOK reports whether the version 5 superblock's CRC
// matches (true on version 4, which has none).
func (f *FS) SuperblockChecksumOK() bool { return !f.sb.v5() || f.sb.crcOK }

// fsbToBlock turns an XFS filesystem block number (AG number in the high
// bits, block in the AG in the low sb_agblklog bits) into a linear block
// number, checking both parts.
func (f *FS) fsbToBlock(fsb uint64) (uint64, error) {
	agno := fsb >> f.sb.agBlkLog
	agbno := fsb & (1<<f.sb.agBlkLog - 1)
	if agno >= uint64(f.sb.agCount) || agbno >= uint64(f.sb.agBlocks) {
		return 0, fmt.Errorf("block %d (AG %d block %d) outside the filesystem's %d AGs of %d blocks", fsb, agno, agbno, f.sb.agCount, f.sb.agBlocks)
	}
	lin := agno*uint64(f.sb.agBlocks) + agbno
	if lin >= f.sb.dblocks {
		return 0, fmt.Errorf("block %d (AG %d block %d) beyond the filesystem's %d blocks", fsb, agno, agbno, f.sb.dblocks)
	}
	return lin, nil
}

// fsbRun checks that n blocks from fsb stay in fsb's AG and in the
// filesystem, and returns the run's byte offset.
func (f *FS) fsbRun(fsb, n uint64) (int64, error) {
	lin, err := f.fsbToBlock(fsb)
	if err != nil {
		return 0, err
	}
	agbno := fsb & (1<<f.sb.agBlkLog - 1)
	if n == 0 || n > uint64(f.sb.agBlocks)-agbno || n > f.sb.dblocks-lin {
		return 0, fmt.Errorf("%d blocks from block %d (AG %d block %d) run past the end of the AG or filesystem", n, fsb, fsb>>f.sb.agBlkLog, agbno)
	}
	return int64(lin) * f.bs, nil
}

// agBlockOff returns the byte offset of block agbno of AG agno.
func (f *FS) agBlockOff(agno, agbno uint32) (int64, error) {
	if agno >= f.sb.agCount || agbno >= f.sb.agBlocks {
		return 0, fmt.Errorf("AG %d block %d outside the filesystem", agno, agbno)
	}
	lin := uint64(agno)*uint64(f.sb.agBlocks) + uint64(agbno)
	if lin >= f.sb.dblocks {
		return 0, fmt.Errorf("AG %d block %d beyond the filesystem's %d blocks", agno, agbno, f.sb.dblocks)
	}
	return int64(lin) * f.bs, nil
}

// agLength is the number of blocks of AG agno (the last one may be short).
func (f *FS) agLength(agno uint32) uint32 {
	if agno == f.sb.agCount-1 {
		return uint32(f.sb.dblocks - uint64(agno)*uint64(f.sb.agBlocks))
	}
	return f.sb.agBlocks
}

// read reads len(b) bytes at off, through the cache.
func (f *FS) read(b []byte, off int64) error {
	return f.cache.Read(b, off)
}
