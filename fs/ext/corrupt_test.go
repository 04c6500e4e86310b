package ext

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// debugfsOut runs one read-only debugfs request.
func debugfsOut(t testing.TB, img, req string) string {
	t.Helper()
	return string(run(t, "debugfs", "-R", req, img))
}

var imapRe = regexp.MustCompile(`located at block (\d+), offset 0x([0-9a-f]+)`)

// inodeOffset asks debugfs where the inode of path lies.
func inodeOffset(t testing.TB, img, path string, bs int64) int64 {
	t.Helper()
	m := imapRe.FindStringSubmatch(debugfsOut(t, img, "imap "+path))
	if m == nil {
		t.Fatalf("debugfs imap %s: no location", path)
	}
	blk, _ := strconv.ParseInt(m[1], 10, 64)
	off, _ := strconv.ParseInt(m[2], 16, 64)
	return blk*bs + off
}

// physBlock asks debugfs for the block holding logical block l of path.
func physBlock(t testing.TB, img, path string, l int) int64 {
	t.Helper()
	s := strings.TrimSpace(debugfsOut(t, img, fmt.Sprintf("bmap %s %d", path, l)))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		t.Fatalf("debugfs bmap %s %d: %q", path, l, s)
	}
	return n
}

// statInode asks debugfs for the inode number of path.
func statInode(t testing.TB, img, path string) uint32 {
	t.Helper()
	m := regexp.MustCompile(`Inode: (\d+)`).FindStringSubmatch(debugfsOut(t, img, "stat "+path))
	if m == nil {
		t.Fatalf("debugfs stat %s: no inode", path)
	}
	n, _ := strconv.ParseUint(m[1], 10, 32)
	return uint32(n)
}

// direntOff finds the directory entry named name in the block at blk and
// returns its byte offset in the image.
func direntOff(t testing.TB, img []byte, blk, bs int64, name string) int64 {
	t.Helper()
	b := img[blk*bs : (blk+1)*bs]
	for p := 0; p+8 <= len(b); {
		rl := int(binary.LittleEndian.Uint16(b[p+4:]))
		nl := int(b[p+6])
		if rl < 8 || p+rl > len(b) {
			break
		}
		if nl == len(name) && p+8+nl <= len(b) && string(b[p+8:p+8+nl]) == name {
			return blk*bs + int64(p)
		}
		p += rl
	}
	t.Fatalf("no entry %q in block %d", name, blk)
	return 0
}

// corruptBase builds the image the corruptions are applied to: ext4 with
// 4 KiB blocks, a file with an extent index block, nested directories,
// and files that no corruption touches.
func corruptBase(t testing.TB, typ string, opts ...string) (string, string) {
	t.Helper()
	src := t.TempDir()
	writeFile(t, src, "keep/one", 5000)
	writeFile(t, src, "keep/two", 300)
	writeFile(t, src, "victim", 9000)
	writeFile(t, src, "sub/inner/x", 100)
	writeFile(t, src, "sub/inner/y", 100)
	writeFile(t, src, "sub/z", 100)
	writeFile(t, src, "big", 300<<10) // ext2 1 KiB: indirect blocks
	for i := range 60 {
		writeFile(t, src, fmt.Sprintf("frag/%02d", i), 4096)
	}
	img := mkfs(t, typ, src, "8M", opts...)
	if typ == "ext4" {
		host := t.TempDir()
		writeFile(t, host, "frag", 200<<10)
		cmds := []string{}
		for i := 0; i < 60; i += 2 {
			cmds = append(cmds, fmt.Sprintf("rm /frag/%02d", i))
		}
		debugfsW(t, img, append(cmds, "write "+filepath.Join(host, "frag")+" /fragmented")...)
	}
	return img, src
}

