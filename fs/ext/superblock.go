package ext

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// superblockOff is where the superblock starts, whatever the block size.
const superblockOff = 1024

// superblockSize is the size of the on-disk superblock.
const superblockSize = 1024

const extMagic = 0xEF53

// Feature flags (s_feature_compat, s_feature_incompat, s_feature_ro_compat).
const (
	compatHasJournal   = 0x0004
	compatResizeInode  = 0x0010
	compatDirIndex     = 0x0020
	compatSparseSuper2 = 0x0200

	incompatFiletype    = 0x0002
	incompatRecover     = 0x0004
	incompatJournalDev  = 0x0008
	incompatMetaBG      = 0x0010
	incompatExtents     = 0x0040
	incompat64bit       = 0x0080
	incompatMMP         = 0x0100
	incompatFlexBG      = 0x0200
	incompatEAInode     = 0x0400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000
	roCompatSparseSuper = 0x0001
	roCompatLargeFile   = 0x0002
	roCompatBtreeDir    = 0x0004
	roCompatHugeFile    = 0x0008
	roCompatGdtCsum     = 0x0010
	roCompatBigalloc    = 0x0200
	roCompatMetaCsum    = 0x0400
	roCompatQuota       = 0x0100
	compatOrphanFile    = 0x1000 // s_feature_compat
)

// What ext2 and ext3 understand, as libblkid decides the type: a
// filesystem with any other ro_compat or incompat feature is ext4.
const (
	ext3ROCompatSupp  = roCompatSparseSuper | roCompatLargeFile | roCompatBtreeDir
	ext3IncompatSupp  = incompatFiletype | incompatRecover | incompatMetaBG
	maxLogBlockSize   = 6  // 64 KiB blocks
	maxLogClusterBits = 16 // cluster ratio up to 2^16 blocks
	// minBlocksPerGroup is mke2fs' lower limit for -g; it also bounds the
	// number of groups, and so the memory for their descriptors, to the
	// device's size / (256 blocks).
	minBlocksPerGroup = 256
)

// superblock holds the fields of the ext superblock this package uses.
type superblock struct {
	inodesCount      uint32
	freeInodesCount  uint32 // s_free_inodes_count: a hint only (the kernel updates it lazily)
	blocksCount      uint64
	firstDataBlock   uint32
	logBlockSize     uint32
	logClusterSize   uint32
	blocksPerGroup   uint32
	clustersPerGroup uint32
	inodesPerGroup   uint32
	magic            uint16
	revLevel         uint32
	firstIno         uint32
	inodeSize        uint16
	featureCompat    uint32
	featureIncompat  uint32
	featureROCompat  uint32
	uuid             [16]byte
	volumeName       [16]byte
	reservedGDT      uint16
	journalInum      uint32
	journalDev       uint32
	descSize         uint16
	firstMetaBG      uint32
	backupBGs        [2]uint32
	usrQuotaInum     uint32
	grpQuotaInum     uint32
	prjQuotaInum     uint32
	orphanFileInum   uint32
	checksumType     uint8
	checksum         uint32
	blockGroupNr     uint16 // s_block_group_nr: the group a backup copy lives in
	wtime            uint32 // s_wtime: last write
	mkfsTime         uint32 // s_mkfs_time: creation
	checksumSeed     uint32 // s_checksum_seed (incompat csum_seed)
	raw              [superblockSize]byte
}

// parseSuperblock decodes the 1024 bytes of a superblock and checks the
// magic; the geometry is checked by (*superblock).check.
func parseSuperblock(b []byte) (*superblock, error) {
	if len(b) < superblockSize {
		return nil, &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("short superblock: %d bytes", len(b))}
	}
	s := decodeSuperblock(b)
	if s.magic != extMagic {
		return nil, &diskerr.FormatError{FS: "ext", Off: superblockOff + 0x38, What: "superblock", Msg: fmt.Sprintf("bad magic %#04x, want %#04x", s.magic, extMagic)}
	}
	return s, nil
}

