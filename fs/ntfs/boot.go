package ntfs

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// bootSize is the part of the boot sector decoded here.
const bootSize = 512

// bootSector holds the fields of the NTFS boot sector (BIOS parameter
// block and its NTFS extension) that the walk needs.
type bootSector struct {
	bytesPerSector int64
	clusterSize    int64
	totalSectors   int64
	mftLCN         int64
	mftMirrLCN     int64
	recordSize     int64 // bytes per MFT record
	indexSize      int64 // bytes per index record (from the boot sector)
	serial         uint64
}

// sizeFromByte decodes the "clusters per MFT record" and "clusters per
// index record" bytes: a positive value counts clusters, a negative one
// (as int8) is the log2 of a size in bytes.
func sizeFromByte(b byte, clusterSize int64) (int64, bool) {
	v := int8(b)
	if v > 0 {
		return int64(v) * clusterSize, true
	}
	if v < -31 || v == 0 {
		return 0, false
	}
	return 1 << uint(-v), true
}

// parseBoot decodes and checks a boot sector read from off (for the
// error's position); volSize is the size of the device holding the volume.
func parseBoot(b []byte, off, volSize int64) (*bootSector, error) {
	bad := func(format string, args ...any) error {
		return &diskerr.FormatError{FS: "ntfs", Off: off, What: "boot sector", Msg: fmt.Sprintf(format, args...)}
	}
	if len(b) < bootSize {
		return nil, bad("%d bytes, want %d", len(b), bootSize)
	}
	if string(b[3:11]) != "NTFS    " {
		return nil, bad("OEM id %q, want \"NTFS    \"", b[3:11])
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, bad("signature %#02x%02x, want 0x55aa", b[510], b[511])
	}
	bs := &bootSector{}
	bps := int64(binary.LittleEndian.Uint16(b[0x0B:]))
	if bps < 256 || bps > 4096 || bits.OnesCount64(uint64(bps)) != 1 {
		return nil, bad("bytes per sector %d: not a power of two in 256-4096", bps)
	}
	bs.bytesPerSector = bps
	spc := int64(b[0x0D])
	if spc > 0x80 { // Windows 10: 2^(256-x) sectors per cluster
		if 256-spc > 12 {
			return nil, bad("sectors per cluster byte %#x: too large", b[0x0D])
		}
		spc = 1 << uint(256-spc)
	}
	if spc == 0 || bits.OnesCount64(uint64(spc)) != 1 {
		return nil, bad("sectors per cluster %d: not a power of two", spc)
	}
	bs.clusterSize = bps * spc
	if bs.clusterSize > 2<<20 {
		return nil, bad("cluster size %d over 2 MiB", bs.clusterSize)
	}
	ts := binary.LittleEndian.Uint64(b[0x28:])
	if ts == 0 || ts > uint64(1<<62)/uint64(bps) {
		return nil, bad("total sectors %d", ts)
	}
	bs.totalSectors = int64(ts)
	clusters := bs.totalSectors * bps / bs.clusterSize
	mft := binary.LittleEndian.Uint64(b[0x30:])
	mirr := binary.LittleEndian.Uint64(b[0x38:])
	if mft >= uint64(clusters) {
		return nil, bad("$MFT at cluster %d beyond the volume's %d clusters", mft, clusters)
	}
	if mirr >= uint64(clusters) {
		return nil, bad("$MFTMirr at cluster %d beyond the volume's %d clusters", mirr, clusters)
	}
	bs.mftLCN, bs.mftMirrLCN = int64(mft), int64(mirr)
	if mft*uint64(bs.clusterSize) >= uint64(volSize) {
		return nil, bad("$MFT at byte %#x beyond the device's %d bytes", mft*uint64(bs.clusterSize), volSize)
	}
	var ok bool
	if bs.recordSize, ok = sizeFromByte(b[0x40], bs.clusterSize); !ok || bs.recordSize < 512 || bs.recordSize > maxRecordSize || bits.OnesCount64(uint64(bs.recordSize)) != 1 {
		return nil, bad("MFT record size byte %#x (%d bytes): want a power of two in 512-%d", b[0x40], bs.recordSize, maxRecordSize)
	}
	if bs.indexSize, ok = sizeFromByte(b[0x44], bs.clusterSize); !ok || bs.indexSize < 512 || bs.indexSize > maxIndexSize || bits.OnesCount64(uint64(bs.indexSize)) != 1 {
		return nil, bad("index record size byte %#x (%d bytes): want a power of two in 512-%d", b[0x44], bs.indexSize, maxIndexSize)
	}
	bs.serial = binary.LittleEndian.Uint64(b[0x48:])
	return bs, nil
}

// volumeSize is the size in bytes the boot sector gives the volume
// (without the backup boot sector that follows it).
func (bs *bootSector) volumeSize() int64 { return bs.totalSectors * bs.bytesPerSector }

// clusters is the number of clusters of the volume.
func (bs *bootSector) clusters() int64 { return bs.volumeSize() / bs.clusterSize }
