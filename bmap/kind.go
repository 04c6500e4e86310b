package bmap

import "fmt"

// The vocabulary of a block map, shared by the filesystem walkers (which
// report objects in these terms) and the map's codecs and index: the kinds
// of object, the roles of their extents, and the extent itself. It lives
// here, in the package of the map, and the walkers (package fs and its
// subpackages) import it.

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
		return nil, fmt.Errorf("invalid object kind %d", byte(k))
	}
	return []byte{byte(k)}, nil
}

// UnmarshalText reads a kind letter.
func (k *Kind) UnmarshalText(b []byte) error {
	if len(b) != 1 || !Kind(b[0]).Valid() {
		return fmt.Errorf("invalid object kind %q", b)
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
