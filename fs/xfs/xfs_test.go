package xfs

import (
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// images are the shapes the oracle tests build: both superblock versions,
// small and large blocks, several AGs, a large directory block, and the
// optional btrees.
var images = []struct {
	name   string
	bigDir int
	opts   []string
}{
	{"v5-4k", 600, []string{"-d", "agcount=4", "-L", "xfs-v5"}},
	{"v5-1k-btree-dir", 1500, []string{"-b", "size=1024", "-d", "agcount=3"}},
	{"v5-rmap-dirblk16k", 800, []string{"-m", "rmapbt=1,reflink=1", "-n", "size=16384", "-d", "agcount=2"}},
	{"v4-4k", 600, []string{"-m", "crc=0", "-n", "ftype=0", "-d", "agcount=4", "-L", "xfs-v4"}},
	{"v4-1k", 1500, []string{"-m", "crc=0", "-b", "size=1024", "-d", "agcount=5"}},
}

func TestAgainstXfsDB(t *testing.T) {
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			makeTree(t, src, im.bigDir)
			img := mkxfs(t, src, 96<<20, im.opts...)
			if openImage(t, img).sb.v5() {
				fixRemoteSymlink(t, img, "/dir/long-link")
			}
			w := walkImage(t, img)
			w.noWarnings(t)
			w.checkAgainstXfsDB(t, img)
			w.checkAgainstBlockuse(t, img)
			if n := checkContents(t, w.f, src); n < im.bigDir {
				t.Errorf("%d files compared, want %d and more", n, im.bigDir)
			}
			// The superblock's facts as xfs_db prints them.
			out := xfsDB(t, img, []string{"sb 0", "print uuid fname blocksize agcount"})
			info := w.f.Info()
			for _, want := range []string{"uuid = " + info.UUID, `fname = "` + info.Label, "agcount = "} {
				if !strings.Contains(out, want) {
					t.Errorf("xfs_db sb: %q not in\n%s", want, out)
				}
			}
			if !w.f.SuperblockChecksumOK() {
				t.Error("superblock CRC mismatch")
			}
			// Shapes we meant to cover.
			formats := map[uint8]int{}
			for _, e := range w.entries {
				if e.Kind == bmap.KindDir {
					var in Inode
					must(t, w.f.readInode(e.Inode, &in, make([]byte, w.f.sb.inodeSize)))
					formats[in.Format]++
				}
			}
			t.Logf("directory formats (1 local, 2 extents, 3 btree): %v; %d entries", formats, len(w.entries))
		})
	}
}
