package ext

import (
	"bytes"
	"os"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestFixtures walks the committed fixtures and compares them with
// debugfs (stat, ls -p, cat) and fls: inline data files, directories and
// symlinks, fast symlinks, xattr blocks, indirect blocks.
func TestFixtures(t *testing.T) {
	testutil.NeedTools(t, "debugfs", "fls")
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := loadFixture(t, name)
			img := t.TempDir() + "/img"
			must(t, os.WriteFile(img, b, 0o644))
			w := walkImage(t, img)
			w.noWarnings(t)
			w.checkAgainstDebugfs(t, img)
			w.checkAgainstDebugfsLs(t, img)
			w.checkAgainstFls(t, img)
			w.checkAgainstDumpe2fs(t, img)
			if name != "small-ext4-inline.img.gz" {
				w.checkAgainstIstat(t, img, 50)
			}
			inline := 0
			for _, e := range w.entries {
				if e.Kind != bmap.KindFile || e.Size == 0 {
					continue
				}
				// Contents through our extents equal debugfs cat.
				want := run(t, "debugfs", "-R", "cat <"+itoa(e.Inode)+">", img)
				if e.Symlink {
					continue // debugfs cat prints nothing for fast symlinks
				}
				if int64(len(want)) == iBlockLen && e.Size < iBlockLen && bytes.Count(want[e.Size:], []byte{0}) == len(want)-int(e.Size) {
					// debugfs 1.47 cat prints all of i_block for a
					// short inline file: zeros past i_size.
					want = want[:e.Size]
				}
				if got := w.contents(e); !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes differ from debugfs cat (%d bytes)", e.Path, len(got), len(want))
				}
				for _, x := range e.Extents {
					if x.Role == bmap.RoleInline {
						inline++
					}
				}
			}
			if name == "small-ext4-inline.img.gz" && inline < 3 {
				t.Errorf("%d inline extents, want several", inline)
			}
		})
	}
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
