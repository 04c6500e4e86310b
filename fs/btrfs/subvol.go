package btrfs

import (
	"encoding/binary"
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"
)

// Subvolume is one subvolume or snapshot of the filesystem, as btrfs
// subvolume list shows it.
type Subvolume struct {
	ID       uint64 // tree id: 5 for the top level, 256 and up for the others
	ParentID uint64 // subvolume holding it (0 for the top level)
	// DirID is the directory inode, in the parent, that holds it.
	DirID uint64
	// Path is relative to the top level, without a leading slash: "root",
	// "home", "@/.snapshots/1/snapshot"; "" for the top level.
	Path     string
	ReadOnly bool
	UUID     string // "" when the root item has none (old kernels)
	// ParentUUID is the UUID of the subvolume this one is a snapshot of,
	// "" for a subvolume that is not a snapshot.
	ParentUUID string
}

// maxSubvolumes caps the subvolumes listed; maxRefDepth the directory
// levels and subvolume nesting followed to build a path.
const (
	maxSubvolumes = 1 << 16
	maxRefDepth   = 4096
)

// rootBackref is a ROOT_BACKREF's data: where subvolume child sits.
type rootBackref struct {
	parent, dirID uint64
	name          string
}

// DefaultSubvolume returns the id of the subvolume a mount without
// subvol= shows (btrfs subvolume get-default): 5 unless set-default chose
// another.
func (f *FS) DefaultSubvolume() uint64 { return f.defaultID }

// Subvolume returns an io/fs view of subvolume id, as a mount with
// subvolid=id would show it.
func (f *FS) Subvolume(id uint64) (iofs.FS, error) {
	if _, err := f.subvolRoot(id); err != nil {
		return nil, err
	}
	return &Subvol{f: f, id: id}, nil
}

// Subvolumes lists the top-level subvolume (ID 5, Path "") and every
// subvolume and snapshot reachable from it, sorted by ID. Subvolumes
// being deleted (no reference left) are not listed.
func (f *FS) Subvolumes() ([]Subvolume, error) {
	items := map[uint64]*rootItem{}
	refs := map[uint64]rootBackref{}
	le := binary.LittleEndian
	err := f.iterate(f.rootTree, key{objectid: fsTreeID}, func(it item) (bool, error) {
		id := it.key.objectid
		if id != fsTreeID && (id < firstFreeID || id > lastFreeID) {
			return true, nil
		}
		if len(items) > maxSubvolumes {
			return false, fmt.Errorf("btrfs: root tree: more than %d subvolumes", maxSubvolumes)
		}
		switch it.key.typ {
		case typeRootItem:
			r, err := parseRootItem(it.data, id, it.phys)
			if err != nil {
				return false, err
			}
			items[id] = &r
		case typeRootBackref:
			if len(it.data) < 18 || len(it.data) < 18+int(le.Uint16(it.data[16:])) {
				return false, fmt.Errorf("btrfs: root tree: root backref of subvolume %d at disk %#x: %d bytes, too short", id, it.phys, len(it.data))
			}
			n := int(le.Uint16(it.data[16:]))
			refs[id] = rootBackref{parent: it.key.offset, dirID: le.Uint64(it.data), name: string(it.data[18 : 18+n])}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	paths := map[uint64]string{fsTreeID: ""}
	var pathOf func(id uint64, depth int) (string, error)
	pathOf = func(id uint64, depth int) (string, error) {
		if p, ok := paths[id]; ok {
			return p, nil
		}
		if depth > maxRefDepth {
			return "", fmt.Errorf("btrfs: subvolume %d: nested more than %d deep (a loop of root backrefs?)", id, maxRefDepth)
		}
		ref, ok := refs[id]
		if !ok {
			return "", fmt.Errorf("btrfs: subvolume %d has no root backref", id)
		}
		pp, err := pathOf(ref.parent, depth+1)
		if err != nil {
			return "", err
		}
		dp, err := f.dirPath(ref.parent, ref.dirID)
		if err != nil {
			return "", fmt.Errorf("btrfs: subvolume %d in subvolume %d directory %d: %w", id, ref.parent, ref.dirID, err)
		}
		var parts []string
		for _, x := range []string{pp, dp, ref.name} {
			if x != "" {
				parts = append(parts, x)
			}
		}
		p := strings.Join(parts, "/")
		paths[id] = p
		return p, nil
	}
	var out []Subvolume
	for id, ri := range items {
		if id != fsTreeID && (ri.refs == 0 || refs[id] == (rootBackref{})) {
			continue
		}
		p, err := pathOf(id, 0)
		if err != nil {
			return nil, err
		}
		s := Subvolume{ID: id, ParentID: refs[id].parent, DirID: refs[id].dirID, Path: p, ReadOnly: ri.flags&rootSubvolRO != 0}
		if ri.uuid != ([16]byte{}) {
			s.UUID = uuidString(ri.uuid)
		}
		if ri.parentUU != ([16]byte{}) {
			s.ParentUUID = uuidString(ri.parentUU)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// dirPath returns the path of directory ino inside subvolume sub, from its
// INODE_REFs ("" for the subvolume's root directory).
func (f *FS) dirPath(sub, ino uint64) (string, error) {
	t, err := f.tree(sub)
	if err != nil {
		return "", err
	}
	var parts []string
	le := binary.LittleEndian
	for depth := 0; ino != firstFreeID; depth++ {
		if depth > maxRefDepth {
			return "", fmt.Errorf("directory %d nested more than %d deep (a loop of inode refs?)", ino, maxRefDepth)
		}
		var parent uint64
		var name string
		err := f.iterate(t, key{objectid: ino, typ: typeInodeRef}, func(it item) (bool, error) {
			if it.key.objectid != ino || it.key.typ != typeInodeRef {
				return false, nil
			}
			if len(it.data) < 10 || len(it.data) < 10+int(le.Uint16(it.data[8:])) {
				return false, fmt.Errorf("inode ref of inode %d at disk %#x: %d bytes, too short", ino, it.phys, len(it.data))
			}
			parent = it.key.offset
			name = string(it.data[10 : 10+int(le.Uint16(it.data[8:]))])
			return false, nil
		})
		if err != nil {
			return "", err
		}
		if parent == 0 || parent == ino {
			return "", fmt.Errorf("inode %d has no inode ref to a parent", ino)
		}
		parts = append(parts, name)
		ino = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/"), nil
}
