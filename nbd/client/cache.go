package client

import (
	"container/list"
	"sync"
)

// cache keeps whole chunks of the export, least recently used first out,
// within a budget in bytes. A chunk being fetched is in the cache already,
// so concurrent readers of one chunk send one request.
type cache struct {
	chunk int64
	max   int // chunks

	mu           sync.Mutex
	m            map[int64]*entry
	lru          list.List // of *entry, most recent first
	hits, misses int64
}

type entry struct {
	idx   int64
	data  []byte
	err   error
	ready chan struct{}
	elem  *list.Element
	users int // readers copying out of data
}

func newCache(chunk, size int64) *cache {
	return &cache{chunk: chunk, max: int(max(size/chunk, 1)), m: make(map[int64]*entry)}
}

func (c *cache) stats() (hits, misses int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// read fills p from the chunks holding [off, off+len(p)), fetching the
// missing ones (together) with fetch.
func (c *cache) read(p []byte, off int64, fetch func(idx int64, buf []byte) ([]byte, error)) error {
	first, last := off/c.chunk, (off+int64(len(p))-1)/c.chunk
	var es [4]*entry
	ents := es[:0]
	for idx := first; idx <= last; idx++ {
		ents = append(ents, c.get(idx, fetch))
	}
	var err error
	for _, e := range ents {
		<-e.ready
		if e.err != nil {
			if err == nil {
				err = e.err
			}
		} else {
			s := e.idx * c.chunk
			lo, hi := max(off, s), min(off+int64(len(p)), s+int64(len(e.data)))
			copy(p[lo-off:hi-off], e.data[lo-s:hi-s])
		}
		c.release(e)
	}
	return err
}

// get returns the entry of chunk idx, starting its fetch if it is missing.
func (c *cache) get(idx int64, fetch func(int64, []byte) ([]byte, error)) *entry {
	c.mu.Lock()
	if e := c.m[idx]; e != nil {
		c.hits++
		c.lru.MoveToFront(e.elem)
		e.users++
		c.mu.Unlock()
		return e
	}
	c.misses++
	e := &entry{idx: idx, ready: make(chan struct{}), users: 1}
	e.elem = c.lru.PushFront(e)
	c.m[idx] = e
	var buf []byte
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*entry)
		delete(c.m, old.idx)
		if old.users == 0 && old.data != nil && buf == nil {
			buf = old.data // reuse: nobody reads it any more
		}
	}
	c.mu.Unlock()
	go func() {
		data, err := fetch(idx, buf)
		c.mu.Lock()
		e.data, e.err = data, err
		if err != nil && c.m[idx] == e {
			// Not kept: the next reader asks again.
			c.lru.Remove(e.elem)
			delete(c.m, idx)
		}
		c.mu.Unlock()
		close(e.ready)
	}()
	return e
}

func (c *cache) release(e *entry) {
	c.mu.Lock()
	e.users--
	c.mu.Unlock()
}
