package logger

import (
	"runtime"
	"sync"
	"testing"
)

// Producers push through a ring much smaller than what they push, so the
// ring wraps thousands of times and is often full; the consumer must get
// every entry once, each producer's in the order pushed.
func TestQueueConcurrent(t *testing.T) {
	for _, size := range []int{1, 2, 3, 64} {
		q := newQueue(size)
		const producers, each = 4, 5000
		var wg sync.WaitGroup
		for p := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					it := item{r: Read{Conn: uint64(p), Off: int64(i)}}
					for !q.push(&it) {
						runtime.Gosched()
					}
				}
			}()
		}
		next := make([]int64, producers)
		var it item
		for got := 0; got < producers*each; {
			if !q.pop(&it) {
				runtime.Gosched()
				continue
			}
			if p := it.r.Conn; it.r.Off != next[p] {
				t.Fatalf("size %d: producer %d: got entry %d, want %d", size, p, it.r.Off, next[p])
			}
			next[it.r.Conn]++
			got++
		}
		wg.Wait()
		if q.ready() || q.pop(&it) {
			t.Fatalf("size %d: an entry left after all were taken", size)
		}
	}
}

// A full ring refuses a push and takes one again once an entry is popped;
// a popped slot holds nothing.
func TestQueueFull(t *testing.T) {
	q := newQueue(4)
	if len(q.slots) != 4 {
		t.Fatalf("%d slots, want 4", len(q.slots))
	}
	for lap := range 3 {
		for i := range 4 {
			if !q.push(&item{r: Read{Off: int64(lap*4 + i)}, done: make(chan error)}) {
				t.Fatalf("lap %d: push %d refused", lap, i)
			}
		}
		if q.push(&item{}) {
			t.Fatalf("lap %d: push to a full queue accepted", lap)
		}
		var it item
		for i := range 4 {
			if !q.pop(&it) || it.r.Off != int64(lap*4+i) {
				t.Fatalf("lap %d: pop %d: %v %+v", lap, i, it.r.Off, it)
			}
			if s := &q.slots[(q.head-1)&q.mask]; s.it.done != nil {
				t.Fatalf("lap %d: slot keeps its done channel", lap)
			}
		}
		if q.pop(&it) {
			t.Fatalf("lap %d: pop from an empty queue", lap)
		}
	}
}
