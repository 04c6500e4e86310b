// Package registry is the one table of the filesystems virt-bmap reads:
// from the type fs.Detect names ("ext4", "vfat", "ntfs", "xfs", "btrfs",
// "ufs") to the package that opens it. The block-map scanner walks what it
// opens (fs.Walker) and the inspector reads files from it (io/fs.FS); both
// ask here, so a new filesystem is added in one place.
//
// It is its own package because it imports every filesystem package, and
// those import fs: fs itself cannot hold it.
package registry

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/btrfs"
	"github.com/virt-bmap/virt-bmap/fs/ext"
	"github.com/virt-bmap/virt-bmap/fs/fat"
	"github.com/virt-bmap/virt-bmap/fs/ntfs"
	"github.com/virt-bmap/virt-bmap/fs/ufs"
	"github.com/virt-bmap/virt-bmap/fs/xfs"
)

// ErrNotReadable is wrapped by Open for a type that virt-bmap does not
// read (swap, exFAT, iso9660...).
var ErrNotReadable = errors.New("filesystem type not read by virt-bmap")

// Filesystem is an opened filesystem: its files by path. Most also
// implement fs.Walker (every byte they use, for the block map): see
// Walker.
type Filesystem interface {
	iofs.FS
}

type opener func(r io.ReaderAt, size int64, warn fs.WarnFunc) (Filesystem, error)

// warned is what every filesystem package's *FS has besides io/fs.
type warned interface{ SetWarn(fs.WarnFunc) }

func open[T interface {
	Filesystem
	warned
}](newFS func(io.ReaderAt, int64) (T, error)) opener {
	return func(r io.ReaderAt, size int64, warn fs.WarnFunc) (Filesystem, error) {
		f, err := newFS(r, size)
		if err != nil {
			return nil, err
		}
		if warn != nil {
			f.SetWarn(warn)
		}
		return f, nil
	}
}

// table maps fs.Detect's type names to their opener. btrfs opens its
// default subvolume for reading files; its walk starts at the top-level
// subvolume, so that every subvolume linked into the tree is mapped.
var table = map[string]opener{
	"ext2":  open(ext.New),
	"ext3":  open(ext.New),
	"ext4":  open(ext.New),
	"vfat":  open(fat.New), // FAT12, FAT16 and FAT32
	"ntfs":  open(ntfs.New),
	"xfs":   open(xfs.New),
	"btrfs": open(btrfs.New),
	"ufs":   open(ufs.New),
}

// Readable reports whether files of type name can be read.
func Readable(name string) bool { _, ok := table[name]; return ok }

// Open opens the filesystem of type t (as fs.Detect found it) on r, which
// starts at the filesystem's first byte. warn receives the problems worked
// around while reading it.
func Open(t fs.Type, r io.ReaderAt, size int64, warn fs.WarnFunc) (Filesystem, error) {
	o, ok := table[t.Name]
	if !ok {
		if t.Name == "" {
			return nil, fmt.Errorf("no filesystem recognised: %w", ErrNotReadable)
		}
		return nil, fmt.Errorf("%s: %w", t.Name, ErrNotReadable)
	}
	return o(r, size, warn)
}

// Walker returns the filesystem's walker for the block map, if it has one.
func Walker(f Filesystem) (fs.Walker, bool) {
	w, ok := f.(fs.Walker)
	return w, ok
}

// Detect is fs.Detect, and when it finds nothing, the filesystems whose
// reader can find them anyway: an ext2/3/4 whose primary superblock is
// damaged is found through a backup superblock, as e2fsck -b and
// debugfs -s find it (fs/ext searches where mke2fs puts them). The Type's
// Note says the backup was used; opening it (Open) uses it too.
func Detect(r io.ReaderAt, size int64) fs.Type {
	t := fs.Detect(r, size)
	if t.Name != "" {
		return t
	}
	f, err := ext.New(r, size)
	if err != nil {
		return t
	}
	info := f.Info()
	d := f.Damage()
	if d.PrimarySuperblock == nil {
		// ext.New accepted a primary fs.Detect refused: not a case
		// Detect should report differently; keep Detect's answer.
		return t
	}
	return fs.Type{Name: info.Type, Walkable: true, Label: info.Label, UUID: info.UUID,
		Note: fmt.Sprintf("primary superblock damaged; the backup in group %d is used", d.BackupGroup)}
}
