package part

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"strings"
	"testing"
)

const diskSize = 16 << 20

// setEntry writes a partition entry into the MBR or EBR sector at sec.
func setEntry(b []byte, sec int64, slot int, status, typ byte, lba, count uint32) {
	e := b[sec+mbrEntriesOff+int64(slot)*mbrEntrySize:]
	e[0], e[4] = status, typ
	binary.LittleEndian.PutUint32(e[8:], lba)
	binary.LittleEndian.PutUint32(e[12:], count)
}

func entry(b []byte, sec int64, slot int) mbrEntry {
	return decodeMBR(b[sec : sec+512]).Entries[slot]
}

// fixGPTCRCs recomputes the entry-array and header CRCs of both GPT
// headers after a test changed an entry, so that only the change counts.
func fixGPTCRCs(b []byte) {
	for _, h := range []int64{512, int64(len(b)) - 512} {
		hdr := b[h : h+92]
		arr := int64(binary.LittleEndian.Uint64(hdr[72:])) * 512
		n := int64(binary.LittleEndian.Uint32(hdr[80:])) * 128
		binary.LittleEndian.PutUint32(hdr[88:], crc32.ChecksumIEEE(b[arr:arr+n]))
		binary.LittleEndian.PutUint32(hdr[16:], 0)
		binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
	}
}

// longChain builds a disk whose extended partition holds n EBRs, each
// with a one-sector logical partition.
func longChain(n int) []byte {
	size := int64(2048+4*n) * 512
	b := make([]byte, size)
	b[510], b[511] = 0x55, 0xAA
	setEntry(b, 0, 0, 0, 0x05, 2048, uint32(4*n))
	for i := 0; i < n; i++ {
		sec := int64(2048+4*i) * 512
		b[sec+510], b[sec+511] = 0x55, 0xAA
		setEntry(b, sec, 0, 0, 0x83, 1, 1)
		setEntry(b, sec, 1, 0, 0x05, uint32(4*(i+1)), 4)
	}
	return b
}

