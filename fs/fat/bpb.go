package fat

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Variant is the FAT width: 12, 16 or 32 bits per table entry.
type Variant int

const (
	FAT12 Variant = 12
	FAT16 Variant = 16
	FAT32 Variant = 32
)

func (v Variant) String() string { return fmt.Sprintf("FAT%d", int(v)) }

// Limits of the boot sector's fields that this package accepts.
const (
	minSectorSize = 512
	maxSectorSize = 4096
	maxSPC        = 128 // sectors per cluster
	maxFATs       = 16
	// fat12MaxClusters and fat16MaxClusters are Microsoft's thresholds
	// (fatgen103): fewer than 4085 clusters is FAT12, fewer than 65525
	// FAT16.
	fat12MaxClusters = 4084
	fat16MaxClusters = 65524
	fat32MaxClusters = 0x0FFFFFF5
)

// bpb is the boot sector with its BIOS parameter block, decoded, and the
// geometry derived from it. Offsets and lengths are in bytes from the
// volume's first byte.
type bpb struct {
	bps          int64 // bytes per sector
	spc          int64 // sectors per cluster
	reserved     int64 // reserved sectors (boot sector included)
	nfats        int64
	rootEntries  int64 // FAT12/16 fixed root directory entries
	totalSectors int64
	fatSectors   int64 // sectors per FAT copy
	media        byte
	variant      Variant

	// FAT32 only.
	extFlags    uint16 // bit 7: mirroring off; bits 0-3: active FAT
	useFAT      int64  // the copy read (FS.pickFAT)
	rootCluster uint32
	fsinfo      int64 // sector of FSInfo (0: none)
	backupBoot  int64 // sector of the backup boot sector (0: none)

	// Extended boot record (0x29 or 0x28 signature).
	hasSerial bool
	serial    uint32
	label     [11]byte

	// Derived.
	clusterSize int64
	fatOff      int64 // first FAT copy
	fatLen      int64 // bytes of one FAT copy
	rootOff     int64 // FAT12/16 root directory region
	rootLen     int64
	dataOff     int64  // cluster 2
	clusters    uint32 // data clusters: valid numbers are 2..clusters+1
	maxCluster  uint32 // last cluster number usable (FAT entries permitting)
}

