// A cross-check with go-diskfs, which maps FAT files correctly on sound
// volumes (../shared/LIBRARIES.md) but is not safe on damaged ones: on
// the fixtures, its disk ranges for every file must equal ours.

package fat

import (
	"os"
	"slices"
	"strings"
	"testing"

	diskfile "github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/virt-bmap/virt-bmap/bmap"
)

// TestWalkVsGoDiskfs cross-checks every file's and directory's byte
// ranges with go-diskfs' GetDiskRanges (which follows the whole chain).
func TestWalkVsGoDiskfs(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img, b := fixtureFile(t, name)
			w := walkBytes(t, b)
			fh, err := os.Open(img)
			must(t, err)
			defer fh.Close()
			st := diskfile.New(fh, true)
			size := int64(len(b))
			var dfs filesystem.FileSystem
			switch w.f.Variant() {
			case FAT12:
				dfs, err = fat12.Read(st, size, 0, 512)
			case FAT16:
				dfs, err = fat16.Read(st, size, 0, 512)
			default:
				dfs, err = fat32.Read(st, size, 0, 512)
			}
			must(t, err)
			n := 0
			for _, e := range w.entries {
				if e.Kind != bmap.KindFile || e.Size == 0 || strings.ContainsRune(e.Path, '😀') {
					continue // go-diskfs cannot look up names outside the BMP
				}
				fl, err := dfs.OpenFile(e.Path, os.O_RDONLY)
				if err != nil {
					t.Errorf("go-diskfs OpenFile %q: %v", e.Path, err)
					continue
				}
				ff, ok := fl.(*fat12.File)
				if !ok {
					t.Fatalf("go-diskfs file %T", fl)
				}
				rs, err := ff.GetDiskRanges()
				must(t, err)
				var got, want [][2]int64
				for _, x := range e.Extents {
					got = append(got, [2]int64{x.Off, x.Len})
				}
				for _, r := range rs {
					want = append(want, [2]int64{int64(r.Offset), int64(r.Length)})
				}
				if !slices.Equal(got, want) {
					t.Errorf("%q: ranges %v, go-diskfs %v", e.Path, got, want)
				}
				n++
			}
			if n < 50 {
				t.Errorf("only %d files compared", n)
			}
		})
	}
}
