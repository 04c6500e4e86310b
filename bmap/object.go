// Package bmap is the block map: which disk, partition, logical volume,
// filesystem metadata structure, directory or file owns each byte range of
// one or more disk images.
//
// A Map is built with a Builder from the objects the partition and
// filesystem walkers report, written in the text form of the original
// virt-bmap (text.go) or in a richer JSON form (json.go), read back from
// either (Read), and queried through an Index (index.go): given a read at
// (offset, length) on a disk, every object it touches in priority order.
//
// The text form is byte for byte the original's: lines
// "DISK START END TYPE DEVICE[ PATH]" for the maximal segments over which
// the set of objects does not change, the objects of a segment in byte
// order of "TYPE DEVICE PATH" (d, f, l, m, p, v), as the original's
// boost::icl interval_map of std::set<std::string> wrote them; only a
// newline or a backslash in a name, which the original wrote raw, is
// escaped (\n, \\). It loses inodes, sizes, roles and file offsets:
// ReadText rebuilds file offsets from disk order, which is exact only for
// files stored in order. The JSON form keeps everything.
//
// Both readers take untrusted input: every malformed line or object is an
// error wrapping ErrFormat that gives its line, and an Index stays within
// a budget proportional to the map however its objects overlap.
package bmap

import "unsafe"

// Disk is one image of the map. Index is 1-based, in the order the images
// were given on the command line; it is the first column of the text form.
type Disk struct {
	Index  int    `json:"index"`
	Device string `json:"device"`          // "/dev/sda"
	Image  string `json:"image,omitempty"` // path of the image the map was made from
	Size   int64  `json:"size"`
}

// Object is one thing the map places on a disk: the disk itself, a
// partition, a logical volume, a metadata structure, a directory or a file.
type Object struct {
	Disk   int    `json:"disk"`
	Kind   Kind   `json:"type"`
	Device string `json:"device"`         // "/dev/sda1"; the disk's device for v
	Path   string `json:"path,omitempty"` // file or directory path, metadata structure name
	// Inode, Size and Symlink are known for files and directories made
	// from a filesystem walk; a map read from the text form lacks them.
	Inode   uint64 `json:"inode,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Symlink bool   `json:"symlink,omitempty"`
	// Extents are in disk offsets (the partition's offset already added).
	Extents []Extent `json:"extents"`
}

// Map is a complete block map.
type Map struct {
	Disks   []Disk
	Objects []Object
	// Volumes says, for each device with a filesystem (or that could have
	// had one), how completely it was mapped. Only the JSON form holds it.
	Volumes []Volume
}

// IndexOf returns the index of o in m.Objects, or -1 when o does not
// point at an element of that slice (or m is nil). The objects of an
// Index's hits (and so of a trace's live events) are elements of it,
// which lets a consumer keep per-object state in a slice instead of a
// map keyed by pointer.
func (m *Map) IndexOf(o *Object) int {
	if m == nil || len(m.Objects) == 0 || o == nil {
		return -1
	}
	const size = unsafe.Sizeof(Object{})
	d := uintptr(unsafe.Pointer(o)) - uintptr(unsafe.Pointer(&m.Objects[0]))
	if d%size != 0 || d/size >= uintptr(len(m.Objects)) {
		return -1
	}
	return int(d / size)
}

// Volume is the mapping status of one device: a partition, a bare disk,
// an LV or a LUKS volume.
type Volume struct {
	Device string `json:"device"`
	Disk   int    `json:"disk"`
	FS     string `json:"filesystem,omitempty"` // as blkid names it
	Status Status `json:"status"`
	// Reasons say why the status is not complete: the first problems met,
	// and how many more there were.
	Reasons []string `json:"reasons,omitempty"`
	Files   int      `json:"files"`
	Dirs    int      `json:"dirs"`
	Bytes   int64    `json:"bytes"` // bytes mapped to files, directories and metadata
}

// Status is how completely a device was mapped.
type Status string

const (
	// StatusComplete: every structure of the device was read and mapped
	// (possibly after working around damage, as fsck would).
	StatusComplete Status = "complete"
	// StatusPartial: the filesystem was walked, but some of it could not
	// be read: the reasons say what; objects may be missing.
	StatusPartial Status = "partial"
	// StatusUnreadable: a filesystem was recognised but could not be
	// opened: none of its files are mapped.
	StatusUnreadable Status = "unreadable"
	// StatusNotRecognised: no filesystem, volume or container was found
	// on a device that should hold one.
	StatusNotRecognised Status = "not recognised"
	// StatusNotWalked: a type virt-bmap recognises but does not map file
	// by file (exFAT, ISO 9660...): the device is mapped as a whole.
	StatusNotWalked Status = "not walked"
	// StatusLocked: an encrypted container with no key given: its header
	// is mapped, its contents are not.
	StatusLocked Status = "locked"
	// StatusContainer: an LVM physical volume, an unlocked LUKS container
	// or an extended partition: mapped through the devices inside it.
	StatusContainer Status = "container"
	// StatusNoFS: a device that holds no filesystem by design (swap, a
	// BIOS boot or Microsoft reserved partition).
	StatusNoFS Status = "no filesystem"
	// StatusEmpty: nothing recognised, and the device reads as zeros
	// where it was sampled (its first and last MiB and 64 blocks between):
	// a blank disk or partition.
	StatusEmpty Status = "empty"
)

// Unmapped reports whether the status means that bytes of the device that
// hold data were left out of the map.
func (s Status) Unmapped() bool {
	switch s {
	case StatusPartial, StatusUnreadable, StatusNotRecognised, StatusNotWalked, StatusLocked:
		return true
	}
	return false
}