// decodeSuperblock decodes the fields of b (superblockSize bytes) without
// checking anything: a damaged primary still hints at the geometry under
// which to look for backups.
func decodeSuperblock(b []byte) *superblock {
	le := binary.LittleEndian
	s := &superblock{
		inodesCount:      le.Uint32(b[0x00:]),
		freeInodesCount:  le.Uint32(b[0x10:]),
		blocksCount:      uint64(le.Uint32(b[0x04:])),
		firstDataBlock:   le.Uint32(b[0x14:]),
		logBlockSize:     le.Uint32(b[0x18:]),
		logClusterSize:   le.Uint32(b[0x1C:]),
		blocksPerGroup:   le.Uint32(b[0x20:]),
		clustersPerGroup: le.Uint32(b[0x24:]),
		inodesPerGroup:   le.Uint32(b[0x28:]),
		magic:            le.Uint16(b[0x38:]),
		revLevel:         le.Uint32(b[0x4C:]),
		firstIno:         11,
		inodeSize:        128,
		featureCompat:    le.Uint32(b[0x5C:]),
		featureIncompat:  le.Uint32(b[0x60:]),
		featureROCompat:  le.Uint32(b[0x64:]),
		reservedGDT:      le.Uint16(b[0xCE:]),
		journalInum:      le.Uint32(b[0xE0:]),
		journalDev:       le.Uint32(b[0xE4:]),
		descSize:         le.Uint16(b[0xFE:]),
		firstMetaBG:      le.Uint32(b[0x104:]),
		usrQuotaInum:     le.Uint32(b[0x240:]),
		grpQuotaInum:     le.Uint32(b[0x244:]),
		backupBGs:        [2]uint32{le.Uint32(b[0x24C:]), le.Uint32(b[0x250:])},
		prjQuotaInum:     le.Uint32(b[0x26C:]),
		orphanFileInum:   le.Uint32(b[0x280:]),
		checksumType:     b[0x175],
		blockGroupNr:     le.Uint16(b[0x5A:]),
		wtime:            le.Uint32(b[0x30:]),
		mkfsTime:         le.Uint32(b[0x108:]),
		checksumSeed:     le.Uint32(b[0x270:]),
		checksum:         le.Uint32(b[0x3FC:]),
	}
	copy(s.uuid[:], b[0x68:0x78])
	copy(s.volumeName[:], b[0x78:0x88])
	copy(s.raw[:], b)
	if s.revLevel >= 1 {
		s.firstIno = le.Uint32(b[0x54:])
		s.inodeSize = le.Uint16(b[0x58:])
	}
	if s.has64bit() {
		s.blocksCount |= uint64(le.Uint32(b[0x150:])) << 32
	}
	return s
}

func (s *superblock) has64bit() bool  { return s.featureIncompat&incompat64bit != 0 }
func (s *superblock) hasMetaBG() bool { return s.featureIncompat&incompatMetaBG != 0 }
func (s *superblock) hasBigalloc() bool {
	return s.featureROCompat&roCompatBigalloc != 0
}
func (s *superblock) hasFiletype() bool { return s.featureIncompat&incompatFiletype != 0 }

// blockSize is 1024 << s_log_block_size (valid after check).
func (s *superblock) blockSize() int64 { return 1024 << s.logBlockSize }

// clusterRatio is the number of blocks in a cluster (1 without bigalloc).
func (s *superblock) clusterRatio() uint32 {
	if !s.hasBigalloc() || s.logClusterSize <= s.logBlockSize {
		return 1
	}
	return 1 << (s.logClusterSize - s.logBlockSize)
}

// descSizeBytes is the size of one group descriptor.
func (s *superblock) descSizeBytes() int64 {
	if s.has64bit() {
		return int64(s.descSize)
	}
	return 32
}

// groupCount is the number of block groups (valid after check).
func (s *superblock) groupCount() uint64 {
	bpg := uint64(s.blocksPerGroup)
	return (s.blocksCount - uint64(s.firstDataBlock) + bpg - 1) / bpg
}

