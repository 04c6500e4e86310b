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
// included: the trace needs the request, not its bytes). Log traces the
// read right there, under the logger's lock: the lookup (with
// bmap.Index.LookupAppend into a reused slice: no allocation per event),
// the Event, every sink's Write. The console and NDJSON sinks only
// append to a buffer there; a full buffer, and every buffer at a flush,
// is handed to a goroutine of the sink's that writes it (spool.go), so
// the server never waits for a file or a terminal unless it has out-run
// the destination by 64 buffers. The client is already reading the reply
// while its read is traced.
//
// An earlier design queued the reads to a consumer goroutine (a
// lock-free ring) and traced them there. On a server whose cores are
// busy, that handoff cost more than the trace: the consumer's thread
// competes for the cores with the server's and the client's, the
// queue's slots move between caches, and the lookups run cold. fio's
// 4 KiB random reads at QD16 on two cores cost the traced server
// 0.5-1.4 us of CPU per read more than the untraced one with the
// consumer, 0.2-0.9 us traced in place, and the default console and
// summary 2.0 against 0.4 (bench/bmaplogger.sh, medians of 5-30
// interleaved rounds, six runs).
//
// Sinks are flushed FlushInterval (50 ms) after the first event since
// the last flush, by a goroutine that sleeps while no read comes: a trace
// streams while a guest boots, costs no wake-up per read, and an idle
// server wakes nobody. Close flushes and closes every sink; Flush is a
// barrier that returns once every event logged before it is written.
//
// No event is ever dropped: when a sink's writer falls 64 buffers behind,
// Log waits for it (backpressure on the client: that connection's next
// replies wait; counted in Stats.Blocked).
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

// Sink receives every event, in the order the reads were logged, under
// the logger's lock, on the goroutine of the NBD server that served the
// read (see the package doc): Write and Flush are on the data path and
// must not wait for I/O. A sink that writes to a file or a terminal hands
// its output to a goroutine of its own (as Console and NDJSON do) and
// implements Syncer. The Event and its Objects slice are reused after
// Write returns: a sink that keeps them must copy them (the *bmap.Object
// pointers stay valid while the map lives).
type Sink interface {
	Write(ev *Event) error
	// Flush pushes buffered output toward its destination (it may hand
	// it to another goroutine); called FlushInterval after the first event
	// since the last flush, by Logger.Flush and before Close.
	Flush() error
	// Close writes what is left and releases the sink; the last call.
	Close() error
}

// Syncer is a Sink whose Flush hands output to another goroutine, or
// keeps it while that goroutine is busy: Sync returns once everything
// written to the sink is written out, with the first write error.
// Logger.Flush calls it in place of Flush.
type Syncer interface {
	Sync() error
}

// waiter is a sink that counts the times its Write or Flush waited for
// its writer goroutine (Stats.Blocked).
type waiter interface {
	waits() int64
}

// holder is a sink whose Flush may keep output back (Console, NDJSON):
// holds reports whether it holds some.
type holder interface {
	holds() bool
}

// DefaultFlushInterval is the default for Options.FlushInterval.
const DefaultFlushInterval = 50 * time.Millisecond

// Options configures a Logger.
type Options struct {
	// Exports maps an export name to the map's disk index it serves. A
	// read on an export not listed (or when Exports is nil) is looked up
	// on disk 1.
	Exports map[string]int
	// FlushInterval bounds how long an event stays in a sink's buffer
	// (0: DefaultFlushInterval).
	FlushInterval time.Duration
	// Start is the time events are measured from (zero: now).
	Start time.Time
}

// Stats counts what the logger did.
type Stats struct {
	Events  int64 // events written to the sinks
	Blocked int64 // times a sink waited for its writer (the trace's destination was slower than the reads)
	Late    int64 // reads logged after Close: not traced
	Errors  int64 // sink write or flush errors (the first is kept)
}

