package lru

import "testing"

func TestCache(t *testing.T) {
	c := New[int, string](3)
	for i := range 3 {
		c.Add(i, "v", 1)
	}
	c.Get(0) // 0 is now the most recent: 1 goes first
	c.Add(3, "w", 1)
	if _, ok := c.Get(1); ok {
		t.Error("the least recently used entry was kept")
	}
	for _, k := range []int{0, 2, 3} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%d evicted", k)
		}
	}
	if c.Len() != 3 || c.Cost() != 3 || c.Hits.Load() != 4 || c.Misses.Load() != 1 {
		t.Errorf("len %d cost %d hits %d misses %d", c.Len(), c.Cost(), c.Hits.Load(), c.Misses.Load())
	}
	// By bytes: one entry over the budget is kept alone.
	b := New[int, []byte](100)
	b.Add(1, make([]byte, 60), 60)
	b.Add(2, make([]byte, 150), 150)
	if _, ok := b.Get(1); ok || b.Len() != 1 || b.Cost() != 150 {
		t.Errorf("len %d cost %d", b.Len(), b.Cost())
	}
	// Re-adding a key replaces its value and cost.
	b.Add(2, nil, 10)
	if v, _ := b.Get(2); v != nil || b.Cost() != 10 {
		t.Errorf("re-add: cost %d", b.Cost())
	}
}

// TestLRU is qcow2's test of the cache it had before this package.
func TestLRU(t *testing.T) {
	c := New[int, string](2)
	c.Add(1, "a", 1)
	c.Add(2, "b", 1)
	c.Get(1) // 2 is now the least recently used
	c.Add(3, "c", 1)
	if _, ok := c.Get(2); ok {
		t.Error("2 not evicted")
	}
	if v, ok := c.Get(1); !ok || v != "a" {
		t.Error("1 evicted")
	}
	c.Add(1, "A", 1)
	if v, _ := c.Get(1); v != "A" || c.Len() != 2 {
		t.Errorf("get(1) = %q, len %d", v, c.Len())
	}
	if c.Hits.Load() != 3 || c.Misses.Load() != 1 {
		t.Errorf("hits %d misses %d", c.Hits.Load(), c.Misses.Load())
	}
}
