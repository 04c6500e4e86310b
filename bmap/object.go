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

import "github.com/virt-bmap/virt-bmap/fs"

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
	Disk   int     `json:"disk"`
	Kind   fs.Kind `json:"type"`
	Device string  `json:"device"`         // "/dev/sda1"; the disk's device for v
	Path   string  `json:"path,omitempty"` // file or directory path, metadata structure name
	// Inode, Size and Symlink are known for files and directories made
	// from a filesystem walk; a map read from the text form lacks them.
	Inode   uint64 `json:"inode,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Symlink bool   `json:"symlink,omitempty"`
	// Extents are in disk offsets (the partition's offset already added).
	Extents []fs.Extent `json:"extents"`
}

// Map is a complete block map.
type Map struct {
	Disks   []Disk
	Objects []Object
}
