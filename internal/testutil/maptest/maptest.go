// Package maptest builds block maps for the tests and benchmarks of the
// packages that consume them (logger, reports). It is a package of its own
// because package testutil is imported by bmap's own tests and so cannot
// import bmap. For tests only: no non-test code may import it.
package maptest

import (
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// Files is a map of one disk (/dev/sda) with one partition (/dev/sda1)
// from 1 MiB on, holding n files of fileSize bytes, each after a 4 KiB
// metadata block ("inode table I"), under 50 directories: about the shape
// of a small root filesystem. A 4 KiB read inside a file touches three
// objects (disk, partition, file).
func Files(n int, fileSize int64) *bmap.Map {
	size := int64(1<<20) + int64(n)*(fileSize+4096)
	m := &bmap.Map{
		Disks: []bmap.Disk{{Index: 1, Device: "/dev/sda", Size: size}},
		Objects: []bmap.Object{
			{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda", Extents: []bmap.Extent{{Off: 0, Len: size, FileOff: -1, Role: bmap.RoleMeta}}},
			{Disk: 1, Kind: bmap.KindPartition, Device: "/dev/sda1", Extents: []bmap.Extent{{Off: 1 << 20, Len: size - 1<<20, FileOff: -1, Role: bmap.RoleMeta}}},
		},
	}
	off := int64(1 << 20)
	for i := range n {
		m.Objects = append(m.Objects,
			bmap.Object{Disk: 1, Kind: bmap.KindMeta, Device: "/dev/sda1", Path: fmt.Sprintf("inode table %d", i),
				Extents: []bmap.Extent{{Off: off, Len: 4096, FileOff: -1, Role: bmap.RoleMeta}}},
			bmap.Object{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: fmt.Sprintf("/usr/lib/dir%d/file%d.so", i%50, i), Inode: uint64(i + 12), Size: fileSize,
				Extents: []bmap.Extent{{Off: off + 4096, Len: fileSize, FileOff: 0, Role: bmap.RoleData}}})
		off += fileSize + 4096
	}
	return m
}