// parseBPB decodes the boot sector b (at least 512 bytes) of a volume of
// size bytes and checks that its geometry makes sense and fits in size.
func parseBPB(b []byte, size int64) (*bpb, error) {
	bad := func(off int64, format string, args ...any) error {
		return &diskerr.FormatError{FS: "fat", Off: off, What: "boot sector", Msg: fmt.Sprintf(format, args...)}
	}
	if len(b) < 512 {
		return nil, bad(0, "%d bytes, need 512", len(b))
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, bad(510, "no boot signature 0x55 0xAA (found %#02x %#02x)", b[510], b[511])
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	p := &bpb{
		bps:         le16(11),
		spc:         int64(b[13]),
		reserved:    le16(14),
		nfats:       int64(b[16]),
		rootEntries: le16(17),
		media:       b[21],
	}
	p.totalSectors = le16(19)
	if p.totalSectors == 0 {
		p.totalSectors = le32(32)
	}
	p.fatSectors = le16(22)
	fat32 := p.fatSectors == 0
	if fat32 {
		p.fatSectors = le32(36)
	}
	switch {
	case p.bps < minSectorSize || p.bps > maxSectorSize || p.bps&(p.bps-1) != 0:
		return nil, bad(11, "bytes per sector %d: not a power of two from %d to %d", p.bps, minSectorSize, maxSectorSize)
	case p.spc == 0 || p.spc > maxSPC || p.spc&(p.spc-1) != 0:
		return nil, bad(13, "sectors per cluster %d: not a power of two up to %d", p.spc, maxSPC)
	case p.reserved == 0:
		return nil, bad(14, "no reserved sector (the boot sector is one)")
	case p.nfats == 0 || p.nfats > maxFATs:
		return nil, bad(16, "%d FAT copies: want 1 to %d", p.nfats, maxFATs)
	case p.fatSectors == 0:
		return nil, bad(22, "FAT size 0")
	case p.totalSectors == 0:
		return nil, bad(19, "total sectors 0")
	case fat32 && p.rootEntries != 0:
		return nil, bad(17, "FAT32 boot sector (FAT size at 0x24) with %d fixed root entries", p.rootEntries)
	case !fat32 && p.rootEntries == 0:
		return nil, bad(17, "FAT12/16 boot sector without root directory entries")
	}
	p.clusterSize = p.bps * p.spc
	p.fatOff = p.reserved * p.bps
	p.fatLen = p.fatSectors * p.bps
	p.rootOff = p.fatOff + p.nfats*p.fatLen
	rootSectors := (p.rootEntries*32 + p.bps - 1) / p.bps
	p.rootLen = rootSectors * p.bps
	p.dataOff = p.rootOff + p.rootLen
	metaSectors := p.reserved + p.nfats*p.fatSectors + rootSectors
	if metaSectors >= p.totalSectors {
		return nil, bad(19, "%d total sectors leave no data area after %d sectors of reserved area, FATs and root directory", p.totalSectors, metaSectors)
	}
	if vol := p.totalSectors * p.bps; vol > size {
		return nil, bad(19, "volume of %d sectors (%d bytes) but the device has %d bytes", p.totalSectors, vol, size)
	}
	n := (p.totalSectors - metaSectors) / p.spc
	if n == 0 {
		return nil, bad(19, "no whole cluster in the data area")
	}
	switch {
	case fat32:
		p.variant = FAT32
		n = min(n, fat32MaxClusters)
		p.extFlags = binary.LittleEndian.Uint16(b[40:])
		p.rootCluster = binary.LittleEndian.Uint32(b[44:]) & 0x0FFFFFFF
		p.fsinfo = le16(48)
		p.backupBoot = le16(50)
	case n <= fat12MaxClusters:
		p.variant = FAT12
	default:
		p.variant = FAT16
		n = min(n, fat16MaxClusters)
	}
	p.clusters = uint32(n)
	// A FAT too small for the clusters leaves the last ones unreachable.
	entries := p.fatLen * 8 / int64(p.variant)
	p.maxCluster = uint32(min(int64(p.clusters)+1, entries-1))
	if p.maxCluster < 2 {
		return nil, bad(22, "FAT of %d bytes holds no data cluster", p.fatLen)
	}
	if fat32 && (p.rootCluster < 2 || p.rootCluster > p.maxCluster) {
		return nil, bad(44, "root directory cluster %d outside the clusters 2-%d", p.rootCluster, p.maxCluster)
	}
	ext := 36 // extended boot record of FAT12/16
	if fat32 {
		ext = 64
	}
	if sig := b[ext+2]; sig == 0x29 || sig == 0x28 {
		p.hasSerial = true
		p.serial = binary.LittleEndian.Uint32(b[ext+3:])
		if sig == 0x29 {
			copy(p.label[:], b[ext+7:ext+18])
		}
	}
	return p, nil
}

// clusterOff is the byte offset of data cluster c (2 <= c <= maxCluster).
func (p *bpb) clusterOff(c uint32) int64 { return p.dataOff + int64(c-2)*p.clusterSize }

// activeFAT is the FAT copy the boot sector says is current: the first,
// unless a FAT32 volume turned mirroring off and names another. The walk
// reads useFAT (FS.pickFAT).
func (p *bpb) activeFAT() int64 {
	if p.variant == FAT32 && p.extFlags&0x80 != 0 {
		if a := int64(p.extFlags & 0x0F); a < p.nfats {
			return a
		}
	}
	return 0
}

// uuid is the volume serial number as blkid prints it: "1234-ABCD".
func (p *bpb) uuid() string {
	if !p.hasSerial {
		return ""
	}
	return fmt.Sprintf("%04X-%04X", p.serial>>16, p.serial&0xFFFF)
}

// bpbLabel is the boot sector's label, trailing spaces removed; "NO NAME"
// (mkfs.fat's default) counts as none, as blkid has it.
func (p *bpb) bpbLabel() string {
	l := strings.TrimRight(decodeOEM(p.label[:]), " ")
	if l == "NO NAME" {
		return ""
	}
	return l
}
