// Package nbd is a read-only NBD (Network Block Device) server.
//
// It speaks the protocol of NetworkBlockDevice/nbd doc/proto.md: the fixed
// newstyle handshake with NBD_OPT_GO, INFO, EXPORT_NAME, LIST, ABORT,
// STRUCTURED_REPLY, LIST/SET_META_CONTEXT (base:allocation) and STARTTLS,
// block size constraints through NBD_INFO_BLOCK_SIZE, and in transmission
// READ (structured replies with OFFSET_HOLE chunks where the source knows its
// holes), BLOCK_STATUS, CACHE, FLUSH and DISC. WRITE, TRIM and WRITE_ZEROES
// are refused with EPERM. Unknown options get NBD_REP_ERR_UNSUP; a bad
// request gets an NBD errno and the connection goes on; only a socket or
// protocol failure closes a connection. Many requests of one connection are
// served concurrently (bounded by Server.MaxInFlight and a byte budget), the
// data is read before the reply header is sent, and replies are written
// whole under one lock so they never interleave, many in one writev.
//
// A Source that is FileBacked (a raw file: File) is read as nbdkit's file
// plugin reads it, with less work per request: the connection's reader
// serves READs found in the page cache itself (preadv2 RWF_NOWAIT), with
// no hand-off to another goroutine, and large READs (64 KiB or more) over
// a plain socket with structured replies go from the page cache to the
// socket with sendfile(2), traced or not. There the header goes before
// the data, so the data chunk is not marked final: a NONE chunk ends the
// reply, or an error chunk if the file fails under sendfile, and the
// connection goes on. Over TLS or with simple replies, large READs and
// those not in the page cache go to goroutines, as READs of other sources
// do (sendfile_linux.go). A Source that is an alloc.FileMapper (image.Image
// of qcow2, VMDK, VHD, VHDX or VDI: formats whose data sits verbatim in a file)
// says where each run of a READ is; large READs with some of their data
// in files are sent the same way, each file run with sendfile from its own
// file, zero runs as hole chunks, and what must be read through the
// source (compressed, in a backing file) from a buffer (mapRead). A Unix
// connection's send buffer is 1 MiB, so that a 256 KiB reply is not
// written in pieces the size of the default one (sockbuf_linux.go).
//
// What an export serves is a Source (io.ReaderAt + Size; image.Image is
// one). A Source that also implements Extenter reports its holes, which
// become NBD_REPLY_TYPE_OFFSET_HOLE chunks and base:allocation extents.
// Server.OnRead is the hook a tracer (bmaplogger) hangs on the data path:
// it is given every READ and CACHE once its reply is written (or dropped,
// when the connection broke), on the goroutine that wrote it, so it sees
// each connection's READs in the order of their replies. A trace needs
// only the request, its times and its result, not the bytes, so a traced
// READ is served exactly as an untraced one, sendfile included.
//
// Listen makes Unix (a given path or a private temporary directory),
// TCP and TLS endpoints and their NBD URIs; LoadTLS reads a certificate
// directory laid out like nbdkit's --tls-certificates; RunCaptive runs a
// client command as nbdkit --run does.
//
// We wrote our own server rather than use a library: pojntfx/go-nbd has no
// structured replies, block status, TLS or flush, does not send the
// read-only flag and sends the reply header before reading, so a failed
// read corrupts the stream; abligh/gonbdserver and Merovius/nbd have no
// structured replies or block status (see LIBRARIES.md).
package nbd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
)

// Source is what an export serves. image.Image satisfies it. ReadAt must be
// safe for concurrent use.
type Source interface {
	io.ReaderAt
	Size() int64
}

// Extent is a run of bytes of a Source with the same allocation state
// (Hole: not allocated in the backing store; Zero: reads as zeroes): the
// image packages' alloc.Extent, so that image.Image is an Extenter.
type Extent = alloc.Extent

// Extenter is implemented by a Source that knows its holes. Extents returns
// consecutive extents starting at off and covering at most length bytes (it
// may cover fewer: the server asks again). It must be safe for concurrent
// use.
type Extenter interface {
	Extents(off, length int64) ([]Extent, error)
}

// FileBacked is implemented by a Source whose byte at each offset is the
// byte at the same offset of an open file (a raw image: File). The server
// then reads the file itself, as nbdkit's file plugin does: the
// connection's reader serves READs found in the page cache without a
// hand-off to another goroutine, and sends large ones with sendfile(2),
// from the page cache to the socket without a copy (see readNow). The
// source's ReadAt still serves what is not cached, CACHE, and reads past
// errors. It is the simplest case of a source mapped to files
// (alloc.FileMapper, served by mapRead), kept apart because the
// connection's reader can also copy its small READs from the page cache.
type FileBacked interface {
	// SourceFile returns the file, open for as long as the Source is,
	// or nil if there is none.
	SourceFile() *os.File
}

