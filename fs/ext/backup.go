package ext

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Finding a backup superblock when the primary is damaged, as
// e2fsck -b and debugfs -s do.
//
// A backup sits at the start of a group that has one: groups 1 and the
// powers of 3, 5 and 7 with sparse_super, every group without it, the two
// groups named by s_backup_bgs with sparse_super2. Its place depends on
// the block size and the blocks per group, which the damaged primary can
// no longer be trusted to give. So the search tries, in order:
//
//  1. the geometry of the damaged primary, when its block size and blocks
//     per group are still plausible (a bad checksum, one absurd field);
//  2. mke2fs' default geometry for every block size from 1 KiB to 64 KiB:
//     8 × block size blocks per group up to 65528 (so 65528 from 8 KiB
//     blocks on), s_first_data_block 1 for 1 KiB blocks and 0 otherwise
//     (e2fsck's get_backup_sb tries 8 × block size only);
//
// and in each geometry the groups 1, 2, 3, 5, 7, 9, 25, 27, 49, ... that
// fit on the device, then the device's last whole group (where
// sparse_super2 puts its second backup). A candidate is accepted only when
// it is a sound superblock on its own (magic, geometry checked as for the
// primary), describes the geometry it was found with, names its own group
// in s_block_group_nr (mke2fs and e2fsck write it into every backup; 0,
// from filesystems made before they did, is accepted), is
// in a group that has a backup under its own feature flags, and, with
// metadata_csum, has a matching checksum. In each geometry the first one
// accepted is the candidate (group 1's copy, the one e2fsck -b 8193/32768
// reads, when it is sound). The damaged primary's geometry, when it gives
// a candidate, wins; otherwise the candidate of the newest filesystem
// (s_mkfs_time, then s_wtime) wins, the first in the order above on a
// tie: a device formatted again with another block size keeps the old
// filesystem's backups where the new one has not written, and e2fsck's
// search, which takes the first block size that gives one, can pick such
// a stale backup.

// maxDefaultBlocksPerGroup is mke2fs' cap on blocks per group
// (EXT2_MAX_BLOCKS_PER_GROUP, 2^16 - 8): with 8 KiB blocks and more, the
// default is this, not 8 × block size.
const maxDefaultBlocksPerGroup = 1<<16 - 8

// maxBackupProbes bounds the candidates tried: each costs a 1 KiB read.
const maxBackupProbes = 512

// backupGeometry is a block size, blocks per group and first data block
// under which backups are looked for.
type backupGeometry struct {
	bs  int64
	bpg uint64
	fdb uint64
}

// backupGroups lists the groups that may hold a backup, in the order
// they are tried, up to the last group starting before limit blocks.
func backupGroups(ngroups uint64) []uint64 {
	gs := []uint64{1, 2}
	for _, base := range []uint64{3, 5, 7} {
		for p := base; p < ngroups; p *= base {
			gs = append(gs, p)
		}
	}
	gs = slices.DeleteFunc(gs, func(g uint64) bool { return g >= ngroups })
	slices.Sort(gs)
	gs = slices.Compact(gs)
	if ngroups > 1 && !slices.Contains(gs, ngroups-1) {
		gs = append(gs, ngroups-1)
	}
	return gs
}

// errNoBackup is returned when no backup superblock was found.
var errNoBackup = errors.New("no sound backup superblock found")

