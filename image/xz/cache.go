package xz

import (
	"sync"
)

// The cache holds decoded units — a whole block, or one page of a block
// too big to decode whole (forward.go) — in an LRU list bounded in bytes.
// One cache serves every caller of a Reader, so all the NBD connections
// of a server share it. A unit being decoded is in the map as an
// in-flight entry: a second reader wanting it waits for the first
// decode instead of starting its own.
//
// Readers pin the entries they copy from (refs); eviction drops an entry
// from the map and the list at once, but its buffer is recycled only
// when the last pin goes, so a buffer is never overwritten under a reader.

// unitKey names a unit: a whole block has page 0 and whole set.
type unitKey struct {
	block int
	page  int64
}

type entry struct {
	key        unitKey
	buf        []byte // capacity as allocated; data is buf[:n]
	data       []byte
	err        error
	done       chan struct{} // closed when data or err is set
	refs       int
	evicted    bool
	prefetched bool // decoded by read-ahead and not read yet
	prev, next *entry
}

type cache struct {
	mu     sync.Mutex
	max    int64 // bytes
	held   int64 // bytes of all buffers: cached, in flight, pinned after eviction, free
	cached int64 // bytes of data of the entries in the list
	m      map[unitKey]*entry
	head   entry // sentinel of the LRU list: head.next is the most recent
	free   [][]byte
	closed bool

	hits, misses, waits, raUsed int64
}

func newCache(max int64) *cache {
	c := &cache{max: max, m: make(map[unitKey]*entry)}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func (c *cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) pushFront(e *entry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// bufCap rounds a unit size up to 64 KiB so that buffers recycle between
// units of slightly different sizes (the last block of a stream).
func bufCap(n int) int { return (n + 0xffff) &^ 0xffff }

// takeBuf returns a buffer of at least n bytes, evicting least recently
// used entries as needed to stay within max. When everything is pinned or
// in flight it allocates anyway: the excess is bounded by the number of
// concurrent decodes and readers. Called with c.mu held.
func (c *cache) takeBuf(n int) []byte {
	want := bufCap(n)
	for {
		for i, b := range c.free {
			if cap(b) >= want && cap(b) <= want+want/4 {
				c.free[i] = c.free[len(c.free)-1]
				c.free = c.free[:len(c.free)-1]
				return b[:n]
			}
		}
		if c.held+int64(want) <= c.max {
			c.held += int64(want)
			return allocBuf(want)[:n]
		}
		if k := len(c.free); k > 0 { // free buffers of the wrong size make room
			c.held -= int64(cap(c.free[k-1]))
			freeBuf(c.free[k-1])
			c.free = c.free[:k-1]
			continue
		}
		if tail := c.head.prev; tail != &c.head {
			c.evict(tail)
			continue
		}
		c.held += int64(want)
		return allocBuf(want)[:n]
	}
}

// evict removes e from the map and the list; its buffer goes to the free
// list now or, if pinned, at its last release.
func (c *cache) evict(e *entry) {
	c.unlink(e)
	delete(c.m, e.key)
	c.cached -= int64(len(e.data))
	e.evicted = true
	if e.refs == 0 {
		c.recycle(e)
	}
}

// recycle gives e's buffer back. Called with c.mu held.
func (c *cache) recycle(e *entry) {
	if e.buf == nil {
		return
	}
	b := e.buf[:cap(e.buf)]
	e.buf, e.data = nil, nil
	if c.closed || c.held > c.max {
		c.held -= int64(cap(b))
		freeBuf(b)
		return
	}
	c.free = append(c.free, b)
}

// lookup returns the pinned entry for k if it is cached (not in flight).
// A found entry counts as a hit if count is set.
func (c *cache) lookup(k unitKey, count bool) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil || e.data == nil {
		return nil
	}
	e.refs++
	c.unlink(e)
	c.pushFront(e)
	if count {
		c.hits++
	}
	if e.prefetched {
		e.prefetched = false
		c.raUsed++
	}
	return e
}

// contains says whether k is cached or in flight, without touching the
// LRU order.
func (c *cache) contains(k unitKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k] != nil
}

// get returns the pinned entry for k, decoding it with load into a buffer
// of n bytes if it is neither cached nor in flight, or waiting for the
// decode in flight. prefetch marks a read-ahead: it does not count as a
// hit or a miss, and returns nil, nil when k is already there.
func (c *cache) get(k unitKey, n int, prefetch bool, load func([]byte) error) (*entry, error) {
	c.mu.Lock()
	if e := c.m[k]; e != nil {
		if prefetch {
			c.mu.Unlock()
			return nil, nil
		}
		e.refs++
		if e.data != nil {
			c.unlink(e)
			c.pushFront(e)
			c.hits++
			if e.prefetched {
				e.prefetched = false
				c.raUsed++
			}
			c.mu.Unlock()
			return e, nil
		}
		c.waits++
		c.mu.Unlock()
		<-e.done
		if e.err != nil {
			c.release(e)
			return nil, e.err
		}
		c.mu.Lock()
		if e.prefetched {
			e.prefetched = false
			c.raUsed++
		}
		c.mu.Unlock()
		return e, nil
	}
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	e := &entry{key: k, done: make(chan struct{}), refs: 1, prefetched: prefetch}
	c.m[k] = e
	buf := c.takeBuf(n)
	if !prefetch {
		c.misses++
	}
	c.mu.Unlock()

	err := load(buf)

	c.mu.Lock()
	if err != nil {
		delete(c.m, k)
		e.err = err
		e.buf = buf
		e.refs--
		c.recycle(e)
		close(e.done)
		c.mu.Unlock()
		return nil, err
	}
	e.buf, e.data = buf, buf
	c.pushFront(e)
	c.cached += int64(len(buf))
	close(e.done)
	if prefetch {
		e.refs--
		c.mu.Unlock()
		return nil, nil
	}
	c.mu.Unlock()
	return e, nil
}

// insert caches a copy of data under k unless k is there already, and
// returns the entry pinned if pin is set; used by forward decoding, which
// makes pages under its own lock.
func (c *cache) insert(k unitKey, data []byte, pin bool) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		buf := c.takeBuf(len(data))
		copy(buf, data)
		e = &entry{key: k, buf: buf, data: buf, done: closedChan}
		if c.closed {
			e.evicted = true // freed at its release
		} else {
			c.m[k] = e
			c.pushFront(e)
			c.cached += int64(len(buf))
		}
	}
	if !pin {
		if e.evicted && e.refs == 0 {
			c.recycle(e)
		}
		return nil
	}
	e.refs++
	return e
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// release unpins e.
func (c *cache) release(e *entry) {
	c.mu.Lock()
	e.refs--
	if e.refs == 0 && e.evicted {
		c.recycle(e)
	}
	c.mu.Unlock()
}

// close frees every buffer nothing holds; pinned ones are freed at their
// release. The reader makes sure no read is running first.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for e := c.head.next; e != &c.head; {
		next := e.next
		c.evict(e)
		e = next
	}
	for _, b := range c.free {
		c.held -= int64(cap(b))
		freeBuf(b)
	}
	c.free = nil
}
