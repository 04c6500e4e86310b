// Package fs holds what every filesystem walker in virt-bmap shares: the
// kinds of object a block map knows, the extents that place an object on
// its device, the Entry a walker reports for each object, the Walker and
// WarnFunc types, and detection of a filesystem (or swap, LVM PV, LUKS
// container) by its magic (detect.go).
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

import "fmt"

// Kind is the type letter of a block-map object, as the original virt-bmap
// wrote it. The order of the constants is not the lookup priority; see
// Kind.Priority.
type Kind byte

const (
	KindDisk      Kind = 'v' // the whole disk
	KindPartition Kind = 'p' // a partition
	KindLV        Kind = 'l' // an LVM logical volume
	KindMeta      Kind = 'm' // filesystem metadata: superblock, bitmaps, inode tables, journal...
	KindDir       Kind = 'd' // a directory
	KindFile      Kind = 'f' // a file (regular file or symbolic link)
)

// Priority orders kinds for a read lookup: a read that touches a file and
// the partition around it is reported as a read of the file.
// f > d > m > l > p > v. Unknown kinds get 0.
func (k Kind) Priority() int {
	switch k {
	case KindFile:
		return 6
	case KindDir:
		return 5
	case KindMeta:
		return 4
	case KindLV:
		return 3
	case KindPartition:
		return 2
	case KindDisk:
		return 1
	}
	return 0
}

// Valid reports whether k is one of the six kinds.
func (k Kind) Valid() bool { return k.Priority() > 0 }

func (k Kind) String() string {
	if k.Valid() {
		return string(rune(k))
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// Role says what an extent of an object holds. Data extents carry the
// object's bytes; the other roles are blocks that belong to the object
// without being its contents (the extent tree's index blocks, the indirect
// blocks of a block-mapped ext2/ext3 file, an htree directory's index).
type Role string

const (
	RoleData        Role = "data"         // file or directory contents
	RoleInline      Role = "inline"       // contents stored inside the inode (ext inline_data)
	RoleExtentIndex Role = "extent-index" // ext4 extent tree index or leaf block (not the inode's i_block)
	RoleIndirect    Role = "indirect"     // ext2/3 single indirect block
	RoleDIndirect   Role = "dindirect"    // ext2/3 double indirect block (and its second-level blocks' parent)
	RoleTIndirect   Role = "tindirect"    // ext2/3 triple indirect block
	RoleXattr       Role = "xattr"        // external extended-attribute block
	RoleMeta        Role = "metadata"     // a filesystem metadata structure (Kind m)
	RoleRecord      Role = "record"       // an NTFS file's own MFT record(s): attributes, resident data, $INDEX_ROOT
)

// MarshalText writes the kind as its letter ("f"), as both map forms do.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("fs: invalid object kind %d", byte(k))
	}
	return []byte{byte(k)}, nil
}

// UnmarshalText reads a kind letter.
func (k *Kind) UnmarshalText(b []byte) error {
	if len(b) != 1 || !Kind(b[0]).Valid() {
		return fmt.Errorf("fs: invalid object kind %q", b)
	}
	*k = Kind(b[0])
	return nil
}

// Extent is one contiguous run of bytes of an object on the filesystem's
// device.
type Extent struct {
	// Off and Len place the run: byte offset from the start of the
	// filesystem (or, once the caller has added the partition's offset,
	// from the start of the disk) and length in bytes. Len > 0.
	Off int64 `json:"offset"`
	Len int64 `json:"length"`
	// FileOff is the offset inside the object's contents of the run's first
	// byte, for RoleData and RoleInline; -1 for runs that are not contents
	// (index and indirect blocks, metadata).
	FileOff int64 `json:"file_offset"`
	Role    Role  `json:"role"`
	// Unwritten marks an ext4 extent allocated but never written
	// (fallocate): it reads as zeros, but its blocks are the file's.
	Unwritten bool `json:"unwritten,omitempty"`
}

// End is the offset one past the extent's last byte.
func (e Extent) End() int64 { return e.Off + e.Len }

// Entry is one object a walker found: a file, a directory, or a metadata
// structure.
type Entry struct {
	Kind Kind
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
	Extents []Extent
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