// Export is one named export.
type Export struct {
	Name, Description string
	Source            Source
	// MinBlockSize is the minimum block size advertised through
	// NBD_INFO_BLOCK_SIZE (a power of two up to 64 KiB; 0 means 1).
	// Requests not aligned to it get EINVAL.
	MinBlockSize uint32
}

// Read is one served READ (or CACHE) request, given to Server.OnRead once
// its reply is written (or dropped because the connection broke: a
// request received is always reported). Each connection's Reads come in
// the order of their replies, from the goroutine writing them; OnRead
// must be quick, as the connection's next replies wait for it.
type Read struct {
	Conn   uint64    // connection number, from 1
	Export string    // export name
	Off    int64     // offset of the request
	Len    uint32    // length of the request
	Start  time.Time // when the request header was received
	// Dur is the time spent reading the source: for a READ sent with
	// sendfile(2), the time in sendfile (reading the page cache, or the
	// disk, and copying to the socket), without the waits for room in
	// the socket's buffer, which are the client's.
	Dur   time.Duration
	Err   error // the source's error, if any (the client got an error)
	Cache bool  // NBD_CMD_CACHE rather than NBD_CMD_READ
}

// TLSMode says whether a server offers or requires TLS.
type TLSMode int

// TLS modes, as nbdkit's --tls=off|on|require.
const (
	TLSOff     TLSMode = iota // no TLS; STARTTLS is answered NBD_REP_ERR_POLICY
	TLSOn                     // TLS offered, optional
	TLSRequire                // every option but STARTTLS and ABORT needs TLS first
)

func (m TLSMode) String() string {
	switch m {
	case TLSOff:
		return "off"
	case TLSOn:
		return "on"
	case TLSRequire:
		return "require"
	}
	return "TLSMode(?)"
}

// DefaultMaxInFlight is the per-connection request concurrency when
// Server.MaxInFlight is 0.
const DefaultMaxInFlight = 16

// maxInFlightBytes bounds the READ data buffered per connection (a single
// request of MaxRequest bytes is always let through).
const maxInFlightBytes = 32 << 20

// HandshakeTimeout bounds the handshake of a connection.
const HandshakeTimeout = 30 * time.Second

// Server serves exports over NBD. Set its fields before calling Serve.
type Server struct {
	Exports     []Export                         // the first is the default export ("" maps to it)
	OnRead      func(Read)                       // every READ and CACHE, after its reply (Read); nil: none
	TLSConfig   *tls.Config                      // server certificate (and ClientCAs for client verification)
	TLS         TLSMode                          // needs TLSConfig unless TLSOff
	Logf        func(format string, args ...any) // connection and protocol errors; nil: silent
	MaxInFlight int                              // per-connection concurrency (0: DefaultMaxInFlight)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	connWG    sync.WaitGroup
	shutdown  atomic.Bool
	nextConn  atomic.Uint64
	fileSends atomic.Int64 // sendfile transfers, for the tests
	coldReads atomic.Int64 // READs preadv2 found not cached, for the tests
}

// FileSends is how many ranges of files the server sent with sendfile(2)
// (for tests and benchmarks).
func (s *Server) FileSends() int64 { return s.fileSends.Load() }

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("nbd: server closed")

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown or Close, or the listener's error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Temporary (EMFILE and the like): back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("nbd: accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(nil, true) {
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.connWG.Done()
			s.serve(c)
		}()
	}
}

// track reserves a slot in connWG (add) unless the server is shut down.
func (s *Server) track(_ *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if add {
		s.connWG.Add(1)
	}
	return true
}

// ServeConn serves one connection and returns when it is closed. It closes c.
func (s *Server) ServeConn(c net.Conn) {
	if !s.track(nil, true) {
		c.Close()
		return
	}
	defer s.connWG.Done()
	s.serve(c)
}

// Shutdown stops accepting connections, interrupts every connection's
// reading of further requests (requests already received are answered), and
// waits for the connections to finish or for ctx to end, when it closes
// them all. It returns ctx's error in that case.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.closeConns()
		<-done
		return ctx.Err()
	}
}

// Connections returns the number of connections accepted so far.
func (s *Server) Connections() uint64 { return s.nextConn.Load() }

// Close stops accepting connections and closes every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.closeConns()
	s.connWG.Wait()
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	s.shutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
}

func (s *Server) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
}

func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return !s.shutdown.Load()
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) maxInFlight() int {
	if s.MaxInFlight > 0 {
		return s.MaxInFlight
	}
	return DefaultMaxInFlight
}

// export finds an export by name; "" is the first one.
func (s *Server) export(name string) *Export {
	if len(s.Exports) == 0 {
		return nil
	}
	if name == "" {
		return &s.Exports[0]
	}
	for i := range s.Exports {
		if s.Exports[i].Name == name {
			return &s.Exports[i]
		}
	}
	return nil
}
