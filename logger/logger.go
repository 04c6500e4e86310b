// Package logger turns the NBD server's read events into a trace: for
// every read, every object of the block map it touched (bmap.Index), with
// the offset of the read inside each file, written to sinks: the console
// in the original bmaplogger's format (console.go), NDJSON (ndjson.go),
// and any Sink the caller adds (the reports' aggregator).
//
// # The data path
//
// Log is called by the NBD server once per request, once its reply is
// written (nbd.Server.OnRead), on the goroutine that wrote it: each
// connection's reads arrive in the order of their replies, and the
// server serves a traced read exactly as an untraced one (sendfile
// included: the trace needs the request, not its bytes). It copies the
// small Read into a bounded queue (a lock-free
// ring, DefaultQueue entries: queue.go) and returns: no lookup, no
// formatting, no I/O, no lock the consumer could hold and, while reads
// keep coming, no wake-up of another goroutine on the data path (the
// consumer polls the queue every 5 ms while busy and parks only
// after 200 ms without a read). One consumer goroutine does the lookups (with
// bmap.Index.LookupAppend into a reused slice: no allocation per event),
// builds the Event and hands it to every sink; sinks write through
// buffered writers, flushed every FlushInterval (50 ms) when something was
// written, so a trace streams while a guest boots and a busy trace costs
// one write(2) per full buffer, not one per event.
//
// No event is ever dropped: when the queue is full, Log blocks until the
// consumer has made room (backpressure on the client: that connection's
// next replies wait; counted in Stats.Blocked). The queue is sized so that this does not happen in
// practice (bench: BenchmarkLog*, bench/bmaplogger.sh). Close drains the
// queue, flushes and closes every sink; Flush is a barrier that returns
// once every event logged before it is written.
//
// # Duplicate suppression
//
// The console prints one line per read for its highest-priority object,
// and suppresses a line equal to the one printed just before it. The
// original plugin kept the previous line per connection (nbdkit's
// per-connection handle) but wrote every connection to one stream, so
// with several connections its ranges landed under another connection's
// line. Here there is one console stream and one "previous line" for the
// whole logger: for a single connection (qemu) the output is the
// original's, and with several every range is under its own object.
package logger

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// Read is one request served by the NBD server, as its read hook reports
// it. It has nbd.Read's fields, so an nbd.Read converts to it:
// logger.Read(r).
type Read struct {
	Conn   uint64 // connection number, from 1
	Export string // export name the connection chose
	Off    int64
	Len    uint32
	Start  time.Time     // when the request arrived
	Dur    time.Duration // time spent reading its data (nbd.Read.Dur)
	Err    error         // the read failed (the client got an error)
	Cache  bool          // NBD_CMD_CACHE (prefetch), not NBD_CMD_READ
}

// Event is one traced request.
type Event struct {
	Time    time.Duration // Read.Start since the logger started
	Dur     time.Duration
	Conn    uint64
	Export  string
	Disk    int // the map's disk index (1-based) the export serves
	Off     int64
	Len     uint32
	Cache   bool
	Err     error
	Objects []Object // every object the read touched, highest priority first
}

// Object is one object a read touched.
type Object struct {
	*bmap.Object // kind, device, path, inode, size, extents
	// Off and Len are the part of the read inside the object, as disk
	// offsets: the first byte of the read it holds, and how many bytes
	// of the read it holds.
	Off, Len int64
	// FileOff is the offset inside the file or directory of the byte at
	// Off (from the map's extent: extent.FileOff + Off - extent.Off), -1
	// when that byte is not contents (metadata, an index or indirect
	// block, a partition or disk).
	FileOff int64
}

// Sink receives every event, in the order the reads were logged, from the
// logger's one consumer goroutine. The Event and its Objects slice are
// reused after Write returns: a sink that keeps them must copy them (the
// *bmap.Object pointers stay valid while the map lives).
type Sink interface {
	Write(ev *Event) error
	// Flush pushes buffered output out; called every FlushInterval
	// when events were written, by Logger.Flush and before Close.
	Flush() error
	Close() error
}

// DefaultQueue is the default number of reads the queue holds. An entry is
// about 120 bytes and the ring's pages are only touched as it fills, so a
// deep queue is cheap; at 18,600 reads for a whole SYSLINUX + Linux boot
// it holds more than a boot's worth.
const DefaultQueue = 1 << 15

