// Package bmap is the block map: which disk, partition, logical volume,
// filesystem metadata structure, directory or file owns each byte range of
// one or more disk images.
//
// A Map is built with a Builder from the objects the partition and
// filesystem walkers report, written in the text form of the original
// virt-bmap (text.go) or in a richer JSON form (json.go), read back from
// either (Read), and queried through an Index (index.go): given a read at
// (offset, length) on a disk, every object it touches in priority order.
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
