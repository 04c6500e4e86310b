package logger

import (
	"io"
	"sync/atomic"
)

// spool writes a sink's output to its io.Writer on a goroutine of its
// own. A sink's Write runs on the NBD server's goroutine (Logger.Log), so
// it must not wait for a file or a terminal: it fills a buffer, and when
// the buffer is full (or the logger flushes) hands it over with swap,
// which returns an empty one. A slow destination is absorbed by up to
// maxBuffers buffers in flight; only past that does swap wait (counted in
// waits, reported in Stats.Blocked), so a trace is never dropped and the
// server is held back only by a destination slower than its reads for
// longer than the buffers last.
//
// Output reaches w in the order it was handed over. The first write error
// is kept (err); after it the spool still takes buffers, and discards
// them, so that the server never waits for a writer that gave up.
type spool struct {
	w    io.Writer
	size int // capacity of a new buffer

	full chan spoolJob // buffers to write, in order; capacity maxBuffers+1
	free chan []byte   // written buffers, for reuse
	n    int           // buffers made so far (the sink's goroutine's)
	done chan struct{} // closed when the writer goroutine ends

	queued atomic.Int64          // buffers handed over and not yet written
	werr   atomic.Pointer[error] // the first write error
	waits  atomic.Int64
	closed bool // the sink's
}

// A spoolJob is a buffer to write, or a barrier (done) to close once
// everything handed over before it is written.
type spoolJob struct {
	b    []byte
	done chan struct{}
}

// maxBuffers is how many buffers a spool has in flight at most (a
// quarter of a second of the fastest trace measured, 60 MB/s of NDJSON,
// with the NDJSON sink's 256 KiB buffers).
const maxBuffers = 64

func newSpool(w io.Writer, size int) *spool {
	s := &spool{
		w:    w,
		size: size,
		full: make(chan spoolJob, maxBuffers+1),
		free: make(chan []byte, maxBuffers),
		done: make(chan struct{}),
	}
	go s.write()
	return s
}

// buffer returns a new empty buffer; the sink calls it once, then swap.
func (s *spool) buffer() []byte {
	s.n++
	return make([]byte, 0, s.size)
}

// swap hands b over to be written (when it holds something) and returns
// an empty buffer.
func (s *spool) swap(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	s.queued.Add(1)
	s.full <- spoolJob{b: b}
	select {
	case nb := <-s.free:
		return nb
	default:
	}
	if s.n < maxBuffers {
		return s.buffer()
	}
	s.waits.Add(1)
	return <-s.free
}

// idle reports whether everything handed over is written: a sink's
// periodic flush hands over a part-filled buffer only then, so that a
// stalled destination fills the buffers before it holds the server up.
func (s *spool) idle() bool { return s.queued.Load() == 0 }

// sync waits until everything handed over so far is written, and returns
// the first write error.
func (s *spool) sync() error {
	done := make(chan struct{})
	s.full <- spoolJob{done: done}
	<-done
	return s.err()
}

// close writes everything handed over, ends the writer goroutine and
// returns the first write error.
func (s *spool) close() error {
	if s.closed {
		return s.err()
	}
	s.closed = true
	close(s.full)
	<-s.done
	return s.err()
}

// err returns the first write error so far.
func (s *spool) err() error {
	if p := s.werr.Load(); p != nil {
		return *p
	}
	return nil
}

// write is the writer goroutine.
func (s *spool) write() {
	defer close(s.done)
	failed := false
	for j := range s.full {
		if j.b != nil {
			if !failed {
				n, err := s.w.Write(j.b)
				if err == nil && n < len(j.b) {
					err = io.ErrShortWrite
				}
				if err != nil {
					s.werr.Store(&err)
					failed = true
				}
			}
			s.queued.Add(-1)
			s.free <- j.b[:0]
		}
		if j.done != nil {
			close(j.done)
		}
	}
}

// spooled is the output of a sink that writes bytes (Console, NDJSON):
// the buffer its Write appends to, and the spool that writes it. It gives
// the sink its Flush and Sync.
type spooled struct {
	sp  *spool
	buf []byte
}

func newSpooled(w io.Writer, size int) spooled {
	sp := newSpool(w, size)
	return spooled{sp: sp, buf: sp.buffer()}
}

// handOver hands the buffer over once it holds limit bytes or more, and
// then returns the first write error so far.
func (s *spooled) handOver(limit int) error {
	if len(s.buf) < limit {
		return nil
	}
	s.buf = s.sp.swap(s.buf)
	return s.sp.err()
}

// Flush implements Sink: it hands what is buffered to the writer
// goroutine, unless that is still writing what it had (the buffer then
// goes when it is full or at the next flush), and returns the first write
// error so far.
func (s *spooled) Flush() error {
	if s.sp.idle() {
		s.buf = s.sp.swap(s.buf)
	}
	return s.sp.err()
}

// Sync implements Syncer: it hands what is buffered to the writer
// goroutine and returns once it is written, with the first write error.
func (s *spooled) Sync() error {
	s.buf = s.sp.swap(s.buf)
	return s.sp.sync()
}

// waits implements waiter.
func (s *spooled) waits() int64 { return s.sp.waits.Load() }

// holds implements holder.
func (s *spooled) holds() bool { return len(s.buf) > 0 }

// close writes everything buffered and ends the writer goroutine.
func (s *spooled) close() error {
	s.buf = s.sp.swap(s.buf)
	return s.sp.close()
}
