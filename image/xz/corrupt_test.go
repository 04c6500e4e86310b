package xz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// encodeVarint is the inverse of readVarint, for building test indexes.
func encodeVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// encodeIndex builds an index with count records (count may differ from
// len(recs) to make a lying index).
func encodeIndex(count uint64, recs []record) []byte {
	b := encodeVarint([]byte{0}, count)
	for _, r := range recs {
		b = encodeVarint(b, uint64(r.unpadded))
		b = encodeVarint(b, uint64(r.uncompressed))
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// encodeFooter builds a stream footer for an index of indexSize bytes.
func encodeFooter(indexSize int, flags [2]byte) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b[4:], uint32(indexSize/4-1))
	b[8], b[9] = flags[0], flags[1]
	binary.LittleEndian.PutUint32(b[0:], crc32.ChecksumIEEE(b[4:10]))
	copy(b[10:], "YZ")
	return b
}

// withIndex returns file (one stream) with its index replaced by idx.
func withIndex(t *testing.T, file, idx []byte) []byte {
	t.Helper()
	foot, err := decodeStreamFooter(file[len(file)-12:], 0)
	if err != nil {
		t.Fatal(err)
	}
	start := len(file) - 12 - int(foot.indexSize)
	out := append(append([]byte{}, file[:start]...), idx...)
	return append(out, encodeFooter(len(idx), foot.flags)...)
}

