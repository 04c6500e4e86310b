package xfs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The superblock is the first sector of AG 0 (and backed up in the first
// sector of every other AG). All its fields are big-endian, except the
// v5 CRC, which is stored little-endian like every XFS checksum.
const (
	sbMagic   = 0x58465342 // "XFSB"
	sbMinSize = 208        // the v4 superblock up to sb_bad_features2
	sbV5Size  = 264        // the v5 superblock up to sb_meta_uuid
	sbCRCOff  = 224
)

// sb_versionnum bits.
const (
	versionNumBits = 0x000f
	versionDirV2   = 0x2000
	versionBorg    = 0x4000 // ASCII case-insensitive names (version 4 only)
	versionMore    = 0x8000 // sb_features2 is valid
)

// sb_features2 bits (version 4).
const (
	features2Ftype = 0x0200
	features2CRC   = 0x0100
)

// Version 5 incompatible features. A filesystem with a bit outside
// incompatKnown is refused: its on-disk format has something this reader
// would misread.
const (
	incompatFtype       = 0x01
	incompatSpinodes    = 0x02
	incompatMetaUUID    = 0x04
	incompatBigtime     = 0x08
	incompatNeedsRepair = 0x10
	incompatNrext64     = 0x20
	incompatExchrange   = 0x40 // file content exchange: log items only
	incompatParent      = 0x80 // parent pointers: attribute fork only
	incompatKnown       = incompatFtype | incompatSpinodes | incompatMetaUUID | incompatBigtime |
		incompatNeedsRepair | incompatNrext64 | incompatExchrange | incompatParent
)

var incompatNames = []string{"ftype", "sparse inodes", "meta_uuid", "bigtime", "needsrepair", "nrext64", "exchange-range", "parent pointers", "metadir", "zoned"}

// Version 5 read-only compatible features whose btrees the walker maps.
const (
	roCompatFinobt  = 0x01
	roCompatRmapbt  = 0x02
	roCompatReflink = 0x04
)

// superblock holds the fields this package uses.
type superblock struct {
	blockSize    uint32
	dblocks      uint64
	uuid         [16]byte
	logStart     uint64
	rootIno      uint64
	rbmIno       uint64
	rsumIno      uint64
	agBlocks     uint32
	agCount      uint32
	logBlocks    uint32
	versionNum   uint16
	sectSize     uint16
	inodeSize    uint16
	inopBlock    uint16
	fname        [12]byte
	blockLog     uint8
	inodeLog     uint8
	inopbLog     uint8
	agBlkLog     uint8
	uquotIno     uint64
	gquotIno     uint64
	pquotIno     uint64
	dirBlkLog    uint8
	features2    uint32
	roCompat     uint32
	incompat     uint32
	crc          uint32
	crcOK        bool
	spinoAlign   uint32
	hasCRCFields bool
}

func (sb *superblock) version() uint16 { return sb.versionNum & versionNumBits }
func (sb *superblock) v5() bool        { return sb.version() == 5 }

// hasFtype reports whether directory entries carry the file type.
func (sb *superblock) hasFtype() bool {
	if sb.v5() {
		return sb.incompat&incompatFtype != 0
	}
	return sb.versionNum&versionMore != 0 && sb.features2&features2Ftype != 0
}

func (sb *superblock) label() string {
	s := string(sb.fname[:])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

func (sb *superblock) uuidString() string {
	b := sb.uuid
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sbErr(msg string, args ...any) error {
	return &diskerr.FormatError{FS: "xfs", Off: 0, What: "superblock", Msg: fmt.Sprintf(msg, args...)}
}

// parseSuperblock decodes and checks the superblock in b (one sector, at
// least 512 bytes). size is the device's size in bytes.
func parseSuperblock(b []byte, size int64) (*superblock, error) {
	if len(b) < 512 {
		return nil, sbErr("%d bytes, want a 512-byte sector", len(b))
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != sbMagic {
		return nil, sbErr("bad magic %#08x, want XFSB", m)
	}
	sb := &superblock{
		blockSize:  be.Uint32(b[4:]),
		dblocks:    be.Uint64(b[8:]),
		logStart:   be.Uint64(b[48:]),
		rootIno:    be.Uint64(b[56:]),
		rbmIno:     be.Uint64(b[64:]),
		rsumIno:    be.Uint64(b[72:]),
		agBlocks:   be.Uint32(b[84:]),
		agCount:    be.Uint32(b[88:]),
		logBlocks:  be.Uint32(b[96:]),
		versionNum: be.Uint16(b[100:]),
		sectSize:   be.Uint16(b[102:]),
		inodeSize:  be.Uint16(b[104:]),
		inopBlock:  be.Uint16(b[106:]),
		blockLog:   b[120],
		inodeLog:   b[122],
		inopbLog:   b[123],
		agBlkLog:   b[124],
		uquotIno:   be.Uint64(b[160:]),
		gquotIno:   be.Uint64(b[168:]),
		dirBlkLog:  b[192],
		features2:  be.Uint32(b[200:]),
	}
	copy(sb.uuid[:], b[32:48])
	copy(sb.fname[:], b[108:120])
	switch v := sb.version(); v {
	case 4:
		if sb.versionNum&versionDirV2 == 0 {
			return nil, sbErr("version 1 directories (sb_versionnum %#04x) are not supported", sb.versionNum)
		}
		if sb.versionNum&versionBorg != 0 {
			return nil, sbErr("ASCII case-insensitive names (sb_versionnum %#04x) are not supported", sb.versionNum)
		}
		if sb.versionNum&versionMore == 0 {
			sb.features2 = 0
		}
		if sb.features2&features2CRC != 0 {
			return nil, sbErr("version 4 superblock with the CRC feature bit")
		}
	case 5:
		sb.hasCRCFields = true
		sb.roCompat = be.Uint32(b[212:])
		sb.incompat = be.Uint32(b[216:])
		sb.crc = binary.LittleEndian.Uint32(b[sbCRCOff:])
		sb.spinoAlign = be.Uint32(b[228:])
		sb.pquotIno = be.Uint64(b[232:])
		if u := sb.incompat &^ incompatKnown; u != 0 {
			var names []string
			for i := range 32 {
				if u&(1<<i) == 0 {
					continue
				}
				if i < len(incompatNames) {
					names = append(names, fmt.Sprintf("%s (%#x)", incompatNames[i], 1<<i))
				} else {
					names = append(names, fmt.Sprintf("%#x", 1<<i))
				}
			}
			return nil, sbErr("unsupported incompatible features: %s", strings.Join(names, ", "))
		}
	default:
		return nil, sbErr("unsupported version %d (sb_versionnum %#04x)", v, sb.versionNum)
	}
	switch {
	case sb.blockLog < 9 || sb.blockLog > 16 || sb.blockSize != 1<<sb.blockLog:
		return nil, sbErr("bad block size %d (log %d)", sb.blockSize, sb.blockLog)
	case sb.sectSize < 512 || sb.sectSize > 32768 || sb.sectSize&(sb.sectSize-1) != 0 || uint32(sb.sectSize) > sb.blockSize:
		return nil, sbErr("bad sector size %d", sb.sectSize)
	case sb.inodeLog < 8 || sb.inodeLog > 11 || sb.inodeSize != 1<<sb.inodeLog || uint32(sb.inodeSize) > sb.blockSize:
		return nil, sbErr("bad inode size %d (log %d)", sb.inodeSize, sb.inodeLog)
	case sb.v5() && sb.inodeSize < 512:
		return nil, sbErr("inode size %d below version 5's 512", sb.inodeSize)
	case uint32(sb.inopBlock) != sb.blockSize/uint32(sb.inodeSize) || sb.inopbLog != sb.blockLog-sb.inodeLog:
		return nil, sbErr("bad inodes per block %d (log %d)", sb.inopBlock, sb.inopbLog)
	case sb.agBlocks < 5 || sb.agBlkLog > 31 || uint64(sb.agBlocks) > 1<<sb.agBlkLog || uint64(sb.agBlocks) <= 1<<sb.agBlkLog>>1:
		return nil, sbErr("bad AG size %d blocks (log %d)", sb.agBlocks, sb.agBlkLog)
	case int(sb.agBlkLog)+int(sb.inopbLog) > 32:
		return nil, sbErr("AG block log %d and inode-per-block log %d leave no room in 32-bit AG inode numbers", sb.agBlkLog, sb.inopbLog)
	case sb.agCount == 0:
		return nil, sbErr("no allocation groups")
	case sb.dblocks == 0 || sb.dblocks > uint64(sb.agCount)*uint64(sb.agBlocks) || sb.dblocks <= uint64(sb.agCount-1)*uint64(sb.agBlocks):
		return nil, sbErr("%d blocks do not fit %d AGs of %d blocks", sb.dblocks, sb.agCount, sb.agBlocks)
	case int(sb.blockLog)+int(sb.dirBlkLog) > 16:
		return nil, sbErr("directory block size 2^%d above 64 KiB", int(sb.blockLog)+int(sb.dirBlkLog))
	}
	if size > 0 && sb.dblocks > uint64(size)>>sb.blockLog {
		return nil, sbErr("filesystem of %d blocks of %d bytes larger than the device's %d bytes", sb.dblocks, sb.blockSize, size)
	}
	if sb.v5() {
		sb.crcOK = cksumOK(b[:sb.sectSize], sbCRCOff)
	}
	return sb, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cksumOK checks an XFS metadata checksum: CRC-32C of b with the 4
// bytes at off taken as zeros, stored little-endian at off.
func cksumOK(b []byte, off int) bool {
	if off+4 > len(b) {
		return false
	}
	c := crc32.Update(0, castagnoli, b[:off])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, b[off+4:])
	return c == binary.LittleEndian.Uint32(b[off:])
}
