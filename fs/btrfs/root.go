package btrfs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// rootItem holds the fields of a ROOT_ITEM this package uses.
type rootItem struct {
	dirID    uint64 // root directory's inode (256)
	bytenr   uint64
	level    uint8
	flags    uint64
	refs     uint32
	uuid     [16]byte
	parentUU [16]byte
}

const (
	rootItemV1Size = 239 // before generation_v2 and the uuids
	rootItemV2Size = 439
	rootSubvolRO   = 1 << 0
)

func parseRootItem(b []byte, id uint64, off int64) (rootItem, error) {
	if len(b) < rootItemV1Size {
		return rootItem{}, &diskerr.FormatError{FS: "btrfs", Off: off, What: fmt.Sprintf("root item of tree %d", id), Msg: fmt.Sprintf("%d bytes, short of %d", len(b), rootItemV1Size)}
	}
	le := binary.LittleEndian
	r := rootItem{
		dirID:  le.Uint64(b[168:]),
		bytenr: le.Uint64(b[176:]),
		flags:  le.Uint64(b[208:]),
		refs:   le.Uint32(b[216:]),
		level:  b[238],
	}
	if len(b) >= rootItemV2Size {
		copy(r.uuid[:], b[247:263])
		copy(r.parentUU[:], b[263:279])
	}
	if r.level >= maxLevel {
		return rootItem{}, &diskerr.FormatError{FS: "btrfs", Off: off, What: fmt.Sprintf("root item of tree %d", id), Msg: fmt.Sprintf("level %d", r.level)}
	}
	return r, nil
}

// findRoot returns the ROOT_ITEM of tree id (the one with the highest key
// offset, as btrfs_find_root does), or nil when there is none.
func (f *FS) findRootItem(id uint64) (*rootItem, error) {
	var ri *rootItem
	err := f.iterate(f.rootTree, key{objectid: id, typ: typeRootItem}, func(it item) (bool, error) {
		if it.key.objectid != id || it.key.typ != typeRootItem {
			return false, nil
		}
		r, err := parseRootItem(it.data, id, it.phys)
		if err != nil {
			return false, err
		}
		ri = &r
		return true, nil
	})
	return ri, err
}

// tree returns the root of tree id.
func (f *FS) tree(id uint64) (treeRoot, error) {
	f.mu.Lock()
	t, ok := f.roots[id]
	f.mu.Unlock()
	if ok {
		return t, nil
	}
	ri, err := f.findRootItem(id)
	if err != nil {
		return treeRoot{}, err
	}
	if ri == nil {
		return treeRoot{}, fmt.Errorf("btrfs: %s: no root item in the root tree", treeName(id))
	}
	t = treeRoot{id: id, bytenr: ri.bytenr, level: ri.level}
	f.mu.Lock()
	f.roots[id] = t
	f.mu.Unlock()
	return t, nil
}

// findDefault reads the default subvolume: the "default" entry of the
// root tree's directory 6 (set by btrfs subvolume set-default), the
// top-level subvolume 5 when there is none.
func (f *FS) findDefault() (uint64, error) {
	id := uint64(fsTreeID)
	want := []byte("default")
	k := key{objectid: rootTreeDirID, typ: typeDirItem, offset: nameHash(want)}
	b, err := f.lookup(f.rootTree, k)
	if err != nil {
		return 0, err
	}
	if b == nil {
		return id, nil
	}
	err = parseDirItems(b, -1, func(d dirEntry) error {
		if string(d.name) == "default" {
			id = d.location.objectid
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("btrfs: root tree dir item \"default\": %w", err)
	}
	if id != fsTreeID && (id < firstFreeID || id > lastFreeID) {
		return 0, fmt.Errorf("btrfs: default subvolume id %d is not a subvolume id", id)
	}
	return id, nil
}