func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	data := testData(300<<10, 5)
	good, err := os.ReadFile(xzFile(t, dir, "good.xz", data, "-T2", "--block-size=64KiB"))
	if err != nil {
		t.Fatal(err)
	}
	x0, err := NewReader(bytes.NewReader(good), int64(len(good)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	blk := x0.blocks
	foot, _ := decodeStreamFooter(good[len(good)-12:], 0)
	idxOff := len(good) - 12 - int(foot.indexSize)
	recs, err := decodeIndex(bytes.NewReader(good), int64(idxOff), foot.indexSize)
	if err != nil {
		t.Fatal(err)
	}
	arm, err := os.ReadFile(xzFile(t, dir, "arm.xz", data[:10000], "--arm", "--lzma2"))
	if err != nil {
		t.Fatal(err)
	}
	// An ARM file whose first filter is made RISC-V (xz 5.6), which
	// this reader does not know, the header CRC redone.
	riscv := append([]byte{}, arm...)
	{
		hdr := riscv[12 : 12+blockHeaderLen(riscv[12])]
		at := 2
		for _, bit := range []byte{0x40, 0x80} {
			if hdr[1]&bit != 0 {
				for hdr[at]&0x80 != 0 {
					at++
				}
				at++
			}
		}
		if hdr[at] != filterARM {
			t.Fatalf("first filter ID %#x, want ARM", hdr[at])
		}
		hdr[at] = filterRISCV
		binary.LittleEndian.PutUint32(hdr[len(hdr)-4:], crc32.ChecksumIEEE(hdr[:len(hdr)-4]))
	}
	patch := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	flip := func(off int) []byte { return patch(func(b []byte) []byte { b[off] ^= 0x55; return b }) }
	reserved := patch(func(b []byte) []byte { // check type 0x02 in header and footer, CRCs redone
		b[7] = 0x02
		binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[6:8]))
		n := len(b)
		b[n-3] = 0x02
		binary.LittleEndian.PutUint32(b[n-12:], crc32.ChecksumIEEE(b[n-8:n-2]))
		return b
	})
	wrongU := append([]record{}, recs...)
	wrongU[1].uncompressed++
	wrongC := append([]record{}, recs...)
	wrongC[1].unpadded += 4
	wrongC[2].unpadded -= 4

	tests := []struct {
		name    string
		file    []byte
		openErr string // error of NewReader; "" if it must open
		readBlk int    // then a read of this block must fail ...
		readErr string // ... with this in the message
	}{
		{"empty file", nil, "too short", 0, ""},
		{"zeros", make([]byte, 4096), "only zeros", 0, ""},
		{"not a multiple of 4", good[:len(good)-1], "not a multiple of 4", 0, ""},
		{"truncated end", good[:len(good)-4], "stream footer", 0, ""},
		{"truncated middle", good[:len(good)/2&^3], "stream footer", 0, ""},
		{"flipped header magic", flip(1), "stream header at 0x0: bad magic", 0, ""},
		{"flipped footer magic", flip(len(good) - 1), "stream footer", 0, ""},
		{"flipped backward size", flip(len(good) - 8), "stream footer", 0, ""},
		{"bad index CRC", flip(idxOff + int(foot.indexSize) - 1), "index at", 0, ""},
		{"flipped index record", flip(idxOff + 2), "xz: ", 0, ""},
		{"index count huge", withIndex(t, good, encodeIndex(1<<62, recs)), "cannot fit", 0, ""},
		{"index count short", withIndex(t, good, encodeIndex(uint64(len(recs)-1), recs)), "index", 0, ""},
		{"uncompressed sizes disagree", withIndex(t, good, encodeIndex(uint64(len(recs)), wrongU)), "uncompressed size 65536, the index says 65537", 0, ""},
		{"compressed sizes disagree", withIndex(t, good, encodeIndex(uint64(len(recs)), wrongC)), "compressed size", 0, ""},
		{"flipped block header", flip(int(blk[2].hdrOff) + 3), "block header", 0, ""},
		{"reserved check type", reserved, "reserved check type 0x2", 0, ""},
		{"unsupported filter", riscv, "BCJ RISC-V filter is not supported", 0, ""},
		{"flipped compressed byte", flip(int(blk[2].dataOff + blk[2].csize/2)), "", 2, "block 2 (header at"},
		{"flipped first compressed byte", flip(int(blk[3].dataOff)), "", 3, "block 3"},
		{"flipped check", flip(int(blk[1].dataOff + blk[1].csize + (4-blk[1].csize%4)%4)), "", 1, "CRC64 mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := NewReader(bytes.NewReader(tc.file), int64(len(tc.file)), Options{})
			if tc.openErr != "" {
				if err == nil {
					x.Close()
					t.Fatalf("NewReader: no error, want %q", tc.openErr)
				}
				if !strings.Contains(err.Error(), tc.openErr) {
					t.Fatalf("NewReader: %v, want %q", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			defer x.Close()
			// The damaged block fails, with where, and no byte of it
			// comes back; the other blocks read fine.
			b := x.blocks[tc.readBlk]
			p := make([]byte, 100)
			n, err := x.ReadAt(p, b.uoff+10)
			if err == nil || n != 0 {
				t.Fatalf("ReadAt in block %d = %d, %v; want 0 and an error", tc.readBlk, n, err)
			}
			if !strings.Contains(err.Error(), tc.readErr) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadAt error %q, want %q wrapping ErrCorrupt", err, tc.readErr)
			}
			t.Logf("error: %v", err)
			for i := range x.blocks {
				if i == tc.readBlk {
					continue
				}
				o := x.blocks[i].uoff
				if n, err := x.ReadAt(p, o); n != len(p) || err != nil || !bytes.Equal(p, data[o:o+100]) {
					t.Errorf("block %d: ReadAt = %d, %v", i, n, err)
				}
			}
			// A read that spans into the bad block stops before it.
			if tc.readBlk > 0 {
				n, err := x.ReadAt(make([]byte, 200), b.uoff-100)
				if n != 100 || err == nil {
					t.Errorf("read across into the bad block = %d, %v; want 100 and an error", n, err)
				}
			}
		})
	}
}

// TestCorruptForward: a flipped byte in a single huge block is an error
// naming the block, never silent.
func TestCorruptForward(t *testing.T) {
	dir := t.TempDir()
	data := testData(5<<20, 8)
	good, err := os.ReadFile(xzFile(t, dir, "one.xz", data, "-T1", "-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(good) / 3, len(good) - 60} {
		bad := append([]byte{}, good...)
		bad[at] ^= 0x01
		path := filepath.Join(dir, "bad.xz")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		x := openFile(t, path, Options{CacheSize: MinCacheSize})
		if x.blocks[0].fwd == nil {
			t.Fatal("not forward decoded")
		}
		_, err := io.Copy(io.Discard, io.NewSectionReader(x, 0, x.Size()))
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "block 0") {
			t.Errorf("flip at %#x: reading everything gave %v, want a block 0 corruption error", at, err)
		}
		t.Logf("flip at %#x: %v", at, err)
	}
}
