package btrfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Tree block layout: a 101-byte header, then key pointers (nodes) or item
// headers growing up and item data growing down from the end (leaves).
const (
	headerSize  = 101
	keyPtrSize  = 33 // btrfs_key_ptr: key, blockptr, generation
	itemHdrSize = 25 // btrfs_item: key, offset, size
)

// treeRoot names a tree and where its root block is.
type treeRoot struct {
	id     uint64
	bytenr uint64
	level  uint8
}

// TreeError is a damaged tree block: which tree, which block (logical
// address and where it lies on disk, -1 when it maps nowhere) and what is
// wrong.
type TreeError struct {
	Tree    string // "root tree", "chunk tree", "fs tree 256"...
	Kind    string // "leaf" or "node"
	Logical uint64
	Disk    int64
	Msg     string
	Err     error // the underlying read error, if any
}

func (e *TreeError) Error() string {
	disk := "not mapped"
	if e.Disk >= 0 {
		disk = fmt.Sprintf("disk %#x", e.Disk)
	}
	s := fmt.Sprintf("btrfs: %s: %s at logical %#x (%s): %s", e.Tree, e.Kind, e.Logical, disk, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TreeError) Unwrap() error { return e.Err }

// errTreeLoop is wrapped by the TreeError of a block met twice in one walk.
var errTreeLoop = errors.New("tree loop: block reached twice")

func kindName(level uint8) string {
	if level == 0 {
		return "leaf"
	}
	return "node"
}

// readBlock reads and checks the tree block at logical, which its parent
// says is at level level of tree t. The returned bytes are shared and
// must not be changed.
func (f *FS) readBlock(t treeRoot, logical uint64, level uint8) ([]byte, error) {
	f.mu.Lock()
	b, ok := f.blocks[logical]
	f.mu.Unlock()
	ns := int(f.sb.nodeSize)
	phys, _, merr := f.mapLogical(logical)
	fail := func(err error, format string, args ...any) ([]byte, error) {
		return nil, &TreeError{Tree: treeName(t.id), Kind: kindName(level), Logical: logical, Disk: phys, Msg: fmt.Sprintf(format, args...), Err: err}
	}
	if ok {
		if b[0x64] != level {
			return fail(nil, "level %d, its parent says %d", b[0x64], level)
		}
		return b, nil
	}
	if merr != nil {
		return fail(merr, "cannot map")
	}
	if logical%uint64(f.sb.sectorSize) != 0 {
		return fail(nil, "not aligned to the sector size %d", f.sb.sectorSize)
	}
	b = make([]byte, ns)
	if err := f.readLogical(b, logical); err != nil {
		return fail(err, "reading")
	}
	if !csumOK(f.sb.csumType, b) {
		return fail(nil, "%s checksum mismatch", csumName(f.sb.csumType))
	}
	le := binary.LittleEndian
	if !bytes.Equal(b[0x20:0x30], f.sb.metadataUUID[:]) {
		return fail(nil, "fsid %x is not the filesystem's %x", b[0x20:0x30], f.sb.metadataUUID)
	}
	if got := le.Uint64(b[0x30:]); got != logical {
		return fail(nil, "header says bytenr %#x", got)
	}
	if b[0x64] != level {
		return fail(nil, "level %d, its parent says %d", b[0x64], level)
	}
	n := int(le.Uint32(b[0x60:]))
	per := itemHdrSize
	if level > 0 {
		per = keyPtrSize
	}
	if n > (ns-headerSize)/per {
		return fail(nil, "%d items do not fit", n)
	}
	if level > 0 && n == 0 {
		return fail(nil, "node with no key pointers")
	}
	var prev key
	for i := 0; i < n; i++ {
		p := b[headerSize+i*per:]
		k := parseKey(p)
		if i > 0 && k.cmp(prev) <= 0 {
			return fail(nil, "key %d %v not after key %d %v", i, k, i-1, prev)
		}
		prev = k
		if level == 0 {
			off, size := int(le.Uint32(p[17:])), int(le.Uint32(p[21:]))
			if off+size > ns-headerSize || off+size < off {
				return fail(nil, "item %d data beyond leaf (offset %d size %d)", i, off, size)
			}
			if off < n*itemHdrSize {
				return fail(nil, "item %d data (offset %d) overlaps the item headers", i, off)
			}
		}
	}
	f.mu.Lock()
	if len(f.blocks) >= maxBlocks {
		clear(f.blocks)
	}
	f.blocks[logical] = b
	f.mu.Unlock()
	return b, nil
}

// item is one leaf item met by iterate. data is valid only during the
// callback.
type item struct {
	key     key
	data    []byte
	logical uint64 // the leaf's logical address
	phys    int64  // disk offset of data (first copy)
	dataOff int    // offset of data inside the leaf
}

// iterState bounds one iteration: blocks met (a loop or a block shared by
// two parents of one tree is an error) and an optional callback for
// every block (the walker's tree map).
type iterState struct {
	seen    map[uint64]struct{}
	onBlock func(logical uint64, level uint8)
}

// iterate calls fn for every item of tree t whose key is at least from,
// in key order, until fn returns false or an error.
func (f *FS) iterate(t treeRoot, from key, fn func(item) (bool, error)) error {
	st := &iterState{seen: make(map[uint64]struct{})}
	_, err := f.iterBlock(t, st, t.bytenr, t.level, nil, nil, from, fn)
	return err
}

// walkBlocks calls onBlock for every block of tree t, and fn for every
// item.
func (f *FS) walkBlocks(t treeRoot, onBlock func(logical uint64, level uint8), fn func(item) (bool, error)) error {
	st := &iterState{seen: make(map[uint64]struct{}), onBlock: onBlock}
	_, err := f.iterBlock(t, st, t.bytenr, t.level, nil, nil, key{}, fn)
	return err
}

// iterBlock iterates the block at logical, whose keys must lie in [lo,
// hi) (nil: unbounded) as its parent says.
func (f *FS) iterBlock(t treeRoot, st *iterState, logical uint64, level uint8, lo, hi *key, from key, fn func(item) (bool, error)) (bool, error) {
	if _, ok := st.seen[logical]; ok {
		phys, _, _ := f.mapLogical(logical)
		return false, &TreeError{Tree: treeName(t.id), Kind: kindName(level), Logical: logical, Disk: phys, Msg: "reached twice", Err: errTreeLoop}
	}
	st.seen[logical] = struct{}{}
	b, err := f.readBlock(t, logical, level)
	if err != nil {
		return false, err
	}
	if st.onBlock != nil {
		st.onBlock(logical, level)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(b[0x60:]))
	phys, _, _ := f.mapLogical(logical)
	bad := func(format string, args ...any) error {
		return &TreeError{Tree: treeName(t.id), Kind: kindName(level), Logical: logical, Disk: phys, Msg: fmt.Sprintf(format, args...)}
	}
	if n > 0 {
		first := parseKey(b[headerSize:])
		per := itemHdrSize
		if level > 0 {
			per = keyPtrSize
		}
		last := parseKey(b[headerSize+(n-1)*per:])
		if lo != nil && first.cmp(*lo) < 0 {
			return false, bad("first key %v before its parent's key %v", first, *lo)
		}
		if hi != nil && last.cmp(*hi) >= 0 {
			return false, bad("last key %v not before the parent's next key %v", last, *hi)
		}
	}
	if level == 0 {
		for i := 0; i < n; i++ {
			p := b[headerSize+i*itemHdrSize:]
			k := parseKey(p)
			if k.cmp(from) < 0 {
				continue
			}
			off, size := int(le.Uint32(p[17:])), int(le.Uint32(p[21:]))
			d := headerSize + off
			more, err := fn(item{key: k, data: b[d : d+size : d+size], logical: logical, phys: phys + int64(d), dataOff: d})
			if err != nil || !more {
				return false, err
			}
		}
		return true, nil
	}
	// Start at the last pointer whose key is <= from.
	start := 0
	for i := 1; i < n; i++ {
		if parseKey(b[headerSize+i*keyPtrSize:]).cmp(from) <= 0 {
			start = i
		} else {
			break
		}
	}
	for i := start; i < n; i++ {
		p := b[headerSize+i*keyPtrSize:]
		k := parseKey(p)
		var next *key
		if i+1 < n {
			nk := parseKey(b[headerSize+(i+1)*keyPtrSize:])
			next = &nk
		} else {
			next = hi
		}
		child := le.Uint64(p[17:])
		more, err := f.iterBlock(t, st, child, level-1, &k, next, from, fn)
		if err != nil || !more {
			return false, err
		}
	}
	return true, nil
}

// lookup returns a copy of the data of the item with key k in tree t, or
// nil when there is none.
func (f *FS) lookup(t treeRoot, k key) ([]byte, error) {
	var out []byte
	err := f.iterate(t, k, func(it item) (bool, error) {
		if it.key == k {
			out = append([]byte{}, it.data...)
		}
		return false, nil
	})
	return out, err
}
