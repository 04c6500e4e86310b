package btrfs

import (
	"encoding/binary"
	"fmt"
)

// Item types (btrfs_key.type) this package reads.
const (
	typeInodeItem   = 1
	typeInodeRef    = 12
	typeXattrItem   = 24
	typeDirItem     = 84
	typeDirIndex    = 96
	typeExtentData  = 108
	typeRootItem    = 132
	typeRootBackref = 144
	typeRootRef     = 156
	typeDevItem     = 216
	typeChunkItem   = 228
)

// Object ids of the trees and of special objects.
const (
	rootTreeID      = 1
	extentTreeID    = 2
	chunkTreeID     = 3
	devTreeID       = 4
	fsTreeID        = 5 // the top-level subvolume
	rootTreeDirID   = 6 // directory in the root tree holding "default"
	csumTreeID      = 7
	quotaTreeID     = 8
	uuidTreeID      = 9
	freeSpaceTreeID = 10
	blockGroupTree  = 11
	firstFreeID     = 256 // first subvolume id, and the root directory's inode number
	lastFreeID      = ^uint64(0) - 255
	firstChunkTree  = 256 // objectid of CHUNK_ITEM keys
	devItemsID      = 1   // objectid of DEV_ITEM keys
	dataRelocTreeID = ^uint64(0) - 8
	treeLogID       = ^uint64(0) - 6
)

// key is a btrfs_disk_key: items sort by objectid, then type, then offset.
type key struct {
	objectid uint64
	typ      uint8
	offset   uint64
}

const keySize = 17

func parseKey(b []byte) key {
	le := binary.LittleEndian
	return key{objectid: le.Uint64(b), typ: b[8], offset: le.Uint64(b[9:])}
}

// cmp orders keys as btrfs does.
func (k key) cmp(o key) int {
	switch {
	case k.objectid < o.objectid:
		return -1
	case k.objectid > o.objectid:
		return 1
	case k.typ < o.typ:
		return -1
	case k.typ > o.typ:
		return 1
	case k.offset < o.offset:
		return -1
	case k.offset > o.offset:
		return 1
	}
	return 0
}

func (k key) String() string { return fmt.Sprintf("(%d %d %d)", k.objectid, k.typ, k.offset) }

// treeName names a tree in messages as btrfs inspect-internal does.
func treeName(id uint64) string {
	switch id {
	case rootTreeID:
		return "root tree"
	case extentTreeID:
		return "extent tree"
	case chunkTreeID:
		return "chunk tree"
	case devTreeID:
		return "dev tree"
	case csumTreeID:
		return "csum tree"
	case quotaTreeID:
		return "quota tree"
	case uuidTreeID:
		return "uuid tree"
	case freeSpaceTreeID:
		return "free space tree"
	case blockGroupTree:
		return "block group tree"
	case dataRelocTreeID:
		return "data reloc tree"
	case treeLogID:
		return "log tree"
	}
	if id == fsTreeID || (id >= firstFreeID && id <= lastFreeID) {
		return fmt.Sprintf("fs tree %d", id)
	}
	return fmt.Sprintf("tree %d", id)
}
