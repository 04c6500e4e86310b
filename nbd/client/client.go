// Package client reads an export of another NBD server (nbdkit, qemu-nbd,
// our own package nbd) as an io.ReaderAt with its size and its holes, so
// that virt-bmap, virt-inspector and bmaplogger open nbd:// URIs as they
// open image files.
//
// It follows NetworkBlockDevice/nbd doc/proto.md: the fixed newstyle
// handshake (oldstyle and plain newstyle servers are read too),
// NBD_OPT_STARTTLS with X.509 certificates, NBD_OPT_STRUCTURED_REPLY,
// NBD_OPT_SET_META_CONTEXT base:allocation, and NBD_OPT_GO asking for
// NBD_INFO_BLOCK_SIZE, falling back to NBD_OPT_EXPORT_NAME for servers
// that do not know NBD_OPT_GO. Requests respect the server's block sizes:
// they are aligned to the minimum and split at the maximum (32 MiB when
// the server gives none). Reads take structured replies (data, hole and
// error chunks, checked to cover the request exactly once) or simple
// ones; NBD_CMD_BLOCK_STATUS answers Extents. Several requests are in
// flight on one connection, a reader goroutine matching replies to
// requests by handle, and small reads go through a cache of whole chunks
// sized in bytes (Options.CacheSize), since the filesystem parsers read
// a few hundred bytes at a time.
//
// What the server sends is untrusted: every length is checked against
// the request it answers and a limit before anything is allocated. A
// request with no reply within Options.Timeout fails the connection, so a
// dead or stuck server is an error naming the URI, never a hang. Errors
// wrap nbd.Errno (errors.Is(err, nbd.EIO)), ErrExportNotFound and
// ErrTLSRequired.
//
// No Go NBD client library was usable (libnbd's Go bindings need cgo and
// libnbd; pojntfx/go-nbd has no structured replies, block status or TLS),
// hence this package.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// DefaultCacheSize is the read cache of a Client when Options.CacheSize is 0.
const DefaultCacheSize = 8 << 20

// DefaultTimeout bounds connecting, the handshake and each request when
// Options.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// DefaultMaxInFlight is the number of requests in flight on the connection
// when Options.MaxInFlight is 0.
const DefaultMaxInFlight = 16

// Options tune a Client. The zero value gives the defaults.
type Options struct {
	// CacheSize is the read cache in bytes (0: DefaultCacheSize; negative:
	// no cache).
	CacheSize int64
	// Timeout bounds connecting, the handshake, and the wait for each
	// reply (0: DefaultTimeout).
	Timeout time.Duration
	// MaxInFlight bounds the requests in flight (0: DefaultMaxInFlight).
	MaxInFlight int
	// TLSConfig, when not nil, is used for nbds:// URIs instead of the
	// certificates directory (LoadTLS).
	TLSConfig *tls.Config
}

// Client is an open connection to one export. Its methods are safe for
// concurrent use.
type Client struct {
	name    string // the URI as given, for errors
	export  string
	size    int64
	hs      *handshake
	timeout time.Duration

	// block sizes in use: requests are aligned to align and at most
	// maxReq long
	align, maxReq int64

	conn       net.Conn
	wmu        sync.Mutex // serialises writes
	sem        chan struct{}
	mu         sync.Mutex
	calls      map[uint64]*call
	next       uint64
	dead       error // the connection failed or was closed
	readerDone chan struct{}

	cache *cache
}

// Dial connects to the export named by uri (see ParseURI).
func Dial(uri string, opt Options) (*Client, error) {
	t, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return DialTarget(uri, t, opt)
}

