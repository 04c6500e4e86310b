package bmap_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
)

func Example() {
	b := bmap.NewBuilder()
	b.AddDisk(bmap.Disk{Index: 1, Device: "/dev/sda", Size: 0x10000})
	b.Add(bmap.Object{Disk: 1, Kind: bmap.KindDisk, Device: "/dev/sda",
		Extents: []bmap.Extent{{Off: 0, Len: 0x10000, FileOff: -1, Role: bmap.RoleMeta}}})
	b.Add(bmap.Object{Disk: 1, Kind: bmap.KindPartition, Device: "/dev/sda1",
		Extents: []bmap.Extent{{Off: 0x1000, Len: 0xf000, FileOff: -1, Role: bmap.RoleMeta}}})
	b.Add(bmap.Object{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda1", Path: "/boot/vmlinuz", Size: 0x2000,
		Extents: []bmap.Extent{
			{Off: 0x4000, Len: 0x1000, FileOff: 0x1000, Role: bmap.RoleData},
			{Off: 0x8000, Len: 0x1000, FileOff: 0, Role: bmap.RoleData},
		}})
	m := b.Map()
	if err := bmap.WriteText(os.Stdout, m); err != nil {
		fmt.Println(err)
	}

	ix := bmap.NewIndex(m)
	for _, h := range ix.Lookup(1, 0x4100, 0x200) {
		fmt.Printf("read %c %s %s: disk %#x+%#x, file offset %d\n",
			h.Object.Kind, h.Object.Device, h.Object.Path, h.Off, h.Len, h.FileOff)
	}

	// A map in the original's text form reads back; file offsets then
	// follow disk order.
	m2, err := bmap.Read(strings.NewReader("1 4000 5000 f /dev/sda1 /boot/vmlinuz\n1 8000 9000 f /dev/sda1 /boot/vmlinuz\n"))
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(m2.Objects[0].Extents)
	// Output:
	// 1 0 1000 v /dev/sda
	// 1 1000 4000 p /dev/sda1
	// 1 1000 4000 v /dev/sda
	// 1 4000 5000 f /dev/sda1 /boot/vmlinuz
	// 1 4000 5000 p /dev/sda1
	// 1 4000 5000 v /dev/sda
	// 1 5000 8000 p /dev/sda1
	// 1 5000 8000 v /dev/sda
	// 1 8000 9000 f /dev/sda1 /boot/vmlinuz
	// 1 8000 9000 p /dev/sda1
	// 1 8000 9000 v /dev/sda
	// 1 9000 10000 p /dev/sda1
	// 1 9000 10000 v /dev/sda
	// read f /dev/sda1 /boot/vmlinuz: disk 0x4100+0x200, file offset 4352
	// read p /dev/sda1 : disk 0x4100+0x200, file offset -1
	// read v /dev/sda : disk 0x4100+0x200, file offset -1
	// [{16384 4096 0 data false} {32768 4096 4096 data false}]
}
