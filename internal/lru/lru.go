// Package lru is the least-recently-used cache the image formats keep
// their tables and decoded pieces in (qcow2's L2 tables and compressed
// clusters, VMDK's grain tables and grains, VHD's and VHDX's sector
// bitmaps). It is bounded by a budget of cost units: a cache bounded in
// entries gives every entry a cost of 1, one bounded in bytes gives each
// its size. It always keeps the entry just added, even when that one alone
// is over the budget. Safe for concurrent use; values are never modified
// once added, so a caller may keep using a value after it is evicted.
package lru

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Cache maps K to V.
type Cache[K comparable, V any] struct {
	mu     sync.Mutex
	budget int64
	used   int64
	items  map[K]*list.Element
	order  list.List // front: most recently used

	// Hits and Misses count Get's answers.
	Hits, Misses atomic.Uint64
}

type item[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

// New returns a cache holding entries of total cost at most budget (but
// always the last one added).
func New[K comparable, V any](budget int64) *Cache[K, V] {
	c := &Cache[K, V]{budget: budget, items: make(map[K]*list.Element)}
	c.order.Init()
	return c
}

// Get returns the value cached for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		c.Misses.Add(1)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	c.Hits.Add(1)
	return e.Value.(*item[K, V]).val, true
}

// Add caches v for k at the given cost, evicting the least recently used
// entries past the budget. A key already cached gets the new value.
func (c *Cache[K, V]) Add(k K, v V, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		it := e.Value.(*item[K, V])
		c.used += cost - it.cost
		it.val, it.cost = v, cost
		c.order.MoveToFront(e)
	} else {
		c.items[k] = c.order.PushFront(&item[K, V]{k, v, cost})
		c.used += cost
	}
	for c.used > c.budget && c.order.Len() > 1 {
		last := c.order.Back()
		it := last.Value.(*item[K, V])
		c.order.Remove(last)
		delete(c.items, it.key)
		c.used -= it.cost
	}
}

// Len is the number of entries cached.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Cost is the total cost of the entries cached.
func (c *Cache[K, V]) Cost() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