// DialTarget connects to t; name (the URI) is used in errors.
func DialTarget(name string, t Target, opt Options) (*Client, error) {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var tlsCfg *tls.Config
	if t.TLS {
		tlsCfg = opt.TLSConfig
		if tlsCfg == nil {
			var err error
			if tlsCfg, err = LoadTLS(t.TLSCertificates, t.Host, !t.NoVerifyPeer); err != nil {
				return nil, fmt.Errorf("nbd: %s: %w", name, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, t.Network, t.Addr)
	if err != nil {
		return nil, fmt.Errorf("nbd: %s: %w", name, err)
	}
	return newClient(ctx, conn, name, t.Export, tlsCfg, opt, timeout)
}

// newClient negotiates on conn and starts the reply reader.
func newClient(ctx context.Context, conn net.Conn, name, export string, tlsCfg *tls.Config, opt Options, timeout time.Duration) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled parent context ends the handshake too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	hs, err := negotiate(ctx, conn, export, tlsCfg)
	stopped := stop()
	if err == nil && !stopped {
		err = ctx.Err()
	}
	if err != nil {
		if hs != nil && hs.conn != nil {
			hs.conn.Close()
		}
		conn.Close()
		if errors.Is(err, context.DeadlineExceeded) || errTimeout(err) != nil {
			err = fmt.Errorf("no answer within %v: %w", timeout, err)
		}
		return nil, fmt.Errorf("nbd: %s: export %q: %w", name, export, err)
	}
	hs.conn.SetDeadline(time.Time{})
	c := &Client{
		name: name, export: export, size: hs.size, hs: hs, timeout: timeout,
		conn: hs.conn, calls: make(map[uint64]*call), readerDone: make(chan struct{}),
	}
	c.align, c.maxReq = 1, maxRequest
	if hs.minBlock != 0 {
		c.align = int64(hs.minBlock)
		c.maxReq = min(int64(hs.maxBlock), maxRequest) / c.align * c.align
	}
	n := opt.MaxInFlight
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	c.sem = make(chan struct{}, n)
	if opt.CacheSize >= 0 {
		size := opt.CacheSize
		if size == 0 {
			size = DefaultCacheSize
		}
		c.cache = newCache(c.chunkSize(), size)
	}
	go c.reader()
	return c, nil
}

// errTimeout returns err itself when it is a network timeout, nil otherwise.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ne
	}
	return nil
}

// chunkSize is the cache's unit: 64 KiB, or the preferred block size if
// larger, within the maximum and a multiple of the minimum.
func (c *Client) chunkSize() int64 {
	s := int64(64 << 10)
	if p := int64(c.hs.prefBlock); p > s {
		s = p
	}
	if s > c.maxReq {
		s = c.maxReq
	}
	return max(s/c.align*c.align, c.align)
}

// Size is the export's size in bytes.
func (c *Client) Size() int64 { return c.size }

// Export is the export's name.
func (c *Client) Export() string { return c.export }

// Info describes the negotiated connection.
type Info struct {
	TLS, StructuredReplies, BlockStatus bool
	// Go: NBD_OPT_GO was used (not NBD_OPT_EXPORT_NAME or oldstyle).
	Go, Oldstyle bool
	// MinBlock, PrefBlock, MaxBlock: NBD_INFO_BLOCK_SIZE (0: not sent).
	MinBlock, PrefBlock, MaxBlock uint32
	// Flags are the transmission flags.
	Flags uint16
}

// Info says what was negotiated.
func (c *Client) Info() Info {
	h := c.hs
	return Info{TLS: h.tls, StructuredReplies: h.structured, BlockStatus: h.haveMeta,
		Go: h.goUsed, Oldstyle: h.oldstyle, MinBlock: h.minBlock, PrefBlock: h.prefBlock,
		MaxBlock: h.maxBlock, Flags: h.flags}
}

// CacheStats returns the read cache's hits and misses (counted in chunks).
func (c *Client) CacheStats() (hits, misses int64) {
	if c.cache == nil {
		return 0, 0
	}
	return c.cache.stats()
}

// ReadAt reads len(p) bytes of the export at off. It returns io.EOF for a
// read past the end, as an *os.File does.
func (c *Client) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("nbd: %s: read at negative offset %d", c.name, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= c.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > c.size-off {
		p, eof = p[:c.size-off], io.EOF
	}
	var err error
	if c.cache != nil && int64(len(p)) < c.cache.chunk {
		err = c.cache.read(p, off, c.fetchChunk)
	} else {
		err = c.readAligned(p, off)
	}
	if err != nil {
		return 0, err
	}
	return len(p), eof
}

