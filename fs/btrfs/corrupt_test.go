package btrfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	iofs "io/fs"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// The corruption table: each case damages the Fedora fixture in one
// place (recomputing the checksum where the damage is behind it) and
// wants an error that says where, from New or from reading everything.

// reCsum recomputes the crc32c of the block (superblock or tree block) of
// size n at phys.
func reCsum(b []byte, phys int64, n int) {
	blk := b[phys : phys+int64(n)]
	binary.LittleEndian.PutUint32(blk, crc32.Checksum(blk[csumSize:], castagnoli))
}

// blockAt returns the first copy's disk offset of the tree block at
// logical.
func blockAt(t *testing.T, f *FS, logical uint64) int64 {
	t.Helper()
	p, _, err := f.mapLogical(logical)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll opens b and reads everything: every subvolume's files and the
// walk.
func readAll(b []byte) error {
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	var errs []error
	f.SetWarn(func(err error) { errs = append(errs, err) })
	subs, err := f.Subvolumes()
	if err != nil {
		return err
	}
	for _, s := range subs {
		sv, err := f.Subvolume(s.ID)
		if err != nil {
			return err
		}
		err = iofs.WalkDir(sv, ".", func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				_, err = iofs.ReadFile(sv, p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := f.Walk(func(fs.Entry) error { return nil }); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func TestCorrupt(t *testing.T) {
	_, orig := fixtureFile(t, "fedora")
	f := openBytes(t, orig)
	le := binary.LittleEndian
	fs256, err := f.tree(256)
	if err != nil {
		t.Fatal(err)
	}
	if fs256.level == 0 {
		t.Fatal("fs tree 256 is a single leaf; the loop case needs a node")
	}
	ns := int(f.sb.nodeSize)
	node := blockAt(t, f, fs256.bytenr)
	root := blockAt(t, f, f.sb.root)
	chunkRoot := blockAt(t, f, f.sb.chunkRoot)
	firstLeaf := le.Uint64(orig[node+headerSize+17:])
	leaf := blockAt(t, f, firstLeaf)
	const sb = superblockOff
	for _, tc := range []struct {
		name string
		mod  func(b []byte) []byte
		want string
	}{
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "btrfs: superblock at 0x10000: bad magic"},
		{"bad magic", func(b []byte) []byte { b[sb+0x40] = 'X'; return b }, "bad magic"},
		{"superblock checksum", func(b []byte) []byte { b[sb+0x100] ^= 1; return b }, "superblock at 0x10000: crc32c checksum mismatch"},
		{"truncated", func(b []byte) []byte { return b[:1<<20] }, "beyond the device"},
		{"tiny", func(b []byte) []byte { return b[:sb+100] }, "too small for a superblock"},
		{"node size", func(b []byte) []byte { le.PutUint32(b[sb+0x94:], 12345); reCsum(b, sb, superblockSize); return b }, "node size 12345"},
		{"sys chunk past the device", func(b []byte) []byte {
			le.PutUint64(b[sb+0x32b+keySize+chunkItemSize+8:], 1<<40)
			reCsum(b, sb, superblockSize)
			return b
		}, "beyond the device"},
		{"sys chunk array size", func(b []byte) []byte { le.PutUint32(b[sb+0xa0:], 5000); reCsum(b, sb, superblockSize); return b }, "sys_chunk_array_size 5000"},
		{"sys chunk stripes", func(b []byte) []byte {
			le.PutUint16(b[sb+0x32b+keySize+44:], 60000)
			reCsum(b, sb, superblockSize)
			return b
		}, "sys_chunk_array at 0x1033c: chunk at logical 0x1500000: 60000 stripes"},
		{"multi-device", func(b []byte) []byte { le.PutUint64(b[sb+0x88:], 2); reCsum(b, sb, superblockSize); return b }, "multi-device filesystem not supported: the filesystem has 2 devices, this is device 1"},
		{"tree block checksum", func(b []byte) []byte { b[root+200] ^= 1; return b }, "btrfs: root tree: leaf at logical"},
		{"tree block bytenr", func(b []byte) []byte { le.PutUint64(b[root+0x30:], 4096); reCsum(b, root, ns); return b }, "header says bytenr 0x1000"},
		{"tree block fsid", func(b []byte) []byte { b[chunkRoot+0x20] ^= 1; reCsum(b, chunkRoot, ns); return b }, "btrfs: chunk tree: leaf at logical"},
		{"huge item count", func(b []byte) []byte { le.PutUint32(b[leaf+0x60:], 0xffffffff); reCsum(b, leaf, ns); return b }, "4294967295 items do not fit"},
		{"item data beyond leaf", func(b []byte) []byte {
			le.PutUint32(b[leaf+headerSize+12*itemHdrSize+17:], uint32(ns))
			reCsum(b, leaf, ns)
			return b
		}, "item 12 data beyond leaf"},
		{"tree loop", func(b []byte) []byte {
			// The node's second pointer names the first child again.
			copy(b[node+headerSize+keyPtrSize+17:], b[node+headerSize+17:node+headerSize+25])
			reCsum(b, node, ns)
			return b
		}, "fs tree 256: leaf at logical"},
		{"keys out of order", func(b []byte) []byte {
			le.PutUint64(b[leaf+headerSize+3*itemHdrSize:], 1)
			reCsum(b, leaf, ns)
			return b
		}, "key 3 (1 "},
		{"level", func(b []byte) []byte { b[node+0x64] = 5; reCsum(b, node, ns); return b }, "level 5, its parent says 1"},
		{"raid profile", func(b []byte) []byte {
			// The chunk tree's first CHUNK_ITEM becomes RAID1.
			n := int(le.Uint32(b[chunkRoot+0x60:]))
			for i := range n {
				it := b[chunkRoot+headerSize+int64(i)*itemHdrSize:]
				if it[8] == typeChunkItem {
					off := chunkRoot + headerSize + int64(le.Uint32(it[17:]))
					le.PutUint64(b[off+24:], le.Uint64(b[off+24:])|bgRAID1)
					break
				}
			}
			reCsum(b, chunkRoot, ns)
			return b
		}, "profile RAID1: RAID profiles are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mod(bytes.Clone(orig))
			err := readAll(b)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if tc.name == "tree loop" {
				// A full walk of the tree meets the block twice.
				g, err := New(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				err = g.walkBlocks(fs256, func(uint64, uint8) {}, func(item) (bool, error) { return true, nil })
				if !errors.Is(err, errTreeLoop) || !strings.Contains(err.Error(), "fs tree 256: leaf at logical") {
					t.Errorf("walking the looped tree: %v", err)
				}
			}
		})
	}
}