func TestCorruptions(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "mkfs.ext2", "debugfs")
	t.Parallel()
	ext4, _ := corruptBase(t, "ext4", "-b", "4096")
	ext2, _ := corruptBase(t, "ext2", "-b", "1024")
	put32 := func(b []byte, off int64, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	put16 := func(b []byte, off int64, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	tests := []struct {
		name    string
		img     string
		bs      int64
		corrupt func(t *testing.T, img string, b []byte) []byte
		newErr  string // error expected from New
		warn    string // warning expected from Walk
		gone    string // path no longer reported ("" if none)
		// complete: Damage().Complete() stays true (nothing lost).
		complete bool
	}{
		{name: "flipped superblock magic", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			b[superblockOff+0x38] ^= 0xFF
			return b
		}, newErr: "bad magic"},
		{name: "all zeros", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			return make([]byte, len(b))
		}, newErr: "bad magic"},
		{name: "too small", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			return b[:1500]
		}, newErr: "too small"},
		{name: "zero blocks per group", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			put32(b, superblockOff+0x20, 0)
			return b
		}, newErr: "s_blocks_per_group"},
		{name: "huge block size", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			put32(b, superblockOff+0x18, 40)
			return b
		}, newErr: "bad block size"},
		{name: "inode count mismatch", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			put32(b, superblockOff, binary.LittleEndian.Uint32(b[superblockOff:])+1)
			return b
		}, newErr: "s_inodes_count"},
		{name: "superblock checksum", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			b[superblockOff+0x78] ^= 0x20 // the label
			return b
		}, warn: "checksum mismatch", complete: true},
		{name: "bad extent header magic", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			off := inodeOffset(t, img, "/victim", 4096)
			put16(b, off+iBlockOff, 0)
			return b
		}, warn: "(/victim) at 0x", gone: ""},
		{name: "extent tree loop", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			off := inodeOffset(t, img, "/fragmented", 4096)
			if d := binary.LittleEndian.Uint16(b[off+iBlockOff+6:]); d != 1 {
				t.Fatalf("/fragmented has extent depth %d, want 1", d)
			}
			etb := int64(binary.LittleEndian.Uint32(b[off+iBlockOff+12+4:]))
			put16(b, off+iBlockOff+6, 2) // root now expects index nodes below
			nb := etb * 4096
			put16(b, nb+2, 1) // one entry
			put16(b, nb+6, 1) // depth 1: an index node
			put32(b, nb+12, 0)
			put32(b, nb+16, uint32(etb)) // pointing to itself
			put16(b, nb+20, 0)
			return b
		}, warn: "loop"},
		{name: "directory rec_len 0", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			blk := physBlock(t, img, "/sub/inner", 0)
			put16(b, blk*4096+4, 0)
			return b
		}, warn: "rec_len 0 too small", gone: "/sub/inner/x"},
		{name: "entry beyond s_inodes_count", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			blk := physBlock(t, img, "/sub", 0)
			put32(b, direntOff(t, b, blk, 4096, "z"), 0x7FFFFFF0)
			return b
		}, warn: "beyond s_inodes_count", gone: "/sub/z"},
		{name: "directory loop", img: ext4, bs: 4096, corrupt: func(t *testing.T, img string, b []byte) []byte {
			blk := physBlock(t, img, "/sub/inner", 0)
			put32(b, direntOff(t, b, blk, 4096, "x"), statInode(t, img, "/sub"))
			return b
		}, warn: "reached twice", gone: "/sub/inner/x", complete: true},
		{name: "indirect pointer beyond the filesystem", img: ext2, bs: 1024, corrupt: func(t *testing.T, img string, b []byte) []byte {
			off := inodeOffset(t, img, "/big", 1024)
			ind := int64(binary.LittleEndian.Uint32(b[off+iBlockOff+12*4:]))
			put32(b, ind*1024+8, 0xFFFFFF00)
			return b
		}, warn: "outside the filesystem"},
		{name: "indirect block loop", img: ext2, bs: 1024, corrupt: func(t *testing.T, img string, b []byte) []byte {
			off := inodeOffset(t, img, "/big", 1024)
			dind := binary.LittleEndian.Uint32(b[off+iBlockOff+13*4:])
			put32(b, int64(dind)*1024+4, dind) // the dindirect block lists itself
			return b
		}, warn: "met twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig, err := os.ReadFile(tc.img)
			must(t, err)
			b := tc.corrupt(t, tc.img, bytes.Clone(orig))
			f, err := New(bytes.NewReader(b), int64(len(b)))
			if tc.newErr != "" {
				var fe *diskerr.FormatError
				if err == nil || !strings.Contains(err.Error(), tc.newErr) || !errors.As(err, &fe) {
					t.Fatalf("New: %v, want a diskerr.FormatError with %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var warns []string
			f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
			got := map[string]fs.Entry{}
			if err := f.Walk(func(e fs.Entry) error {
				if e.Kind != bmap.KindMeta {
					e.Extents = slices.Clone(e.Extents) // valid only during the call
					got[e.Path] = e
				}
				return nil
			}); err != nil {
				t.Fatalf("Walk: %v", err)
			}
			found := false
			for _, w := range warns {
				found = found || strings.Contains(w, tc.warn)
				if !strings.HasPrefix(w, "ext: ") || !strings.Contains(w, " at 0x") {
					t.Errorf("warning %q does not say where", w)
				}
			}
			if !found {
				t.Errorf("warnings %q, want one with %q", warns, tc.warn)
			}
			t.Logf("warnings: %q", warns)
			if d := f.Damage(); d.Complete() != tc.complete || !d.Walked {
				t.Errorf("Damage() = %+v, Complete() %v; want %v", d, d.Complete(), tc.complete)
			}
			// The untouched files are reported as on the pristine image.
			pristine := walkImage(t, tc.img)
			keep := []string{"/keep/one", "/keep/two"}
			if !strings.HasPrefix(tc.gone, "/sub/inner") {
				keep = append(keep, "/sub/inner/y")
			}
			for _, p := range keep {
				want := pristine.byPath(t, p)
				if g, ok := got[p]; !ok || fmt.Sprint(g) != fmt.Sprint(want) {
					t.Errorf("%s: got %+v, want %+v", p, g, want)
				}
			}
			if _, ok := got[tc.gone]; tc.gone != "" && ok {
				t.Errorf("%s still reported", tc.gone)
			}
		})
	}
}

