package btrfs

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The superblock: 4 KiB at 64 KiB, with copies at 64 MiB and 256 GiB
// when the device reaches that far (btrfs_sb_offset).
const (
	superblockOff  = 64 << 10
	superblockSize = 4096
	csumSize       = 32
	magic          = "_BHRfS_M"
	sysChunkMax    = 2048 // BTRFS_SYSTEM_CHUNK_ARRAY_SIZE
	maxLevel       = 8    // BTRFS_MAX_LEVEL: levels 0..7
)

// superblockCopies are the offsets of the superblock and its mirrors.
var superblockCopies = []int64{superblockOff, 64 << 20, 256 << 30}

// incompat_flags this package knows how to read. Others (raid56,
// extent_tree_v2, raid_stripe_tree, simple_quota...) make New fail
// rather than misread.
const (
	incompatMixedBackref  = 1 << 0
	incompatDefaultSubvol = 1 << 1
	incompatMixedGroups   = 1 << 2
	incompatLZO           = 1 << 3
	incompatZSTD          = 1 << 4
	incompatBigMetadata   = 1 << 5
	incompatExtendedIref  = 1 << 6
	incompatRAID56        = 1 << 7
	incompatSkinnyMeta    = 1 << 8
	incompatNoHoles       = 1 << 9
	incompatMetadataUUID  = 1 << 10
	incompatRAID1C34      = 1 << 11
	incompatZoned         = 1 << 12
	incompatExtentTreeV2  = 1 << 13
	incompatRaidStripe    = 1 << 14
	incompatSimpleQuota   = 1 << 16

	incompatKnown = incompatMixedBackref | incompatDefaultSubvol | incompatMixedGroups |
		incompatLZO | incompatZSTD | incompatBigMetadata | incompatExtendedIref |
		incompatSkinnyMeta | incompatNoHoles | incompatMetadataUUID | incompatRAID1C34 |
		incompatZoned | incompatSimpleQuota
)

// superblock holds the fields of btrfs_super_block this package uses.
type superblock struct {
	fsid          [16]byte
	bytenr        uint64
	generation    uint64
	root          uint64 // root tree, logical
	chunkRoot     uint64
	logRoot       uint64
	totalBytes    uint64
	rootDirID     uint64
	numDevices    uint64
	sectorSize    uint32
	nodeSize      uint32
	sysChunkSize  uint32
	incompat      uint64
	csumType      uint16
	rootLevel     uint8
	chunkLevel    uint8
	logLevel      uint8
	devID         uint64 // dev_item.devid: which device this is
	devUUID       [16]byte
	label         string
	metadataUUID  [16]byte // fsid the tree blocks carry
	sysChunkArray []byte
	csumOK        bool
}

// parseSuperblock decodes and checks the 4 KiB superblock read at off.
func parseSuperblock(b []byte, off int64) (*superblock, error) {
	bad := func(format string, args ...any) error {
		return &diskerr.FormatError{FS: "btrfs", Off: off, What: "superblock", Msg: fmt.Sprintf(format, args...)}
	}
	if len(b) < superblockSize {
		return nil, bad("short superblock: %d bytes", len(b))
	}
	if string(b[0x40:0x48]) != magic {
		return nil, bad("bad magic %q (want %q)", b[0x40:0x48], magic)
	}
	le := binary.LittleEndian
	s := &superblock{
		bytenr:       le.Uint64(b[0x30:]),
		generation:   le.Uint64(b[0x48:]),
		root:         le.Uint64(b[0x50:]),
		chunkRoot:    le.Uint64(b[0x58:]),
		logRoot:      le.Uint64(b[0x60:]),
		totalBytes:   le.Uint64(b[0x70:]),
		rootDirID:    le.Uint64(b[0x80:]),
		numDevices:   le.Uint64(b[0x88:]),
		sectorSize:   le.Uint32(b[0x90:]),
		nodeSize:     le.Uint32(b[0x94:]),
		sysChunkSize: le.Uint32(b[0xa0:]),
		incompat:     le.Uint64(b[0xbc:]),
		csumType:     le.Uint16(b[0xc4:]),
		rootLevel:    b[0xc6],
		chunkLevel:   b[0xc7],
		logLevel:     b[0xc8],
		devID:        le.Uint64(b[0xc9:]),
	}
	copy(s.fsid[:], b[0x20:0x30])
	copy(s.devUUID[:], b[0xc9+66:0xc9+82])
	s.label = cString(b[0x12b:0x22b])
	s.metadataUUID = s.fsid
	if s.incompat&incompatMetadataUUID != 0 {
		copy(s.metadataUUID[:], b[0x23b:0x24b])
	}
	if s.csumType > csumBLAKE2 {
		return nil, bad("unknown checksum type %d", s.csumType)
	}
	s.csumOK = csumOK(s.csumType, b[:superblockSize])
	if !s.csumOK {
		return nil, bad("%s checksum mismatch", csumName(s.csumType))
	}
	if s.bytenr != uint64(off) {
		return nil, bad("superblock says it is at %#x", s.bytenr)
	}
	if !pow2(s.sectorSize) || s.sectorSize < 4096 || s.sectorSize > 65536 {
		return nil, bad("sector size %d not a power of two in 4096..65536", s.sectorSize)
	}
	if !pow2(s.nodeSize) || s.nodeSize < s.sectorSize || s.nodeSize > 65536 {
		return nil, bad("node size %d not a power of two in %d..65536", s.nodeSize, s.sectorSize)
	}
	if s.sysChunkSize > sysChunkMax {
		return nil, bad("sys_chunk_array_size %d beyond %d", s.sysChunkSize, sysChunkMax)
	}
	if s.rootLevel >= maxLevel || s.chunkLevel >= maxLevel || s.logLevel >= maxLevel {
		return nil, bad("tree level %d/%d/%d beyond %d", s.rootLevel, s.chunkLevel, s.logLevel, maxLevel-1)
	}
	if u := s.incompat &^ incompatKnown; u != 0 {
		return nil, bad("unsupported incompat features %#x%s", u, incompatNames(u))
	}
	if s.numDevices == 0 {
		return nil, bad("num_devices is 0")
	}
	s.sysChunkArray = append([]byte(nil), b[0x32b:0x32b+s.sysChunkSize]...)
	return s, nil
}

func incompatNames(u uint64) string {
	var names []string
	for _, x := range []struct {
		bit  uint64
		name string
	}{{incompatRAID56, "raid56"}, {incompatExtentTreeV2, "extent_tree_v2"}, {incompatRaidStripe, "raid_stripe_tree"}} {
		if u&x.bit != 0 {
			names = append(names, x.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%v)", names)
}

func pow2(x uint32) bool { return x != 0 && x&(x-1) == 0 }

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
