package ntfs

import (
	"fmt"
	"io"
)

// chunkSize is the unit in which MFT records and index records are read
// and cached: records of one directory's files usually sit together, so
// one 64 KiB read serves 64 records of 1 KiB.
const chunkSize = 64 << 10

// cacheChunks is how many chunks the cache keeps (8 MiB).
const cacheChunks = 128

// chunkCache keeps recently read chunks of the device (clock
// replacement). Not safe for concurrent use: one Walk at a time.
type chunkCache struct {
	r     io.ReaderAt
	limit int64 // bytes of the device; nothing past it is read
	index map[int64]int
	slots []chunkSlot
	hand  int
}

type chunkSlot struct {
	chunk int64
	ref   bool
	n     int
	buf   []byte
}

func newChunkCache(r io.ReaderAt, limit int64) *chunkCache {
	return &chunkCache{r: r, limit: limit, index: make(map[int64]int)}
}

// read copies len(dst) bytes at off into dst, through the cache when the
// range sits inside one chunk.
func (c *chunkCache) read(dst []byte, off int64) error {
	ch := off / chunkSize
	in := int(off % chunkSize)
	if off < 0 || in+len(dst) > chunkSize {
		return readAt(c.r, dst, off)
	}
	i, ok := c.index[ch]
	if !ok {
		var err error
		if i, err = c.load(ch); err != nil {
			return err
		}
	}
	s := &c.slots[i]
	s.ref = true
	if in+len(dst) > s.n {
		return fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
	}
	copy(dst, s.buf[in:])
	return nil
}

func (c *chunkCache) load(ch int64) (int, error) {
	start := ch * chunkSize
	n := int64(chunkSize)
	if start+n > c.limit {
		n = max(0, c.limit-start)
	}
	var i int
	if len(c.slots) < cacheChunks {
		c.slots = append(c.slots, chunkSlot{buf: make([]byte, chunkSize)})
		i = len(c.slots) - 1
	} else {
		for c.slots[c.hand].ref {
			c.slots[c.hand].ref = false
			c.hand = (c.hand + 1) % len(c.slots)
		}
		i = c.hand
		c.hand = (c.hand + 1) % len(c.slots)
		delete(c.index, c.slots[i].chunk)
	}
	s := &c.slots[i]
	if err := readAt(c.r, s.buf[:n], start); err != nil {
		s.n, s.chunk, s.ref = 0, -1, false
		return 0, fmt.Errorf("read at %#x: %w", start, err)
	}
	s.chunk, s.n, s.ref = ch, int(n), true
	c.index[ch] = i
	return i, nil
}
