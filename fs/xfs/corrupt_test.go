package xfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// corruptImages builds (once per test) a version 4 image with 1 KiB
// blocks, whose big directory is in btree format, and a version 5 image,
// where every change must also mend the CRC to reach the check behind it.
func corruptImages(t *testing.T) (v4, v5 []byte) {
	t.Helper()
	src := t.TempDir()
	makeTree(t, src, 1500)
	read := func(img string) []byte {
		b, err := os.ReadFile(img)
		must(t, err)
		return b
	}
	v4 = read(mkxfs(t, src, 64<<20, "-m", "crc=0", "-b", "size=1024", "-d", "agcount=2"))
	v5 = read(mkxfs(t, src, 64<<20, "-d", "agcount=2"))
	return v4, v5
}

func openBytes(t *testing.T, b []byte) *FS {
	t.Helper()
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	return f
}

// inodeOf resolves p (no final symlink followed) and returns its inode.
func inodeOf(t *testing.T, b []byte, p string) *Inode {
	t.Helper()
	n, err := openBytes(t, b).view().Resolve("lstat", p, false)
	must(t, err)
	return n.in
}

// fixInodeCRC recomputes the version 5 CRC of the inode at off.
func fixInodeCRC(b []byte, off int64, isz int) {
	in := b[off : off+int64(isz)]
	clear(in[inodeCRCOff : inodeCRCOff+4])
	binary.LittleEndian.PutUint32(in[inodeCRCOff:], crc32.Checksum(in, castagnoli))
}