// TestWalkBudget: many inodes sharing one extent tree make the walk read
// the tree again and again; the walk's budget stops it with an error
// instead of doing work quadratic in the image's size.
// It changes walkBudget, so it must not run in parallel.
func TestWalkBudget(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs")
	img, _ := corruptBase(t, "ext4", "-b", "1024", "-O", "^has_journal")
	b, err := os.ReadFile(img)
	must(t, err)
	src := inodeOffset(t, img, "/fragmented", 1024)
	if binary.LittleEndian.Uint16(b[src+iBlockOff+6:]) == 0 {
		t.Fatal("/fragmented has no extent index")
	}
	for i := 1; i < 60; i += 2 {
		dst := inodeOffset(t, img, fmt.Sprintf("/frag/%02d", i), 1024)
		copy(b[dst+iBlockOff:dst+iBlockOff+iBlockLen], b[src+iBlockOff:src+iBlockOff+iBlockLen])
	}
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	f.SetWarn(func(error) {})
	count := func() (int, error) {
		n := 0
		err := f.Walk(func(fs.Entry) error { n++; return nil })
		return n, err
	}
	full, err := count()
	if err != nil {
		t.Fatalf("default budget: %v", err)
	}
	old := walkBudget
	defer func() { walkBudget = old }()
	walkBudget = func(n uint64) int64 { return 20 }
	n, err := count()
	var fe *diskerr.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "walk stopped") || n >= full {
		t.Errorf("small budget: %d of %d entries, %v; want a diskerr.FormatError saying the walk stopped", n, full, err)
	}
}