// findBackup looks for a backup superblock on the device; hint, when not
// nil, is the damaged primary (its geometry is tried first). It returns
// the superblock, the group it was found in and its byte offset.
func findBackup(r io.ReaderAt, size int64, hint *superblock) (*superblock, uint64, int64, error) {
	var geos []backupGeometry
	hintGeo := false
	if hint != nil && hint.logBlockSize <= maxLogBlockSize {
		bs := hint.blockSize()
		bpg := uint64(hint.blocksPerGroup)
		if bpg >= minBlocksPerGroup && int64(bpg) <= 8*bs*int64(max(1, hint.clusterRatio())) {
			fdb := uint64(0)
			if bs == 1024 && !hint.hasBigalloc() {
				fdb = 1
			}
			geos = append(geos, backupGeometry{bs, bpg, fdb})
			hintGeo = true
		}
	}
	for l := uint32(0); l <= maxLogBlockSize; l++ {
		bs := int64(1024) << l
		g := backupGeometry{bs, min(uint64(8*bs), maxDefaultBlocksPerGroup), 0}
		if bs == 1024 {
			g.fdb = 1
		}
		if !slices.Contains(geos, g) {
			geos = append(geos, g)
		}
	}
	buf := make([]byte, superblockSize)
	probes := 0
	var best *superblock
	var bestG uint64
	var bestOff int64
	newer := func(a, b *superblock) bool {
		if a.mkfsTime != b.mkfsTime {
			return a.mkfsTime > b.mkfsTime
		}
		return a.wtime > b.wtime
	}
	for gi, geo := range geos {
		devBlocks := uint64(size / geo.bs)
		if devBlocks <= geo.fdb {
			continue
		}
		ngroups := (devBlocks - geo.fdb) / geo.bpg // whole groups on the device
		if (devBlocks-geo.fdb)%geo.bpg != 0 {
			ngroups++
		}
		for _, g := range backupGroups(ngroups) {
			if probes++; probes > maxBackupProbes {
				break
			}
			blk := geo.fdb + g*geo.bpg
			off := int64(blk) * geo.bs
			if off+superblockSize > size {
				continue
			}
			if err := chunkcache.ReadFull(r, buf, off); err != nil {
				continue
			}
			sb, err := parseSuperblock(buf)
			if err != nil || sb.check(size) != nil {
				continue
			}
			if sb.blockSize() != geo.bs || uint64(sb.blocksPerGroup) != geo.bpg || uint64(sb.firstDataBlock) != geo.fdb {
				continue
			}
			// s_block_group_nr 0 in a backup: filesystems made before
			// mke2fs wrote it (revision 0 ones do not have it).
			if nr := uint64(sb.blockGroupNr); nr != 0 && nr != min(g, 0xFFFF) || !sb.checksumOK() || g >= sb.groupCount() {
				continue
			}
			if !(&FS{sb: sb}).hasSuper(g) {
				continue
			}
			if gi == 0 && hintGeo {
				return sb, g, off, nil
			}
			if best == nil || newer(sb, best) {
				best, bestG, bestOff = sb, g, off
			}
			break // the first sound backup of this geometry
		}
	}
	if best == nil {
		return nil, 0, 0, errNoBackup
	}
	return best, bestG, bestOff, nil
}

// openSuperblock reads the primary superblock and, when it is damaged
// (unreadable, bad magic, absurd geometry, metadata_csum checksum
// mismatch), a backup. damage says why the primary was not used ("" when
// it was).
func openSuperblock(r io.ReaderAt, size int64) (sb *superblock, group uint64, off int64, damage error, err error) {
	if size < superblockOff+superblockSize {
		return nil, 0, 0, nil, &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("device of %d bytes too small for a superblock", size)}
	}
	b := make([]byte, superblockSize)
	var primary, hint *superblock
	if err := chunkcache.ReadFull(r, b, superblockOff); err != nil {
		damage = &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "superblock", Msg: fmt.Sprintf("reading: %v", err)}
	} else {
		hint = decodeSuperblock(b) // its geometry, if plausible, is tried first
		if primary, err = parseSuperblock(b); err != nil {
			damage = err
		} else if err := primary.check(size); err != nil {
			damage = err
		} else if !primary.checksumOK() {
			damage = &diskerr.FormatError{FS: "ext", Off: superblockOff + 0x3FC, What: "superblock", Msg: "metadata_csum checksum mismatch"}
		} else {
			return primary, 0, superblockOff, nil, nil
		}
	}
	bsb, g, boff, berr := findBackup(r, size, hint)
	if berr == nil {
		return bsb, g, boff, damage, nil
	}
	if primary != nil && primary.check(size) == nil {
		// Only the checksum is wrong and no backup is sound: use the
		// primary (Walk warns), as the kernel does with
		// errors=continue and e2fsck after asking.
		return primary, 0, superblockOff, nil, nil
	}
	return nil, 0, 0, damage, fmt.Errorf("%w (%w)", damage, berr)
}