func TestCorrupt(t *testing.T) {
	v4, v5 := corruptImages(t)
	be := binary.BigEndian
	type result struct {
		newErr  string   // New fails with this
		warns   []string // Walk warns with all these
		walkErr string   // Walk fails with this
		paths   []string // and still reports these
	}
	cases := []struct {
		name string
		img  []byte
		mod  func(t *testing.T, b []byte) result
	}{
		{"zeros", v4, func(t *testing.T, b []byte) result {
			clear(b)
			return result{newErr: "xfs: superblock at 0x0: bad magic 0x000000"}
		}},
		{"superblock magic", v5, func(t *testing.T, b []byte) result {
			b[0] = 'Y'
			return result{newErr: "bad magic 0x59465342, want XFSB"}
		}},
		{"superblock CRC", v5, func(t *testing.T, b []byte) result {
			b[sbCRCOff] ^= 1
			return result{warns: []string{"xfs: superblock at 0xe0: CRC mismatch"}, paths: []string{"/hello.txt"}}
		}},
		{"unknown incompat feature", v5, func(t *testing.T, b []byte) result {
			be.PutUint32(b[216:], be.Uint32(b[216:])|0x100|0x10000)
			return result{newErr: "unsupported incompatible features: metadir (0x100), 0x10000"}
		}},
		{"truncated image", v4, func(t *testing.T, b []byte) result {
			return result{newErr: "larger than the device's"}
		}},
		{"block size", v4, func(t *testing.T, b []byte) result {
			be.PutUint32(b[4:], 3000)
			return result{newErr: "bad block size 3000"}
		}},
		{"AG count", v4, func(t *testing.T, b []byte) result {
			be.PutUint32(b[88:], 1<<30)
			return result{newErr: "do not fit 1073741824 AGs"}
		}},
		{"inode magic", v4, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "hello.txt")
			b[in.Off] = 'X'
			return result{warns: []string{fmt.Sprintf("xfs: inode %d (/hello.txt) at %#x: bad magic 0x584e, want IN", in.Num, in.Off)}, paths: []string{"/empty", "/etc/hostname"}}
		}},
		{"inode CRC", v5, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "etc/hostname")
			b[in.Off+60] ^= 0x40 // di_size
			return result{warns: []string{fmt.Sprintf("xfs: inode %d (/etc/hostname) at %#x: CRC mismatch", in.Num, in.Off)}, paths: []string{"/etc/os-release"}}
		}},
		{"inode number in v3 inode", v5, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "etc/hostname")
			be.PutUint64(b[in.Off+152:], 99)
			fixInodeCRC(b, in.Off, 512)
			return result{warns: []string{fmt.Sprintf("inode %d (/etc/hostname) at %#x: inode records number 99", in.Num, in.Off)}}
		}},
		{"extent beyond the filesystem", v5, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "large.bin")
			rec := b[in.forkOff : in.forkOff+16]
			l0 := be.Uint64(rec) | 0x1ff // startblock's high bits: AG 2^(52-agblklog)...
			be.PutUint64(rec, l0)
			fixInodeCRC(b, in.Off, 512)
			return result{warns: []string{fmt.Sprintf("xfs: inode %d extent record (/large.bin) at %#x: block", in.Num, in.forkOff), "outside the filesystem"}, paths: []string{"/hello.txt"}}
		}},
		{"huge extent count", v4, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "large.bin")
			be.PutUint32(b[in.Off+76:], 0xffffffff)
			return result{warns: []string{fmt.Sprintf("inode %d (/large.bin) at %#x: 4294967295 extents do not fit", in.Num, in.Off)}, paths: []string{"/hello.txt"}}
		}},
		{"directory loop", v4, func(t *testing.T, b []byte) result {
			// /dir is shortform: point its entry "sub" at the root.
			in := inodeOf(t, b, "dir")
			if in.Format != fmtLocal {
				t.Fatalf("/dir has format %d", in.Format)
			}
			fork := b[in.forkOff:]
			p := bytes.Index(fork[:in.Size], []byte("sub"))
			f := openBytes(t, b)
			at := p + 3 // the inode number follows the name (and ftype)
			if f.sb.hasFtype() {
				at++
			}
			be.PutUint32(fork[at:], uint32(f.sb.rootIno))
			rootOff, err := f.inodeOff(f.sb.rootIno)
			must(t, err)
			return result{warns: []string{fmt.Sprintf("inode %d (/dir/sub) at %#x: directory reached twice (a loop or a hard-linked directory); skipped", f.sb.rootIno, rootOff)}, paths: []string{"/dir/long-link"}}
		}},
		{"bmbt loop", v4, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "bigdir")
			if in.Format != fmtBtree {
				t.Fatalf("/bigdir has format %d, want btree", in.Format)
			}
			fork := b[in.forkOff : in.forkOff+int64(len(in.fork))]
			if be.Uint16(fork[2:]) < 2 {
				// One leaf: make it a node naming itself.
				maxrecs := (len(fork) - 4) / 16
				ptr := be.Uint64(fork[4+maxrecs*8:])
				off, err := openBytes(t, b).fsbRun(ptr, 1)
				must(t, err)
				blk := b[off : off+1024]
				be.PutUint16(blk[4:], 1)
				be.PutUint16(blk[6:], 1)
				be.PutUint64(blk[lblockV4+(1024-lblockV4)/16*8:], ptr)
				be.PutUint16(fork, 2)
				return result{warns: []string{fmt.Sprintf("bmbt block (/bigdir) at %#x: block %d reached twice (a loop)", off, ptr)}, paths: []string{"/hello.txt"}}
			}
			maxrecs := (len(fork) - 4) / 16
			copy(fork[4+maxrecs*8+8:], fork[4+maxrecs*8:4+maxrecs*8+8])
			return result{warns: []string{"reached twice (a loop)"}, paths: []string{"/hello.txt"}}
		}},
		{"directory block magic and huge leaf count", v4, func(t *testing.T, b []byte) result {
			in := inodeOf(t, b, "small")
			es, err := openBytes(t, b).dataExtents(in)
			must(t, err)
			if in.Format != fmtExtents || len(es) == 0 {
				t.Fatalf("/small: format %d, %d extents", in.Format, len(es))
			}
			blk := b[es[0].Off : es[0].Off+4096]
			if be.Uint32(blk) != xd2bMagic {
				t.Fatalf("/small: first block magic %#x, want XD2B", be.Uint32(blk))
			}
			be.PutUint32(blk[len(blk)-8:], 0x7fffffff)
			return result{warns: []string{fmt.Sprintf("(/small) at %#x: 2147483647 leaf entries do not fit the block", es[0].Off+4096-8)}, paths: []string{"/hello.txt"}}
		}},
		{"AGI magic", v4, func(t *testing.T, b []byte) result {
			b[2*512] = 0
			return result{warns: []string{"xfs: AG 0 AGI at 0x400: bad magic 0x00414749"}, paths: []string{"/hello.txt"}}
		}},
		{"inode btree loop", v4, func(t *testing.T, b []byte) result {
			// AG 1's inode btree root: make it a node naming itself.
			f := openBytes(t, b)
			agi := int64(f.sb.agBlocks)*f.bs + 2*512
			root := be.Uint32(b[agi+20:])
			off := int64(f.sb.agBlocks+root) * f.bs
			be.PutUint32(b[agi+24:], 2)
			be.PutUint16(b[off+4:], 1)
			be.PutUint16(b[off+6:], 1)
			maxrecs := (1024 - sblockV4) / 8
			be.PutUint32(b[off+int64(sblockV4+maxrecs*4):], root)
			return result{warns: []string{fmt.Sprintf("xfs: AG 1 inode btree at %#x: block %d reached twice (a loop)", off, root)}, paths: []string{"/hello.txt"}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(c.img)
			want := c.mod(t, b)
			size := int64(len(b))
			if c.name == "truncated image" {
				size /= 2
			}
			f, err := New(bytes.NewReader(b[:size]), size)
			if want.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), want.newErr) {
					t.Fatalf("New: %v, want an error with %q", err, want.newErr)
				}
				if _, ok := err.(*diskerr.FormatError); !ok {
					t.Errorf("New: %T, want *diskerr.FormatError", err)
				}
				return
			}
			must(t, err)
			var warns []string
			f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
			seen := map[string]bool{}
			err = f.Walk(func(e fs.Entry) error { seen[e.Path] = true; return nil })
			if want.walkErr != "" {
				if err == nil || !strings.Contains(err.Error(), want.walkErr) {
					t.Fatalf("Walk: %v, want %q", err, want.walkErr)
				}
				return
			}
			must(t, err)
			all := strings.Join(warns, "\n")
			for _, w := range want.warns {
				if !strings.Contains(all, w) {
					t.Errorf("no warning with %q; got:\n%s", w, all)
				}
			}
			for _, p := range want.paths {
				if !seen[p] {
					t.Errorf("%s not walked after the damage", p)
				}
			}
			readSome(f)
		})
	}
}
