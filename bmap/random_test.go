package bmap

import (
	"fmt"
	"math/rand/v2"
)

var allKinds = []Kind{KindDisk, KindPartition, KindLV, KindMeta, KindDir, KindFile}

// randomMap makes a map of n objects on up to three disks of a few KiB,
// with extents that overlap each other (across and within objects), touch
// each other, and repeat names, so that segments of every shape appear.
func randomMap(r *rand.Rand, n int) *Map {
	b := NewBuilder()
	for d := 1; d <= 3; d++ {
		b.AddDisk(Disk{Index: d, Device: fmt.Sprintf("/dev/sd%c", 'a'+d-1), Size: 1 << 13})
	}
	for i := 0; i < n; i++ {
		o := Object{
			Disk:   1 + r.IntN(3),
			Kind:   allKinds[r.IntN(len(allKinds))],
			Device: fmt.Sprintf("/dev/sd%c%d", 'a'+r.IntN(2), r.IntN(3)),
		}
		if o.Kind != KindDisk && o.Kind != KindPartition && r.IntN(8) > 0 {
			// Few distinct names, so that some objects share a text key.
			o.Path = fmt.Sprintf("/f%d", r.IntN(n/2+1))
			if r.IntN(10) == 0 {
				o.Path += "\n\\ x"
			}
		}
		var fo int64
		for k := r.IntN(4); k >= 0; k-- {
			off := int64(r.IntN(1<<13)) &^ int64(r.IntN(2)*0xff) // often aligned: shared boundaries
			ln := int64(1 + r.IntN(1<<10))
			e := Extent{Off: off, Len: ln, FileOff: fo, Role: RoleData}
			if r.IntN(5) == 0 {
				e.FileOff, e.Role = -1, RoleMeta
			} else {
				fo += ln
			}
			o.Extents = append(o.Extents, e)
			if r.IntN(4) == 0 { // an adjacent extent
				o.Extents = append(o.Extents, Extent{Off: off + ln, Len: 1 + int64(r.IntN(300)), FileOff: -1, Role: RoleMeta})
			}
		}
		b.Add(o)
	}
	return b.Map()
}
