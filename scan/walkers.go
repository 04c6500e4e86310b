package scan

import (
	"io"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/btrfs"
	"github.com/virt-bmap/virt-bmap/fs/ext"
	"github.com/virt-bmap/virt-bmap/fs/fat"
	"github.com/virt-bmap/virt-bmap/fs/ntfs"
	"github.com/virt-bmap/virt-bmap/fs/xfs"
)

// openFunc opens a filesystem for walking. r starts at the filesystem's
// first byte.
type openFunc func(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error)

// walkers maps fs.Detect's type names to the walker that maps their files.
// A type detected but absent here is mapped as a partition only.
var walkers = map[string]openFunc{
	"ext2": openExt,
	"ext3": openExt,
	"ext4": openExt,
	"vfat": openFAT, // FAT12, FAT16 and FAT32
	"ntfs": openNTFS,
	"xfs":  openXFS,
	// btrfs on one device; the walk starts at the top-level subvolume
	// so that every subvolume linked into the tree is mapped.
	"btrfs": openBtrfs,
}

func openExt(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := ext.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}

func openFAT(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := fat.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}

func openNTFS(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := ntfs.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}

func openXFS(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := xfs.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}

func openBtrfs(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := btrfs.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}
