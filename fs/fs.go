// Package fs holds what every filesystem walker in virt-bmap shares: the
// Entry a walker reports for each object (its kind and extents in the block
// map's own terms, bmap.Kind and bmap.Extent, which live with the map), the
// Walker and WarnFunc types, ErrRepaired, and detection of a filesystem (or
// swap, LVM PV, LUKS container) by its magic (detect.go).
//
// Each filesystem is its own package (fs/ext, fs/fat, fs/ntfs, fs/xfs,
// fs/btrfs, fs/ufs), giving its files through io/fs (built on
// internal/fsfile) and, for the block map, a Walker; fs/registry is the one
// table that opens them by the type Detect names. A walker reads a
// filesystem through an io.ReaderAt that starts at the filesystem's first
// byte, and every offset it reports is relative to that byte: the volume
// stack (package volume) places them on the disks. Parsers report bad bytes
// with internal/diskerr's FormatError.
package fs

import "github.com/virt-bmap/virt-bmap/bmap"

// Entry is one object a walker found: a file, a directory, or a metadata
// structure.
type Entry struct {
	Kind bmap.Kind
	// Path is the object's absolute path inside the filesystem ("/etc/passwd",
	// "/" for the root directory) for files and directories, and the name of
	// the structure for metadata ("superblock", "group 3 inode table",
	// "journal"). A file reached by several hard links is reported once per
	// path, each time with all its extents.
	Path string
	// Inode is the filesystem's number for the object (ext inode, NTFS MFT
	// record, FAT: 0), 0 for metadata without one.
	Inode uint64
	// Size is the object's length in bytes (i_size for ext), 0 for metadata.
	Size int64
	// Symlink is set for a symbolic link (Kind f); its target is not
	// followed.
	Symlink bool `json:",omitempty"`
	// Extents places the object; holes are simply absent. They are sorted
	// by FileOff for data and appear in the order the walker met them
	// otherwise.
	Extents []bmap.Extent
}

// Info describes a filesystem as the summary table shows it.
type Info struct {
	Type      string // "ext2", "ext3", "ext4", "vfat", "ntfs"...
	Label     string
	UUID      string
	BlockSize int64
	Size      int64 // bytes the filesystem says it spans
}

// Walker is what the block-map builder needs of a filesystem.
type Walker interface {
	Info() Info
	// Walk calls fn for every object of the filesystem: metadata first,
	// then the directory tree from the root. The Entry's Extents are
	// valid only during the call and must not be changed: a walker reuses
	// one buffer for every entry, and fn copies what it keeps (as
	// bufio.Scanner.Bytes). A damaged object is reported
	// through the walker's warning function and skipped; Walk returns an
	// error only when it cannot go on at all, or when fn returns one.
	Walk(fn func(Entry) error) error
}

// WarnFunc receives a problem that was worked around: the object it names
// is skipped or clamped and the walk goes on. The error says where.
type WarnFunc func(err error)

// ErrRepaired marks a warning about damage that was worked around with
// nothing lost (a backup superblock, $MFTMirr's copy of a record, NTFS's
// backup boot sector), as fsck's "errors corrected": the map is complete.
// It adds nothing to a message: wrap it as a second %w,
// fmt.Errorf("%w; using the backup%w", err, fs.ErrRepaired).
var ErrRepaired error = repaired{}

type repaired struct{}

func (repaired) Error() string { return "" }
