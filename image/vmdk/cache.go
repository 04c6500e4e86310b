package vmdk

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// lru is a least-recently-used cache bounded in bytes, safe for
// concurrent use. Values are never modified once added, so a caller may
// keep using a value after it is evicted. It always keeps the entry just
// added, even when that one alone is over the budget.
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	budget int64
	used   int64
	items  map[K]*list.Element
	order  list.List // front: most recently used
	hits   atomic.Uint64
	misses atomic.Uint64
}

type lruItem[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](budget int64) *lru[K, V] {
	c := &lru[K, V]{budget: budget, items: make(map[K]*list.Element)}
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

func (c *lru[K, V]) add(k K, v V, cost int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruItem[K, V]{k, v, cost})
	c.used += cost
	for c.used > c.budget && c.order.Len() > 1 {
		last := c.order.Back()
		it := last.Value.(*lruItem[K, V])
		c.order.Remove(last)
		delete(c.items, it.key)
		c.used -= it.cost
	}
}

// bytes is the cost of what the cache holds.
func (c *lru[K, V]) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
