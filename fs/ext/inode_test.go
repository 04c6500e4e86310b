package ext

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestInodeAgainstDebugfs decodes inodes of the fixtures and compares
// mode, links, size, flags and the xattr block with debugfs stat.
func TestInodeAgainstDebugfs(t *testing.T) {
	testutil.NeedTools(t, "debugfs")
	t.Parallel()
	hdr := regexp.MustCompile(`Type: \S+\s+Mode:\s+(\d+)\s+Flags: 0x([0-9a-f]+)`)
	links := regexp.MustCompile(`Links: (\d+)`)
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := loadFixture(t, name)
			img := t.TempDir() + "/img"
			must(t, os.WriteFile(img, b, 0o644))
			f, err := New(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			var inos []uint64
			for n := uint64(1); n <= 45; n++ {
				inos = append(inos, n)
			}
			st := debugfsStat(t, img, inos)
			for _, n := range inos {
				out := debugfsOut(t, img, "stat <"+strconv.FormatUint(n, 10)+">")
				in, err := f.Inode(uint32(n))
				must(t, err)
				m := hdr.FindStringSubmatch(out)
				if m == nil {
					continue // a free inode debugfs prints without a type
				}
				mode, _ := strconv.ParseUint(m[1], 8, 16)
				flags, _ := strconv.ParseUint(m[2], 16, 32)
				l, _ := strconv.ParseUint(links.FindStringSubmatch(out)[1], 10, 16)
				if uint64(in.Mode&0o7777) != mode || uint64(in.Flags) != flags || uint64(in.Links) != l || in.Size != st[n].size || in.FileACL != st[n].fileACL {
					t.Errorf("inode %d: mode %o flags %#x links %d size %d acl %d; debugfs mode %o flags %#x links %d size %d acl %d",
						n, in.Mode&0o7777, in.Flags, in.Links, in.Size, in.FileACL, mode, flags, l, st[n].size, st[n].fileACL)
				}
				if want := f.inodeOff(uint32(n)); in.Off != want {
					t.Errorf("inode %d at %#x, want %#x", n, in.Off, want)
				}
			}
		})
	}
}

func TestInodeRange(t *testing.T) {
	b := loadFixture(t, fixtures[0])
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	for _, n := range []uint32{0, f.sb.inodesCount + 1, 0xFFFFFFFF} {
		if _, err := f.Inode(n); err == nil {
			t.Errorf("Inode(%d) succeeded", n)
		}
	}
	if _, err := f.Inode(f.sb.inodesCount); err != nil {
		t.Errorf("last inode: %v", err)
	}
}

func TestDecodeInodeShort(t *testing.T) {
	var in Inode
	if err := decodeInode(12, 0, make([]byte, 100), &in); err == nil {
		t.Error("a 100-byte inode decoded")
	}
}

// TestCRC32CUint32 checks the allocation-free form against crc32c of the
// four little-endian bytes.
func TestCRC32CUint32(t *testing.T) {
	for _, c := range []struct{ crc, v uint32 }{{0, 0}, {^uint32(0), 1}, {0x12345678, 0xdeadbeef}, {0xffff0000, 1 << 31}} {
		b := []byte{byte(c.v), byte(c.v >> 8), byte(c.v >> 16), byte(c.v >> 24)}
		if got, want := crc32cUint32(c.crc, c.v), crc32c(c.crc, b); got != want {
			t.Errorf("crc32cUint32(%#x, %#x) = %#x, want %#x", c.crc, c.v, got, want)
		}
	}
}