// Logger is the trace pipeline: Log on the data path, the sinks, and a
// goroutine that flushes them.
type Logger struct {
	opt   Options
	sinks []Sink
	start time.Time

	mu       sync.Mutex // held by Log, Flush, Close and the flusher
	closed   bool
	tr       tracer
	pending  bool // an event was written since the last flush
	firstErr error
	events   int64

	late atomic.Int64
	errs atomic.Int64

	// kick wakes the flusher after the first event since a flush; stop
	// ends it, and done is closed once it has.
	kick, stop, done chan struct{}
}

// New starts a logger that looks reads up in ix and writes them to sinks.
func New(ix *bmap.Index, opt Options, sinks ...Sink) *Logger {
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = DefaultFlushInterval
	}
	if opt.Start.IsZero() {
		opt.Start = time.Now()
	}
	l := &Logger{
		opt:   opt,
		sinks: sinks,
		start: opt.Start,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l.tr = tracer{l: l, ix: ix, lastDisk: l.diskOf("")}
	go l.flusher()
	return l
}

// Log traces a read: it looks it up and writes it to every sink, on the
// caller's goroutine. It never drops one. Safe for concurrent use. A read
// logged after Close is counted in Stats.Late and not traced.
func (l *Logger) Log(r Read) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.late.Add(1)
		return
	}
	l.tr.trace(&r)
	if !l.pending {
		l.pending = true
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
}

// flusher flushes the sinks FlushInterval after the first event since the
// last flush; it sleeps while no read comes.
func (l *Logger) flusher() {
	defer close(l.done)
	t := time.NewTimer(l.opt.FlushInterval)
	t.Stop()
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			return
		}
		t.Reset(l.opt.FlushInterval)
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
			return
		}
		l.mu.Lock()
		if !l.closed {
			l.flushLocked()
		}
		l.mu.Unlock()
	}
}

// flushLocked flushes every sink; l.mu is held. A sink that kept output
// back (its writer was busy: see spooled.Flush) is flushed again one
// FlushInterval later, whether or not more reads come.
func (l *Logger) flushLocked() {
	l.pending = false
	for _, s := range l.sinks {
		l.fail(s.Flush())
		if h, ok := s.(holder); ok && h.holds() {
			l.pending = true
		}
	}
	if l.pending {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// Flush returns once every read logged before it has been written to the
// sinks and out (Syncer), with the first sink error so far. It holds the
// logger's lock while it waits: Log waits too.
func (l *Logger) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("logger: flush after close")
	}
	for _, s := range l.sinks {
		if y, ok := s.(Syncer); ok {
			l.fail(y.Sync())
		} else {
			l.fail(s.Flush())
		}
	}
	l.pending = false
	return l.firstErr
}

// Close flushes and closes the sinks, and returns the first error a sink
// gave. Reads logged after Close are not traced. Close must be called
// once.
func (l *Logger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("logger: closed twice")
	}
	l.closed = true
	l.flushLocked()
	for _, s := range l.sinks {
		l.fail(s.Close())
	}
	err := l.firstErr
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return err
}

// Stats returns the counters so far (final after Close).
func (l *Logger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Events: l.events, Late: l.late.Load(), Errors: l.errs.Load()}
	for _, k := range l.sinks {
		if w, ok := k.(waiter); ok {
			s.Blocked += w.waits()
		}
	}
	return s
}

// tracer is Log's work for one read: the lookup, the Event, the sinks.
// Its slices are reused from read to read; l.mu is held.
type tracer struct {
	l    *Logger
	ix   *bmap.Index
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
	t.hits = t.ix.LookupAppend(t.hits[:0], t.lastDisk, r.Off, int64(r.Len))
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
	l.events++
}

func (l *Logger) diskOf(export string) int {
	if d, ok := l.opt.Exports[export]; ok {
		return d
	}
	return 1
}

// fail counts err and keeps the first; l.mu is held.
func (l *Logger) fail(err error) {
	if err == nil {
		return
	}
	l.errs.Add(1)
	if l.firstErr == nil {
		l.firstErr = fmt.Errorf("logger: %w", err)
	}
}
