package btrfs

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Block group type and profile bits (btrfs_chunk.type).
const (
	bgData     = 1 << 0
	bgSystem   = 1 << 1
	bgMetadata = 1 << 2
	bgRAID0    = 1 << 3
	bgRAID1    = 1 << 4
	bgDUP      = 1 << 5
	bgRAID10   = 1 << 6
	bgRAID5    = 1 << 7
	bgRAID6    = 1 << 8
	bgRAID1C3  = 1 << 9
	bgRAID1C4  = 1 << 10

	bgRAIDMask = bgRAID0 | bgRAID1 | bgRAID10 | bgRAID5 | bgRAID6 | bgRAID1C3 | bgRAID1C4
)

const (
	chunkItemSize  = 48 // btrfs_chunk without its stripes
	stripeSize     = 32 // btrfs_stripe
	maxStripes     = 16 // a single-device chunk has 1 (SINGLE) or 2 (DUP)
	maxChunks      = 1 << 20
	sysChunkKeyLen = keySize
)

// stripe is where one copy of a chunk lies.
type stripe struct {
	devID  uint64
	offset uint64 // physical byte offset on that device
}

// chunk maps logical [logical, logical+length) to the same range at each
// stripe's offset (SINGLE: one stripe, DUP: two on the same device).
type chunk struct {
	logical uint64
	length  uint64
	typ     uint64
	stripes []stripe
}

// profile names a chunk's profile as btrfs filesystem df does.
func profile(typ uint64) string {
	var p []string
	for _, x := range []struct {
		bit  uint64
		name string
	}{{bgRAID0, "RAID0"}, {bgRAID1, "RAID1"}, {bgDUP, "DUP"}, {bgRAID10, "RAID10"}, {bgRAID5, "RAID5"}, {bgRAID6, "RAID6"}, {bgRAID1C3, "RAID1C3"}, {bgRAID1C4, "RAID1C4"}} {
		if typ&x.bit != 0 {
			p = append(p, x.name)
		}
	}
	if len(p) == 0 {
		return "single"
	}
	return strings.Join(p, "|")
}

// parseChunk decodes a btrfs_chunk item (b is the item's data, off its
// offset for errors) for the chunk starting at logical.
func parseChunk(b []byte, logical uint64, where string, off int64) (chunk, int, error) {
	bad := func(format string, args ...any) error {
		return &diskerr.FormatError{FS: "btrfs", Off: off, What: where, Msg: fmt.Sprintf("chunk at logical %#x: ", logical) + fmt.Sprintf(format, args...)}
	}
	if len(b) < chunkItemSize {
		return chunk{}, 0, bad("%d bytes, short of a chunk item", len(b))
	}
	le := binary.LittleEndian
	c := chunk{logical: logical, length: le.Uint64(b), typ: le.Uint64(b[24:])}
	n := int(le.Uint16(b[44:]))
	if n == 0 || n > maxStripes {
		return chunk{}, 0, bad("%d stripes", n)
	}
	size := chunkItemSize + n*stripeSize
	if len(b) < size {
		return chunk{}, 0, bad("%d stripes need %d bytes, item has %d", n, size, len(b))
	}
	if c.length == 0 || logical+c.length < logical {
		return chunk{}, 0, bad("length %#x", c.length)
	}
	for i := 0; i < n; i++ {
		s := b[chunkItemSize+i*stripeSize:]
		st := stripe{devID: le.Uint64(s), offset: le.Uint64(s[8:])}
		if st.offset+c.length < st.offset {
			return chunk{}, 0, bad("stripe %d at %#x overflows", i, st.offset)
		}
		c.stripes = append(c.stripes, st)
	}
	return c, size, nil
}

// chunkMap is the logical-to-physical map, chunks sorted by logical.
type chunkMap struct {
	chunks []chunk
}

// add inserts c, refusing an overlap with a chunk already there (the same
// chunk met twice, in the superblock's array and the chunk tree, is
// fine).
func (m *chunkMap) add(c chunk) error {
	i := sort.Search(len(m.chunks), func(i int) bool { return m.chunks[i].logical >= c.logical })
	if i < len(m.chunks) && m.chunks[i].logical == c.logical && m.chunks[i].length == c.length {
		m.chunks[i] = c
		return nil
	}
	if i < len(m.chunks) && c.logical+c.length > m.chunks[i].logical {
		return fmt.Errorf("chunk at logical %#x (+%#x) overlaps the chunk at %#x", c.logical, c.length, m.chunks[i].logical)
	}
	if i > 0 && m.chunks[i-1].logical+m.chunks[i-1].length > c.logical {
		return fmt.Errorf("chunk at logical %#x overlaps the chunk at %#x (+%#x)", c.logical, m.chunks[i-1].logical, m.chunks[i-1].length)
	}
	if len(m.chunks) >= maxChunks {
		return fmt.Errorf("more than %d chunks", maxChunks)
	}
	m.chunks = append(m.chunks, chunk{})
	copy(m.chunks[i+1:], m.chunks[i:])
	m.chunks[i] = c
	return nil
}

// find returns the chunk holding logical, or nil.
func (m *chunkMap) find(logical uint64) *chunk {
	i := sort.Search(len(m.chunks), func(i int) bool { return m.chunks[i].logical+m.chunks[i].length > logical })
	if i < len(m.chunks) && m.chunks[i].logical <= logical {
		return &m.chunks[i]
	}
	return nil
}

// parseSysChunkArray reads the superblock's bootstrap chunks: (key,
// chunk) pairs, enough to reach the chunk tree.
func parseSysChunkArray(b []byte, m *chunkMap) error {
	const base = superblockOff + 0x32b
	for off := 0; off < len(b); {
		if len(b)-off < keySize {
			return &diskerr.FormatError{FS: "btrfs", Off: int64(base + off), What: "sys_chunk_array", Msg: fmt.Sprintf("%d trailing bytes", len(b)-off)}
		}
		k := parseKey(b[off:])
		if k.typ != typeChunkItem {
			return &diskerr.FormatError{FS: "btrfs", Off: int64(base + off), What: "sys_chunk_array", Msg: fmt.Sprintf("key %v is not a chunk item", k)}
		}
		off += keySize
		c, n, err := parseChunk(b[off:], k.offset, "sys_chunk_array", int64(base+off))
		if err != nil {
			return err
		}
		if err := m.add(c); err != nil {
			return &diskerr.FormatError{FS: "btrfs", Off: int64(base + off), What: "sys_chunk_array", Msg: err.Error()}
		}
		off += n
	}
	if len(m.chunks) == 0 {
		return &diskerr.FormatError{FS: "btrfs", Off: base, What: "sys_chunk_array", Msg: "no chunk"}
	}
	return nil
}