// fetchChunk reads cache chunk idx from the server.
func (c *Client) fetchChunk(idx int64, buf []byte) ([]byte, error) {
	off := idx * c.cache.chunk
	n := min(c.cache.chunk, c.size-off)
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	return buf, c.readAligned(buf, off)
}

// readAligned reads p at off, widening the request to the minimum block
// size when needed and splitting it at the maximum, the pieces in flight
// together.
func (c *Client) readAligned(p []byte, off int64) error {
	end := off + int64(len(p))
	aoff := off / c.align * c.align
	aend := min((end+c.align-1)/c.align*c.align, c.size)
	if aoff != off || aend != end {
		tmp := make([]byte, aend-aoff)
		if err := c.readSplit(tmp, aoff); err != nil {
			return err
		}
		copy(p, tmp[off-aoff:])
		return nil
	}
	return c.readSplit(p, off)
}

func (c *Client) readSplit(p []byte, off int64) error {
	if int64(len(p)) <= c.maxReq {
		return c.read(p, off)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := int64(0); i < int64(len(p)); i += c.maxReq {
		piece := p[i:min(i+c.maxReq, int64(len(p)))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.read(piece, off+i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// read sends one NBD_CMD_READ for p at off and waits for its reply.
func (c *Client) read(p []byte, off int64) error {
	cl := &call{cmd: nbd.CmdRead, off: off, buf: p}
	return c.do(cl, 0, off, uint32(len(p)))
}

// Extents returns the allocation of the export from off, covering at
// most length bytes (at least one when off < Size), from
// NBD_CMD_BLOCK_STATUS base:allocation. A server without block status
// reports everything as data. It implements alloc.Mapper.
func (c *Client) Extents(off, length int64) ([]alloc.Extent, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("nbd: %s: extents at %d length %d", c.name, off, length)
	}
	length = min(length, c.size-off)
	if length <= 0 {
		return nil, nil
	}
	if !c.hs.haveMeta {
		return []alloc.Extent{{Off: off, Len: length}}, nil
	}
	end := off + length
	at := off / c.align * c.align
	// A server may answer for fewer bytes than asked; when its answer
	// ends before off (an aligned request starting earlier), ask again
	// from where it ends.
	for range 64 {
		alen := min(end-at, maxBlockStatus)
		alen = min((alen+c.align-1)/c.align*c.align, c.size-at)
		cl := &call{cmd: nbd.CmdBlockStatus, off: at}
		if err := c.do(cl, 0, at, uint32(alen)); err != nil {
			return nil, err
		}
		var out []alloc.Extent
		for _, e := range cl.ext {
			s, t := max(e.Off, off), min(e.End(), end)
			if s < t {
				out = alloc.Append(out, alloc.Extent{Off: s, Len: t - s, Hole: e.Hole, Zero: e.Zero})
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		at = cl.ext[len(cl.ext)-1].End()
		if at > off {
			break
		}
	}
	return nil, fmt.Errorf("nbd: %s: export %q: NBD_CMD_BLOCK_STATUS: no extent covers offset %d", c.name, c.export, off)
}

// Close sends NBD_CMD_DISC and closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		<-c.readerDone
		return nil
	}
	c.dead = fmt.Errorf("nbd: %s: %w", c.name, net.ErrClosed)
	h := c.next
	c.next++
	c.mu.Unlock()
	c.wmu.Lock()
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, werr := c.conn.Write(request(nbd.CmdDisc, 0, h, 0, 0))
	c.wmu.Unlock()
	if tc, ok := c.conn.(*tls.Conn); ok && werr == nil {
		tc.CloseWrite()
	}
	err := c.conn.Close()
	<-c.readerDone
	c.failAll(c.dead)
	if werr != nil {
		return nil // the server had gone already: nothing to tell it
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("nbd: %s: %w", c.name, err)
	}
	return nil
}
