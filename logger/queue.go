package logger

import (
	"math/bits"
	"sync/atomic"
)

// queue is the bounded queue between Log (any number of producers, the
// NBD server's goroutines) and the consumer (one goroutine): a ring of
// slots, each with a sequence number saying whose turn it is (the bounded
// queue of Dmitry Vyukov, with one consumer). A producer claims a slot
// with a compare-and-swap on the tail and publishes it with a store; the
// consumer takes it with a load and a store. Nobody holds a lock: a
// channel takes one for every send and receive, and on a machine with
// more runnable threads than cores the consumer can be descheduled while
// it holds it, leaving the request that logs next waiting a time slice.
//
// The sequence number of slot i on lap L (position p = L*size + i) is
// 2L when the slot is free for that lap's producer, 2L+1 once that
// producer has written it, and 2L+2 once the consumer has taken it: the
// zero value is a ring that is empty for lap 0, so its pages are touched
// only as it fills, as a channel's buffer is.
type queue struct {
	slots []slot
	shift uint // log2(len(slots))
	mask  uint64
	_     [64]byte // tail on a cache line of its own: producers write it
	tail  atomic.Uint64
	_     [56]byte
	head  uint64 // the consumer's position
}

type slot struct {
	seq atomic.Uint64
	it  item
}

// newQueue returns a queue of at least n slots (a power of two).
func newQueue(n int) *queue {
	size := 1
	for size < n {
		size <<= 1
	}
	return &queue{slots: make([]slot, size), shift: uint(bits.TrailingZeros(uint(size))), mask: uint64(size - 1)}
}

// push adds it at the tail; false when the queue is full.
func (q *queue) push(it *item) bool {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		free := 2 * (pos >> q.shift)
		seq := s.seq.Load()
		switch d := int64(seq - free); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.it = *it
				s.seq.Store(free + 1)
				return true
			}
			pos = q.tail.Load()
		case d < 0: // the previous lap's entry is not taken yet
			return false
		default: // another producer took pos
			pos = q.tail.Load()
		}
	}
}

// pop takes the entry at the head into it; false when there is none yet
// (the queue is empty, or the producer of the next entry has claimed its
// slot and not written it yet). Only the consumer calls pop.
func (q *queue) pop(it *item) bool {
	s := &q.slots[q.head&q.mask]
	lap := 2 * (q.head >> q.shift)
	if s.seq.Load() != lap+1 {
		return false
	}
	*it = s.it
	s.it = item{} // let go of the error and the done channel
	s.seq.Store(lap + 2)
	q.head++
	return true
}

// ready reports whether pop would return an entry.
func (q *queue) ready() bool {
	return q.slots[q.head&q.mask].seq.Load() == 2*(q.head>>q.shift)+1
}
