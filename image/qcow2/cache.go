package qcow2

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// lru is a fixed-capacity least-recently-used cache, safe for concurrent
// use. Values are never modified once added, so a caller may keep using a
// value after it is evicted.
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	max    int
	items  map[K]*list.Element
	order  list.List // front: most recently used
	hits   atomic.Uint64
	misses atomic.Uint64
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	c := &lru[K, V]{max: max, items: make(map[K]*list.Element)}
	c.order.Init()
	return c
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		c.misses.Add(1)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	c.hits.Add(1)
	return e.Value.(*lruItem[K, V]).val, true
}

func (c *lru[K, V]) add(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruItem[K, V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruItem[K, V]{k, v})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruItem[K, V]).key)
	}
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