// DefaultFlushInterval is the default for Options.FlushInterval.
const DefaultFlushInterval = 50 * time.Millisecond

// Options configures a Logger.
type Options struct {
	// Exports maps an export name to the map's disk index it serves. A
	// read on an export not listed (or when Exports is nil) is looked up
	// on disk 1.
	Exports map[string]int
	// Queue is the queue's capacity (0: DefaultQueue), rounded up to a
	// power of two.
	Queue int
	// FlushInterval bounds how long an event stays in a sink's buffer
	// (0: DefaultFlushInterval).
	FlushInterval time.Duration
	// Start is the time events are measured from (zero: now).
	Start time.Time
}

// Stats counts what the logger did.
type Stats struct {
	Events  int64 // events written to the sinks
	Blocked int64 // times Log waited for room in the queue
	Late    int64 // reads logged after Close: not traced
	Errors  int64 // sink write or flush errors (the first is kept)
}

// Logger is the trace pipeline: Log on the data path, one consumer
// goroutine, the sinks.
type Logger struct {
	ix    *bmap.Index
	opt   Options
	sinks []Sink
	start time.Time

	mu     sync.RWMutex // held for reading by Log, for writing by Close
	closed bool
	queue  *queue
	// parked is set by the consumer before it waits on wake, after 200 ms
	// without a read; the producer that clears it sends on wake.
	parked atomic.Bool
	wake   chan struct{}

	blocked, late, events, errs atomic.Int64

	done     chan struct{}
	firstErr error // set by the consumer; read after done
}

// item is a queued read, or a barrier: Flush's when done != nil, Close's
// when close is set.
type item struct {
	r     Read
	done  chan error
	close bool
}

// New starts a logger that looks reads up in ix and writes them to sinks.
func New(ix *bmap.Index, opt Options, sinks ...Sink) *Logger {
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = DefaultFlushInterval
	}
	if opt.Start.IsZero() {
		opt.Start = time.Now()
	}
	l := &Logger{
		ix:    ix,
		opt:   opt,
		sinks: sinks,
		start: opt.Start,
		queue: newQueue(opt.Queue),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go l.consume()
	return l
}

// Log queues a read. It never drops one: when the queue is full it waits
// for room. Safe for concurrent use. A read logged after Close is counted
// in Stats.Late and not traced.
func (l *Logger) Log(r Read) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		l.late.Add(1)
		return
	}
	it := item{r: r}
	if !l.queue.push(&it) {
		l.blocked.Add(1)
		l.wait(&it)
	}
	l.wakeConsumer()
	l.mu.RUnlock()
}

// wait pushes it once the consumer has made room.
func (l *Logger) wait(it *item) {
	for !l.queue.push(it) {
		l.wakeConsumer()
		time.Sleep(fullWait)
	}
}

// fullWait is how long Log sleeps between tries when the queue is full.
const fullWait = 50 * time.Microsecond

// wakeConsumer wakes the consumer if it is parked.
func (l *Logger) wakeConsumer() {
	if l.parked.Load() && l.parked.CompareAndSwap(true, false) {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Flush returns once every read logged before it has been written to the
// sinks and the sinks flushed, with the first sink error so far.
func (l *Logger) Flush() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return errors.New("logger: flush after close")
	}
	done := make(chan error, 1)
	l.wait(&item{done: done})
	l.wakeConsumer()
	l.mu.RUnlock()
	return <-done
}

// Close traces every read still queued, flushes and closes the sinks, and
// returns the first error a sink gave. Reads logged after Close are not
// traced. Close must be called once.
func (l *Logger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("logger: closed twice")
	}
	l.closed = true
	l.mu.Unlock()
	// No Log or Flush is pushing now (they hold mu for reading while
	// they do, and see closed after): the close barrier is the last.
	l.wait(&item{close: true})
	l.wakeConsumer()
	<-l.done
	return l.firstErr
}

// Stats returns the counters so far (final after Close).
func (l *Logger) Stats() Stats {
	return Stats{
		Events:  l.events.Load(),
		Blocked: l.blocked.Load(),
		Late:    l.late.Load(),
		Errors:  l.errs.Load(),
	}
}