// check validates the geometry against the device size, so that every
// later computation from these fields stays inside the device.
func (s *superblock) check(size int64) error {
	bad := func(off int64, format string, args ...any) error {
		return &diskerr.FormatError{FS: "ext", Off: superblockOff + off, What: "superblock", Msg: fmt.Sprintf(format, args...)}
	}
	if s.logBlockSize > maxLogBlockSize {
		return bad(0x18, "bad block size: s_log_block_size %d", s.logBlockSize)
	}
	bs := s.blockSize()
	if s.hasBigalloc() {
		if s.logClusterSize < s.logBlockSize || s.logClusterSize-s.logBlockSize > maxLogClusterBits {
			return bad(0x1C, "bad cluster size: s_log_cluster_size %d with s_log_block_size %d", s.logClusterSize, s.logBlockSize)
		}
		if uint64(s.clustersPerGroup)*uint64(s.clusterRatio()) != uint64(s.blocksPerGroup) {
			return bad(0x20, "s_blocks_per_group %d is not s_clusters_per_group %d times the cluster ratio %d", s.blocksPerGroup, s.clustersPerGroup, s.clusterRatio())
		}
		if s.clustersPerGroup == 0 || int64(s.clustersPerGroup) > 8*bs {
			return bad(0x24, "bad s_clusters_per_group %d for %d-byte blocks", s.clustersPerGroup, bs)
		}
	} else if s.blocksPerGroup == 0 || int64(s.blocksPerGroup) > 8*bs {
		return bad(0x20, "bad s_blocks_per_group %d for %d-byte blocks", s.blocksPerGroup, bs)
	}
	if s.blocksPerGroup < minBlocksPerGroup {
		return bad(0x20, "s_blocks_per_group %d below %d", s.blocksPerGroup, minBlocksPerGroup)
	}
	if s.inodesPerGroup == 0 || int64(s.inodesPerGroup) > 8*bs {
		return bad(0x28, "bad s_inodes_per_group %d for %d-byte blocks", s.inodesPerGroup, bs)
	}
	isz := int64(s.inodeSize)
	if isz < 128 || isz > bs || isz&(isz-1) != 0 {
		return bad(0x58, "bad inode size %d", isz)
	}
	// A filesystem longer than its device is truncated (a cut-short
	// copy, a partition running past the disk's end): New accepts it and
	// maps what is present. The number of groups is bounded by the
	// device instead (see maxGroups), which bounds the memory for their
	// descriptors.
	if s.blocksCount == 0 {
		return bad(0x04, "s_blocks_count 0")
	}
	if uint64(s.firstDataBlock) >= s.blocksCount {
		return bad(0x14, "s_first_data_block %d beyond s_blocks_count %d", s.firstDataBlock, s.blocksCount)
	}
	if devBlocks := uint64(size) / uint64(bs); s.blocksCount > devBlocks && s.groupCount() > maxGroups(devBlocks) {
		return bad(0x04, "filesystem has %d blocks of %d bytes (%d groups) but the device has only %d bytes: too many groups for a truncated copy", s.blocksCount, bs, s.groupCount(), size)
	}
	want := uint32(0)
	if bs == 1024 && !s.hasBigalloc() {
		want = 1
	}
	if s.firstDataBlock != want {
		return bad(0x14, "s_first_data_block %d wrong for %d-byte blocks", s.firstDataBlock, bs)
	}
	groups := s.groupCount()
	if groups*uint64(s.inodesPerGroup) != uint64(s.inodesCount) {
		return bad(0x00, "s_inodes_count %d is not %d groups times %d inodes per group", s.inodesCount, groups, s.inodesPerGroup)
	}
	if s.has64bit() {
		ds := int64(s.descSize)
		if ds < 64 || ds > 1024 || ds&(ds-1) != 0 {
			return bad(0xFE, "bad group descriptor size %d", ds)
		}
	}
	if s.featureIncompat&incompatJournalDev != 0 {
		return bad(0x60, "external journal device, not a filesystem")
	}
	if s.revLevel >= 1 && (s.firstIno < 11 || s.firstIno > s.inodesCount) {
		return bad(0x54, "bad s_first_ino %d", s.firstIno)
	}
	return nil
}

// maxGroups is the most groups a filesystem on a device of devBlocks
// blocks may have: as many as the device has blocks (a group has at least
// 256), so that a filesystem truncated to 1/256 of its size still opens,
// and the descriptors kept in memory stay smaller than the device.
func maxGroups(devBlocks uint64) uint64 { return max(devBlocks, 1024) }

// hasMetaCsum reports the metadata_csum feature.
func (s *superblock) hasMetaCsum() bool { return s.featureROCompat&roCompatMetaCsum != 0 }

// csumSeed is the seed of every metadata_csum checksum but the
// superblock's: s_checksum_seed with the csum_seed feature, else the
// crc32c of the UUID.
func (s *superblock) csumSeed() uint32 {
	if s.featureIncompat&incompatCsumSeed != 0 {
		return s.checksumSeed
	}
	return crc32c(^uint32(0), s.uuid[:])
}

// crc32c continues the kernel's crc32c_le (no final inversion) from crc.
func crc32c(crc uint32, b []byte) uint32 { return ^crc32.Update(^crc, castagnoli, b) }

// fsType names the filesystem as libblkid does: ext4 when it has a feature
// ext3 does not know, else ext3 when it has a journal, else ext2.
func (s *superblock) fsType() string {
	if s.featureROCompat&^ext3ROCompatSupp != 0 || s.featureIncompat&^ext3IncompatSupp != 0 {
		return "ext4"
	}
	if s.featureCompat&compatHasJournal != 0 {
		return "ext3"
	}
	return "ext2"
}

// label is s_volume_name up to its first NUL.
func (s *superblock) label() string {
	n := strings.IndexByte(string(s.volumeName[:]), 0)
	if n < 0 {
		n = len(s.volumeName)
	}
	return string(s.volumeName[:n])
}

// uuidString formats s_uuid as blkid does.
func (s *superblock) uuidString() string {
	u := s.uuid
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksumOK reports whether a metadata_csum superblock's crc32c matches;
// it is true when the filesystem has no superblock checksum.
func (s *superblock) checksumOK() bool {
	if s.featureROCompat&roCompatMetaCsum == 0 || s.checksumType != 1 {
		return true
	}
	// The kernel's crc32c_le(~0, ...) has no final inversion; Go's has.
	return crc32c(^uint32(0), s.raw[:0x3FC]) == s.checksum
}
