package xz

import "sync"

// sched limits the block decodes running at once, reads first. A read's
// decode waits only while Workers decodes of other reads run, never for
// read-ahead; a read-ahead decode starts only while fewer than Workers
// decodes of any kind run. So a read never waits for a block it does not
// need, and at most 2*Workers decodes run at once (Workers reads arriving
// while Workers read-aheads are running); their buffers are what the
// cache may allocate beyond its size (cache.takeBuf).
type sched struct {
	mu      sync.Mutex
	cond    sync.Cond
	fg, bg  int
	workers int
}

func newSched(workers int) *sched {
	s := &sched{workers: workers}
	s.cond.L = &s.mu
	return s
}

// acquire waits for a decode slot: prefetch for read-ahead.
func (s *sched) acquire(prefetch bool) {
	s.mu.Lock()
	if prefetch {
		for s.fg+s.bg >= s.workers {
			s.cond.Wait()
		}
		s.bg++
	} else {
		for s.fg >= s.workers {
			s.cond.Wait()
		}
		s.fg++
	}
	s.mu.Unlock()
}

func (s *sched) release(prefetch bool) {
	s.mu.Lock()
	if prefetch {
		s.bg--
	} else {
		s.fg--
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}