func TestCorruptTables(t *testing.T) {
	mbrDisk, err := os.ReadFile(mbrImage(t))
	if err != nil {
		t.Fatal(err)
	}
	gptDisk, err := os.ReadFile(gptImage(t))
	if err != nil {
		t.Fatal(err)
	}
	// The EBR chain sfdisk wrote: the first EBR at the extended
	// partition's start, each link relative to it.
	const ext = 8192 * 512
	ebr1 := int64(ext)
	ebr2 := ext + int64(entry(mbrDisk, ebr1, 1).LBA)*512
	ebr3 := ext + int64(entry(mbrDisk, ebr2, 1).LBA)*512
	if ebr2 != 12288*512 || ebr3 != 16384*512 {
		t.Fatalf("sfdisk placed the EBRs at %#x, %#x, %#x: update the test", ebr1, ebr2, ebr3)
	}
	all := []int{1, 2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		name     string
		base     []byte
		mutate   func(b []byte) []byte
		wantErr  []string // substrings of the error
		scheme   Scheme
		nums     []int         // partition numbers found
		sizes    map[int]int64 // sizes to check
		warnings []string      // each must appear in some warning (in this order of warnings)
		nWarn    int           // exact number of warnings, when >0; else len(warnings)
		extra    func(*testing.T, *Table)
	}{
		{name: "intact MBR", base: mbrDisk, scheme: SchemeMBR, nums: all},
		{name: "EBR links to itself", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, ebr2, 1, 0, 0x05, uint32((ebr2-ext)/512), 2048)
			return b
		}, scheme: SchemeMBR, nums: []int{1, 2, 3, 4, 5, 6}, warnings: []string{"EBR at 0x600000: loop"}},
		{name: "EBR links to an earlier EBR", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, ebr3, 1, 0, 0x05, 0, 2048)
			return b
		}, scheme: SchemeMBR, nums: all, warnings: []string{"EBR at 0x400000: loop"}},
		{name: "EBR link outside the extended partition", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, ebr1, 1, 0, 0x05, 0x7fffff00, 2048)
			return b
		}, scheme: SchemeMBR, nums: []int{1, 2, 3, 4, 5},
			warnings: []string{fmt.Sprintf("EBR at %#x: outside the extended partition", ext+int64(0x7fffff00)*512)}},
		{name: "extended partition and EBR chain past the disk", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, 0, 3, 0, 0x05, 8192, 0xffffff00)
			setEntry(b, ebr1, 1, 0, 0x05, 40000, 2048)
			return b
		}, scheme: SchemeMBR, nums: []int{1, 2, 3, 4, 5}, sizes: map[int]int64{4: diskSize - ext},
			warnings: []string{"partition 4 at 0x1ee", "clamped", fmt.Sprintf("EBR at %#x: outside the extended partition 0x400000-0x1000000", ext+40000*512)}},
		{name: "EBR without signature", base: mbrDisk, mutate: func(b []byte) []byte {
			b[ebr2+510] = 0
			return b
		}, scheme: SchemeMBR, nums: []int{1, 2, 3, 4, 5}, warnings: []string{"EBR at 0x600000", "0x55AA"}},
		{name: "primary past the disk's end", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, 0, 2, 0, 0x83, 30000, 10000)
			return b
		}, scheme: SchemeMBR, nums: all, sizes: map[int]int64{3: diskSize - 30000*512},
			warnings: []string{"partition 3 at 0x1de: runs from 0xea6000 to 0x1388000, past the disk's end 0x1000000: clamped"}},
		{name: "primary starting beyond the disk", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, 0, 2, 0, 0x83, 40000, 10)
			return b
		}, scheme: SchemeMBR, nums: []int{1, 2, 4, 5, 6, 7}, warnings: []string{"partition 3 at 0x1de: starts at byte 0x1388000, beyond"}},
		{name: "overlapping primaries", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, 0, 1, 0, 0x82, 3072, 2048)
			return b
		}, scheme: SchemeMBR, nums: all, warnings: []string{"partition 1 at 0x100000: overlaps partition 2"}},
		{name: "logical overlapping a logical", base: mbrDisk, mutate: func(b []byte) []byte {
			setEntry(b, ebr1, 0, 0, 0x83, 2048, 4500) // logical 5 runs into logical 6
			return b
		}, scheme: SchemeMBR, nums: all, sizes: map[int]int64{5: 4500 * 512}, warnings: []string{"partition 5 at 0x500000: overlaps partition 6"}},
		{name: "EBR link in the third entry", base: mbrDisk, mutate: func(b []byte) []byte {
			copy(b[ebr1+mbrEntriesOff+32:ebr1+mbrEntriesOff+48], b[ebr1+mbrEntriesOff+16:ebr1+mbrEntriesOff+32])
			clear(b[ebr1+mbrEntriesOff+16 : ebr1+mbrEntriesOff+32])
			return b
		}, scheme: SchemeMBR, nums: all},
		{name: "bad status byte", base: mbrDisk, mutate: func(b []byte) []byte {
			b[446] = 0x12
			return b
		}, scheme: SchemeNone, warnings: []string{"entry 1 at 0x1be: status byte 0x12"}},
		{name: "MBR truncated to its first sector", base: mbrDisk, mutate: func(b []byte) []byte { return b[:512] },
			scheme: SchemeMBR, nums: nil, nWarn: 4, warnings: []string{"partition 1 at 0x1be: starts at byte 0x100000, beyond the disk's end 0x200"}},
		{name: "all zeros", base: mbrDisk, mutate: func(b []byte) []byte { return make([]byte, len(b)) }, scheme: SchemeNone},
		{name: "chain longer than the cap", base: longChain(300), scheme: SchemeMBR, nWarn: 1,
			warnings: []string{fmt.Sprintf("EBR at %#x: chain longer than 256", (2048+4*256)*512)},
			extra: func(t *testing.T, tab *Table) {
				if len(tab.Partitions) != 1+256 || tab.Partitions[256].Number != 260 {
					t.Errorf("%d partitions", len(tab.Partitions))
				}
			}},

		{name: "intact GPT", base: gptDisk, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}},
		{name: "GPT without protective MBR", base: gptDisk, mutate: func(b []byte) []byte {
			clear(b[:512])
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"mbr: boot sector at 0x0: no 0x55AA signature but a GPT header follows"}},
		{name: "GPT primary header CRC", base: gptDisk, mutate: func(b []byte) []byte {
			b[512+56] ^= 1 // disk GUID
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"gpt: primary header at 0x200 invalid, using backup header at 0xfffe00", "CRC32"}},
		{name: "GPT primary entry array CRC", base: gptDisk, mutate: func(b []byte) []byte {
			b[1024+56] ^= 1 // first partition's name
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"primary header at 0x200 invalid", "entry array at 0x400"}},
		{name: "GPT primary header zeroed", base: gptDisk, mutate: func(b []byte) []byte {
			clear(b[512:1024])
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"primary header at 0x200 invalid", "signature"}},
		{name: "GPT backup header damaged", base: gptDisk, mutate: func(b []byte) []byte {
			b[len(b)-512+56] ^= 1
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"gpt: backup header at 0xfffe00 invalid (the primary is used)", "CRC32"}},
		{name: "GPT backup entry array damaged", base: gptDisk, mutate: func(b []byte) []byte {
			b[len(b)-33*512+56] ^= 1
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"gpt: backup header at 0xfffe00 invalid", "entry array at 0xffbe00"}},
		{name: "GPT disk grown after partitioning", base: gptDisk, mutate: func(b []byte) []byte {
			return append(b, make([]byte, 1<<20)...)
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"gpt: primary header at 0x200: backup header recorded at LBA 32767, not in the disk's last sector (LBA 34815)"}},
		{name: "GPT primary reserved field set", base: gptDisk, mutate: func(b []byte) []byte {
			b[512+20] = 1
			fixGPTCRCs(b)
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"primary header at 0x200 invalid", "reserved field"}},
		{name: "GPT both headers", base: gptDisk, mutate: func(b []byte) []byte {
			b[512+56] ^= 1
			b[len(b)-512+56] ^= 1
			return b
		}, wantErr: []string{"header at 0x200", "header at 0xfffe00", "CRC32"}},
		{name: "GPT primary header and backup entry array", base: gptDisk, mutate: func(b []byte) []byte {
			b[512+56] ^= 1
			b[len(b)-33*512+56] ^= 1
			return b
		}, wantErr: []string{"header at 0x200", "entry array at 0xffbe00"}},
		{name: "GPT truncated to its first sector", base: gptDisk, mutate: func(b []byte) []byte { return b[:512] },
			wantErr: []string{"gpt"}},
		{name: "GPT partition past the disk's end", base: gptDisk, mutate: func(b []byte) []byte {
			// partition 3 is entry 3 (index 2) in both arrays
			for _, arr := range []int64{1024, int64(len(b)) - 33*512} {
				binary.LittleEndian.PutUint64(b[arr+2*128+40:], 40000)
			}
			fixGPTCRCs(b)
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, sizes: map[int]int64{3: diskSize - 16384*512},
			warnings: []string{"gpt: partition 3 at 0x500: LBAs 16384-40000 run past the disk's end"}},
		{name: "GPT partition beyond the disk", base: gptDisk, mutate: func(b []byte) []byte {
			for _, arr := range []int64{1024, int64(len(b)) - 33*512} {
				binary.LittleEndian.PutUint64(b[arr+4*128+32:], 50000) // partition 5
				binary.LittleEndian.PutUint64(b[arr+4*128+40:], 60000)
			}
			fixGPTCRCs(b)
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3}, warnings: []string{"gpt: partition 5 at 0x600: starts at LBA 50000, beyond"}},
		{name: "GPT partition ending before it starts", base: gptDisk, mutate: func(b []byte) []byte {
			for _, arr := range []int64{1024, int64(len(b)) - 33*512} {
				binary.LittleEndian.PutUint64(b[arr+40:], 10) // partition 1
			}
			fixGPTCRCs(b)
			return b
		}, scheme: SchemeGPT, nums: []int{2, 3, 5}, warnings: []string{"gpt: partition 1 at 0x400: last LBA 10 before first LBA 2048"}},
		{name: "GPT overlapping partitions", base: gptDisk, mutate: func(b []byte) []byte {
			for _, arr := range []int64{1024, int64(len(b)) - 33*512} {
				binary.LittleEndian.PutUint64(b[arr+128+32:], 4000) // partition 2 starts inside 1
			}
			fixGPTCRCs(b)
			return b
		}, scheme: SchemeGPT, nums: []int{1, 2, 3, 5}, warnings: []string{"gpt: partition 1 at 0x100000: overlaps partition 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(tc.base)
			if tc.mutate != nil {
				b = tc.mutate(b)
			}
			var warns []string
			tab, err := Read(bytes.NewReader(b), int64(len(b)), func(e error) { warns = append(warns, e.Error()) })
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; table %+v", tab)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tab.Scheme != tc.scheme {
				t.Errorf("scheme %q, want %q", tab.Scheme, tc.scheme)
			}
			var nums []int
			for _, p := range tab.Partitions {
				nums = append(nums, p.Number)
				if p.Start < 0 || p.Size < 0 || p.End() > int64(len(b)) {
					t.Errorf("partition %d at %#x+%#x outside the %#x-byte disk", p.Number, p.Start, p.Size, len(b))
				}
			}
			if tc.extra == nil && !slices.Equal(nums, tc.nums) {
				t.Errorf("partitions %v, want %v", nums, tc.nums)
			}
			for n, want := range tc.sizes {
				for _, p := range tab.Partitions {
					if p.Number == n && p.Size != want {
						t.Errorf("partition %d: size %#x, want %#x", n, p.Size, want)
					}
				}
			}
			nWarn := tc.nWarn
			if nWarn == 0 {
				nWarn = len(tc.warnings)
				if nWarn > 1 {
					nWarn = -1 // several substrings, possibly of one warning
				}
			}
			if nWarn >= 0 && len(warns) != nWarn {
				t.Errorf("%d warnings, want %d: %q", len(warns), nWarn, warns)
			}
			joined := strings.Join(warns, "\n")
			for _, s := range tc.warnings {
				if !strings.Contains(joined, s) {
					t.Errorf("no warning contains %q: %q", s, warns)
				}
			}
			if tc.extra != nil {
				tc.extra(t, tab)
			}
		})
	}
}
