package ufs

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// FS is a UFS1 or UFS2 filesystem opened read-only. Its methods may be
// called from several goroutines at once.
type FS struct {
	r     io.ReaderAt
	size  int64
	sb    *superblock
	bsize int64 // block size in bytes
	fsize int64 // fragment size in bytes
	frags int64 // fragments on the volume: fs_size, checked against the device
	warn  fs.WarnFunc
	cache *chunkcache.Cache
}

// Inodes, directories and indirect blocks are read through a cache of
// 64 KiB chunks (16 MiB in all).
const (
	chunkSize   = 64 << 10
	cacheChunks = 256
)

// New opens the UFS filesystem that starts at r's first byte; size is the
// size of the partition (or image) holding it. It looks for a UFS2
// superblock at 64 KiB, then a UFS1 (or NetBSD makefs' UFS2) one at
// 8 KiB, and fails with an
// *diskerr.FormatError when neither can be used.
func New(r io.ReaderAt, size int64) (*FS, error) {
	var first error
	for _, off := range []int64{sbUFS2Off, sbUFS1Off} {
		if size < off+sbSize {
			if first == nil {
				first = sbErr(off, "device of %d bytes too small for a superblock", size)
			}
			continue
		}
		b := make([]byte, sbSize)
		if err := chunkcache.ReadFull(r, b, off); err != nil {
			return nil, sbErr(off, "reading: %v", err)
		}
		sb, err := parseSuperblock(b, off, size)
		if err != nil {
			if first == nil || noMagic(first) {
				// A real problem at 8 KiB says more than no magic
				// at 64 KiB.
				first = err
			}
			continue
		}
		if !sb.ufs2 && off == sbUFS2Off {
			// A UFS1 magic at 64 KiB is a backup or a stale copy, as
			// FreeBSD's ffs_sbget says; go on to 8 KiB.
			if first == nil {
				first = sbErr(off, "UFS1 superblock in the UFS2 place")
			}
			continue
		}
		if sb.ufs2 && off == sbUFS1Off && sb.sblockloc != sbUFS1Off {
			// NetBSD's makefs puts a UFS2 superblock at 8 KiB and says
			// so in fs_sblockloc; FreeBSD accepts that, and only that.
			if first == nil || noMagic(first) {
				first = sbErr(off, "UFS2 superblock at %#x says it belongs at %#x", off, sb.sblockloc)
			}
			continue
		}
		f := &FS{r: r, size: size, sb: sb, bsize: int64(sb.bsize), fsize: int64(sb.fsize), frags: sb.size}
		f.cache = chunkcache.New(r, f.frags*f.fsize, chunkSize, cacheChunks)
		return f, nil
	}
	return nil, first
}

// SetWarn sets the function that will receive the problems a walk works
// around. The reader itself returns errors and warns of nothing yet.
func (f *FS) SetWarn(w fs.WarnFunc) { f.warn = w }

// Info describes the filesystem.
func (f *FS) Info() fs.Info {
	t := "ufs1"
	if f.sb.ufs2 {
		t = "ufs2"
	}
	return fs.Info{
		Type:      t,
		Label:     f.sb.volname,
		UUID:      fmt.Sprintf("%08x%08x", f.sb.id[0], f.sb.id[1]),
		BlockSize: f.bsize,
		Size:      f.frags * f.fsize,
	}
}

// UFS2 reports whether the filesystem is UFS2 (else UFS1).
func (f *FS) UFS2() bool { return f.sb.ufs2 }

// read reads len(b) bytes at off, through the cache.
func (f *FS) read(b []byte, off int64) error {
	return f.cache.Read(b, off)
}

// noMagic reports a superblock error for a missing magic.
func noMagic(err error) bool {
	var fe *diskerr.FormatError
	return errors.As(err, &fe) && strings.HasPrefix(fe.Msg, "bad magic")
}
