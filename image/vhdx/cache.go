package vhdx

import (
	"container/list"
	"sync"
)

// lru is a fixed-capacity least-recently-used cache of sector bitmaps,
// safe for concurrent use. Values are never modified once added.
type lru struct {
	mu    sync.Mutex
	max   int
	items map[int64]*list.Element
	order list.List // front: most recently used
}

type lruItem struct {
	key int64
	val []byte
}

func newLRU(max int) *lru {
	c := &lru{max: max, items: make(map[int64]*list.Element)}
	c.order.Init()
	return c
}

func (c *lru) get(k int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruItem).val, true
}

func (c *lru) add(k int64, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruItem).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruItem{k, v})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruItem).key)
	}
}
