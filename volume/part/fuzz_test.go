package part

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// checkTable calls every accessor and checks what Read promises: every
// partition lies inside the disk.
func checkTable(t *testing.T, tab *Table, size int64) {
	if tab == nil {
		t.Fatal("nil table without an error")
	}
	for _, p := range tab.Partitions {
		_ = DeviceName(1, p.Number)
		if p.Start < 0 || p.Size < 0 || p.End() > size || p.Start > size {
			t.Fatalf("partition %d at %#x+%#x outside the %#x-byte disk", p.Number, p.Start, p.Size, size)
		}
		_ = p.Type + p.TypeName + p.Name + p.GUID
	}
}

// seedImage builds a disk with a tool for the fuzz seeds, or returns nil
// when the tool is missing.
func seedImage(f *testing.F, size int64, stdin string, tool string, args ...string) []byte {
	if _, err := exec.LookPath(tool); err != nil {
		return nil
	}
	p := testutil.SparseFile(f, size)
	testutil.Run(f, stdin, tool, append(args, p)...)
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzMBR feeds Read an MBR and EBR sectors placed on a sparse disk. The
// input is sector 0 followed by (8-byte offset, sector) records; the seeds
// are the MBR and the EBRs sfdisk writes for three primaries and three
// logicals, and a few of the corruptions of TestCorruptTables.
func FuzzMBR(f *testing.F) {
	if img := seedImage(f, diskSize, mbrScript, "sfdisk", "-q"); img != nil {
		ebrs := map[int64][]byte{}
		for _, off := range []int64{8192 * 512, 12288 * 512, 16384 * 512} {
			ebrs[off] = img[off : off+512]
		}
		f.Add(encodeSectors(img[:512], ebrs), int64(diskSize))
		f.Add(encodeSectors(img[:512], ebrs), int64(1<<20))
		loop := bytes.Clone(ebrs[16384*512])
		binary.LittleEndian.PutUint32(loop[446+16+8:], 0)
		ebrs[16384*512] = loop
		f.Add(encodeSectors(img[:512], ebrs), int64(diskSize))
	}
	if img := seedImage(f, 20<<20, "", "mkfs.vfat", "-F", "16"); img != nil {
		f.Add(img[:512], int64(20<<20))
	}
	chain := longChain(8)
	recs := map[int64][]byte{}
	for i := 0; i < 8; i++ {
		off := int64(2048+4*i) * 512
		recs[off] = chain[off : off+512]
	}
	f.Add(encodeSectors(chain[:512], recs), int64(len(chain)))
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		size &= 1<<44 - 1
		d := decodeSectors(data, size)
		tab, err := Read(d, size, func(error) {})
		if err == nil {
			checkTable(t, tab, size)
		}
	})
}

// FuzzGPT feeds Read the first and the last 34 sectors of a GPT disk on a
// sparse disk of the given size. Seeds: the sgdisk image of
// TestReadGPTMatchesSfdisk, intact and with a damaged primary header.
// With fixCRC the harness makes the CRCs of both headers and their entry
// arrays right after the fuzzer's changes, so that it can reach the
// header geometry (entry count, size, LBAs) that the CRCs otherwise hide.
func FuzzGPT(f *testing.F) {
	const n = 34 * 512
	img := seedImage(f, diskSize, "", "sgdisk", "-U", gptDiskGUID,
		"-n", "1:2048:+2M", "-t", "1:ef00", "-c", "1:EFI system partition",
		"-n", "2:0:+4M", "-t", "2:8300", "-c", "2:root fs", "-n", "5:0:0", "-t", "5:8e00")
	if img != nil {
		seed := append(bytes.Clone(img[:n]), img[len(img)-n:]...)
		f.Add(seed, int64(diskSize), false)
		f.Add(seed, int64(diskSize+4096), false) // backup not at the end any more
		bad := bytes.Clone(seed)
		bad[512+60] ^= 1
		f.Add(bad, int64(diskSize), false)
		huge := bytes.Clone(seed)
		binary.LittleEndian.PutUint32(huge[512+80:], 0xffffffff) // entry count
		f.Add(huge, int64(diskSize), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, size int64, fixCRC bool) {
		size &= 1<<44 - 1
		d := &testutil.Sparse{Size: size}
		half := len(data) / 2
		d.Chunks = append(d.Chunks, testutil.Chunk{Off: 0, Data: data[:half]})
		if tail := data[half:]; size-int64(len(tail)) >= int64(half) {
			d.Chunks = append(d.Chunks, testutil.Chunk{Off: size - int64(len(tail)), Data: tail})
		}
		if fixCRC {
			fixSparseCRCs(d)
		}
		tab, err := Read(d, size, func(error) {})
		if err == nil {
			checkTable(t, tab, size)
		}
	})
}

// fixSparseCRCs sets the CRCs of the GPT headers at LBA 1 and in the last
// sector of d (where they lie inside one chunk) to match the bytes.
func fixSparseCRCs(d *testutil.Sparse) {
	for _, off := range []int64{512, d.Size - 512} {
		for _, c := range d.Chunks {
			if off < c.Off || off+92 > c.Off+int64(len(c.Data)) {
				continue
			}
			hdr := c.Data[off-c.Off : off-c.Off+92]
			n := min(int64(binary.LittleEndian.Uint32(hdr[80:]))*128, 1<<20)
			arr := make([]byte, n)
			d.ReadAt(arr, int64(binary.LittleEndian.Uint64(hdr[72:])&(1<<50-1))*512)
			binary.LittleEndian.PutUint32(hdr[88:], crc32.ChecksumIEEE(arr))
			binary.LittleEndian.PutUint32(hdr[16:], 0)
			binary.LittleEndian.PutUint32(hdr[16:], crc32.ChecksumIEEE(hdr))
		}
	}
}