// consume is the one consumer goroutine.
func (l *Logger) consume() {
	defer close(l.done)
	var (
		tr        = tracer{l: l, lastDisk: l.diskOf("")}
		dirty     bool
		tick      = time.NewTicker(l.opt.FlushInterval)
		lastFlush time.Time
	)
	defer tick.Stop()
	flush := func() {
		for _, s := range l.sinks {
			l.fail(s.Flush())
		}
		dirty = false
	}
	handle := func(it *item) {
		if it.done != nil {
			flush()
			it.done <- l.firstErr
			return
		}
		tr.trace(&it.r)
		dirty = true
	}
	lastEvent := time.Now()
	finish := func() {
		flush()
		for _, s := range l.sinks {
			l.fail(s.Close())
		}
	}
	var it item
	for {
		// Busy: drain the queue, then sleep a little and look again,
		// rather than park. Waking a parked consumer costs the producer
		// a futex call and a context switch (a third of fio's 4 KiB QD16
		// IOPS on two cores); a push nobody waits for is a
		// compare-and-swap and a store.
		n := 0
		for l.queue.pop(&it) {
			if it.close {
				finish()
				return
			}
			handle(&it)
			n++
		}
		now := time.Now()
		if n > 0 {
			lastEvent = now
		}
		if dirty && now.Sub(lastFlush) >= l.opt.FlushInterval {
			flush()
			lastFlush = now
		}
		if now.Sub(lastEvent) < idleAfter {
			time.Sleep(pollInterval)
			continue
		}
		// Idle: park until the next read or flush tick. A producer
		// pushes, then looks at parked; the consumer sets parked, then
		// looks at the queue: one of them sees the other.
		l.parked.Store(true)
		if l.queue.ready() {
			l.parked.Store(false)
			continue
		}
		select {
		case <-l.wake:
			lastEvent = time.Now()
		case <-tick.C:
			if dirty {
				flush()
				lastFlush = time.Now()
			}
		}
		l.parked.Store(false)
	}
}

// While reads keep coming the consumer polls the queue every
// pollInterval; after idleAfter without one it parks. At pollInterval the
// queue (DefaultQueue entries) fills only above 6 million reads a second.
// Each poll wakes a thread, and on a server short of cores that costs
// more than a read's trace: with a poll every millisecond, fio's 4 KiB
// reads at QD1 cost the traced server 8 us of CPU per read more than the
// untraced one, with every 5 ms about 3.5 (bench/bmaplogger.sh, medians
// of interleaved rounds; 10 and 20 ms did no better).
const (
	pollInterval = 5 * time.Millisecond
	idleAfter    = 200 * time.Millisecond
)

// tracer is the consumer's work for one read: the lookup, the Event,
// the sinks. Its slices are reused from read to read.
type tracer struct {
	l    *Logger
	hits []bmap.Hit
	ev   Event
	// the export last seen and its disk: exports rarely change between
	// events.
	lastExport string
	lastDisk   int
}

func (t *tracer) trace(r *Read) {
	l := t.l
	if r.Export != t.lastExport {
		t.lastExport, t.lastDisk = r.Export, l.diskOf(r.Export)
	}
	t.hits = l.ix.LookupAppend(t.hits[:0], t.lastDisk, r.Off, int64(r.Len))
	ev := &t.ev
	*ev = Event{
		Time:    r.Start.Sub(l.start),
		Dur:     r.Dur,
		Conn:    r.Conn,
		Export:  r.Export,
		Disk:    t.lastDisk,
		Off:     r.Off,
		Len:     r.Len,
		Cache:   r.Cache,
		Err:     r.Err,
		Objects: ev.Objects[:0],
	}
	for i := range t.hits {
		h := &t.hits[i]
		ev.Objects = append(ev.Objects, Object{Object: h.Object, Off: h.Off, Len: h.Len, FileOff: h.FileOff})
	}
	for _, s := range l.sinks {
		l.fail(s.Write(ev))
	}
	l.events.Add(1)
}

func (l *Logger) diskOf(export string) int {
	if d, ok := l.opt.Exports[export]; ok {
		return d
	}
	return 1
}

func (l *Logger) fail(err error) {
	if err == nil {
		return
	}
	l.errs.Add(1)
	if l.firstErr == nil {
		l.firstErr = fmt.Errorf("logger: %w", err)
	}
}
