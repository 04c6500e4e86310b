package ext

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

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
	devBlocks uint64 // whole blocks present on the device
	seed      uint32 // metadata_csum seed
	groups    []groupDesc
	gdtBlocks []uint64 // primary group descriptor blocks, in table order
	warn      fs.WarnFunc
	cache     *chunkcache.Cache
	// openWarns are the problems New worked around (a backup superblock
	// used, damaged group descriptors, truncation); Walk passes them to
	// the warning function first.
	openWarns []error
	damage    Damage // what New found; Walk adds its counts in a copy

	mu   sync.Mutex
	last Damage // damage with the counts of the last Walk
}

// New opens the filesystem that starts at r's first byte; size is the
// size of the partition (or image) holding it. When the primary
// superblock is damaged, a backup is looked for and used (see backup.go
// and Damage). New fails with an *diskerr.FormatError when no sound
// superblock is found; damaged group descriptors, bitmaps and inode
// tables lose only the groups they describe, and a device shorter than
// the filesystem (truncated) is walked as far as it goes.
func New(r io.ReaderAt, size int64) (*FS, error) {
	sb, group, off, damage, err := openSuperblock(r, size)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, sb: sb, bs: sb.blockSize(), ngroups: sb.groupCount()}
	f.devBlocks = uint64(size / f.bs)
	f.seed = sb.csumSeed()
	if damage != nil {
		f.damage.PrimarySuperblock = damage
		f.damage.BackupGroup, f.damage.BackupOff = group, off
		f.openWarns = append(f.openWarns, tag(&diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock",
			Msg: fmt.Sprintf("primary superblock damaged (%v); using the backup in group %d at %#x", damage, group, off)}, ErrBackupSuperblock))
	}
	limit := int64(math.MaxInt64)
	if sb.blocksCount < uint64(math.MaxInt64)/uint64(f.bs) {
		limit = int64(sb.blocksCount * uint64(f.bs))
	}
	f.damage.FSSize = limit
	f.damage.DeviceSize = size
	if limit > size {
		f.damage.Truncated = true
		f.openWarns = append(f.openWarns, tag(&diskerr.FormatError{FS: "ext", Off: size, What: "filesystem",
			Msg: fmt.Sprintf("truncated: the filesystem has %d blocks of %d bytes (%d bytes) but the device ends at %d bytes; what lies past the end is not mapped", sb.blocksCount, f.bs, limit, size)}, ErrTruncated))
		limit = size
	}
	f.cache = chunkcache.New(r, limit, chunkSize, cacheChunks)
	if err := f.readGroupDescs(); err != nil {
		return nil, err
	}
	f.last = f.damage
	return f, nil
}

// ErrBackupSuperblock is wrapped by the warning that says the primary
// superblock was damaged and a backup is used.
var ErrBackupSuperblock = fmt.Errorf("ext: using a backup superblock%w", fs.ErrRepaired)

// ErrTruncated is wrapped by the warnings about a device shorter than the
// filesystem: one when the filesystem is opened, then one per file or
// directory whose blocks run past the device's end (mapped as far as the
// device goes), so that a caller can count and cap them.
var ErrTruncated = errors.New("ext: past the device's end")

// ErrGroupDamaged is wrapped by the warnings about a group descriptor
// that is damaged in every copy: the group's bitmaps or inode table are
// lost.
var ErrGroupDamaged = errors.New("ext: damaged group descriptor")

// tagged is a warning of a kind a caller may count (errors.Is(err,
// ErrTruncated)); errors.As still finds its *diskerr.FormatError.
type tagged struct {
	fe  *diskerr.FormatError
	tag error
}

func (t *tagged) Error() string                     { return t.fe.Error() }
func (t *tagged) Unwrap() error                     { return t.fe }
func (t *tagged) Is(target error) bool              { return target == t.tag || errors.Is(t.tag, target) }
func tag(fe *diskerr.FormatError, kind error) error { return &tagged{fe, kind} }

// Damage says what of a filesystem could not be used, for a caller's
// summary. The first fields are known once New returns; the counts are
// those of the last Walk.
type Damage struct {
	// PrimarySuperblock is why the primary superblock was not used (nil
	// when it was); BackupGroup and BackupOff then place the backup used
	// instead (group number, byte offset in the filesystem).
	PrimarySuperblock error
	BackupGroup       uint64
	BackupOff         int64
	// Truncated is set when the device (DeviceSize bytes) is shorter
	// than the filesystem (FSSize bytes).
	Truncated  bool
	DeviceSize int64
	FSSize     int64
	// GroupsRecovered counts groups whose primary descriptor was bad and
	// a backup copy was used; GroupsDamaged groups whose descriptor was
	// bad in every copy (part of it was still used where plausible);
	// GroupsNoInodes groups whose inodes cannot be read at all (inode
	// table lost, or past the device's end).
	GroupsRecovered int
	GroupsDamaged   int
	GroupsNoInodes  int
	// Walked is set once a Walk has run; the counts below are its.
	Walked bool
	// InodesSkipped counts directory entries whose inode was not mapped
	// at all (unreadable, out of range, unknown type, bad checksum with
	// other damage); InodesPartial inodes mapped in part (a bad extent,
	// pointer or tree block); DirsPartial directories some of whose
	// blocks could not be read or parsed (part of their subtree may be
	// missing); FilesTruncated files and directories whose blocks run
	// past the device's end.
	InodesSkipped  int
	InodesPartial  int
	DirsPartial    int
	FilesTruncated int
	// RootLost is set when the root directory could not be read: only
	// the metadata was mapped.
	RootLost bool
}

// Complete reports whether nothing was lost: a backup superblock used
// alone does not count, since everything could still be read.
func (d Damage) Complete() bool {
	return !d.Truncated && d.GroupsDamaged == 0 && d.GroupsNoInodes == 0 && d.InodesSkipped == 0 &&
		d.InodesPartial == 0 && d.DirsPartial == 0 && d.FilesTruncated == 0 && !d.RootLost
}

// Damage returns what New found damaged and the counts of the last
// completed Walk.
func (f *FS) Damage() Damage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
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

// ObjectsHint guesses how many objects Walk reports: the inodes in use
// by the superblock's count (which may be stale: a hint for
// preallocation, nothing more), a sixteenth more for the extra names of
// hard links, and room for the metadata structures.
func (f *FS) ObjectsHint() int64 {
	used := int64(f.sb.inodesCount) - int64(min(f.sb.freeInodesCount, f.sb.inodesCount))
	return used + used/16 + 1024
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
	if blk >= f.devBlocks || f.devBlocks-blk < n {
		return fmt.Errorf("blocks %d-%d past the device's end (block %d): %w", blk, blk+n-1, f.devBlocks, ErrTruncated)
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
