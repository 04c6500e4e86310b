// Package chunkcache keeps recently read fixed-size chunks of a device in
// memory, so that a walker reading small structures one after another
// (ext inodes, NTFS MFT and index records) reads the device in large
// pieces instead of one syscall per structure. Replacement is the clock
// algorithm; memory is chunk size times chunk count, allocated as chunks
// are first used.
package chunkcache

import (
	"fmt"
	"io"
	"sync"
)

// Cache reads through a bounded set of chunks. It is safe for concurrent
// use.
type Cache struct {
	r         io.ReaderAt
	limit     int64 // bytes of the device; nothing past it is read
	chunkSize int64
	chunks    int

	mu    sync.Mutex
	index map[int64]int // chunk number -> slot
	slots []slot
	hand  int
	last  int // the slot of the last read
}

type slot struct {
	chunk int64
	ref   bool
	n     int // valid bytes
	buf   []byte
}

// New returns a cache of chunks chunks of chunkSize bytes over the first
// limit bytes of r.
func New(r io.ReaderAt, limit int64, chunkSize, chunks int) *Cache {
	return &Cache{r: r, limit: limit, chunkSize: int64(chunkSize), chunks: max(chunks, 1), index: make(map[int64]int)}
}

// Read fills dst with the bytes at off. A range inside one chunk is served
// from the cache; one that crosses a chunk boundary is read directly. A
// read past the limit fails with io.ErrUnexpectedEOF rather than return
// bytes that are not the device's.
func (c *Cache) Read(dst []byte, off int64) error {
	if off < 0 {
		return fmt.Errorf("read at %#x: negative offset", off)
	}
	ch := off / c.chunkSize
	in := off % c.chunkSize
	if in+int64(len(dst)) > c.chunkSize {
		if off+int64(len(dst)) > c.limit {
			return fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
		}
		return ReadFull(c.r, dst, off)
	}
	c.mu.Lock()
	// Most reads are in the chunk of the read before (the inodes of a
	// directory's files): its slot is tried before the index.
	i := c.last
	if i >= len(c.slots) || c.slots[i].chunk != ch {
		var ok bool
		if i, ok = c.index[ch]; !ok {
			var err error
			if i, err = c.load(ch); err != nil {
				c.mu.Unlock()
				return err
			}
		}
		c.last = i
	}
	s := &c.slots[i]
	s.ref = true
	if in+int64(len(dst)) > int64(s.n) {
		c.mu.Unlock()
		return fmt.Errorf("read at %#x: %w", off, io.ErrUnexpectedEOF)
	}
	copy(dst, s.buf[in:])
	c.mu.Unlock()
	return nil
}

// load reads chunk ch into a slot chosen by the clock algorithm.
func (c *Cache) load(ch int64) (int, error) {
	var i int
	if len(c.slots) < c.chunks {
		c.slots = append(c.slots, slot{buf: make([]byte, c.chunkSize)})
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
	start := ch * c.chunkSize
	n := min(c.chunkSize, max(0, c.limit-start))
	if err := ReadFull(c.r, s.buf[:n], start); err != nil {
		// Keep the slot empty; the caller reports the error.
		s.chunk, s.n, s.ref = -1, 0, false
		return 0, fmt.Errorf("read at %#x: %w", start, err)
	}
	s.chunk, s.n, s.ref = ch, int(n), true
	c.index[ch] = i
	return i, nil
}

// ReadFull reads len(b) bytes at off. Unlike a bare ReadAt it accepts
// io.EOF with a full buffer, which an io.ReaderAt may return for a read
// that ends exactly at its end, and it refuses a short read that a
// misbehaving reader reports without an error.
func ReadFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if err == io.EOF && n == len(b) {
		return nil
	}
	if err == nil && n < len(b) {
		return io.ErrUnexpectedEOF
	}
	return err
}
