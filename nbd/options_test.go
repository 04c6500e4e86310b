package nbd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nbdshScript exercises through libnbd what qemu and nbdcopy never send:
// NBD_OPT_LIST, NBD_OPT_INFO, LIST_META_CONTEXT, block status, structured
// reads with holes, and requests the server must refuse while the
// connection goes on (libnbd's strict mode off lets them through).
const nbdshScript = `
import errno, os, sys
uri = os.environ["uri"]
M = 1 << 20
def check(cond, *msg):
    if not cond:
        print("FAIL:", *msg)
        sys.exit(1)
def fails(want, f, *args, **kw):
    try:
        f(*args, **kw)
    except nbd.Error as e:
        got = e.errno if isinstance(e.errno, int) else getattr(errno, str(e.errno), None)
        check(got == want, f.__name__, args, "gave", e.errno, e.string, "want", errno.errorcode[want])
        print("refused as expected:", f.__name__, errno.errorcode[want], e.string)
        return
    check(False, f.__name__, args, "succeeded")

# Option haggling by hand.
h = nbd.NBD()
h.set_opt_mode(True)
h.add_meta_context("base:allocation")
h.connect_uri(uri)
names = []
h.opt_list(lambda name, desc: names.append((name, desc)))
check(names == [("disk", "the test disk"), ("aligned", "512-byte blocks")], names)
h.set_export_name("aligned")
h.opt_info()
check(h.get_size() == 64 * M, "size", h.get_size())
check(h.get_block_size(nbd.SIZE_MINIMUM) == 512, "minimum block size")
check(h.get_block_size(nbd.SIZE_MAXIMUM) == 32 * M, "maximum block size")
check(h.is_read_only() and h.can_flush() and h.can_cache() and h.can_multi_conn() and not h.can_trim(), "flags")
h.set_export_name("nonexistent")
fails(errno.ENOENT, h.opt_info)
ctx = []
h.set_export_name("disk")
h.opt_list_meta_context(lambda name: ctx.append(name))
check(ctx == ["base:allocation"], "contexts", ctx)
h.opt_go()
check(h.can_meta_context("base:allocation"), "base:allocation not negotiated")
h.set_strict_mode(0)

# Block status: the holes of the test image.
ents = []
def extent(meta, off, e, err):
    check(meta == "base:allocation", meta)
    ents.extend(e)
    return 0
pos = 0
while pos < 64 * M:
    before = sum(ents[0::2])
    h.block_status(64 * M - pos, pos, extent)
    pos += sum(ents[0::2]) - before
print("extents", ents)
check(ents == [1*M, 0, 7*M, 3, 1*M, 0, 23*M, 3, 64<<10, 0, 32*M - (128<<10), 3, 64<<10, 0], "block status", ents)
one = []
h.block_status(64 * M, 0, lambda m, o, e, err: one.extend(e) or 0, nbd.CMD_FLAG_REQ_ONE)
check(one == [1*M, 0], "REQ_ONE", one)

# Structured reads: holes come as NBD_REPLY_TYPE_OFFSET_HOLE.
chunks = []
def chunk(buf, off, status, err):
    chunks.append((off, len(buf), status))
    return 0
buf = h.pread_structured(2 * M, 512 << 10, chunk)
check(chunks == [(512 << 10, 512 << 10, nbd.READ_DATA), (1 * M, 3 * M // 2, nbd.READ_HOLE)], "chunks", chunks)
check(buf[512 << 10:] == bytes(3 * M // 2), "hole not zero")
chunks.clear()
h.pread_structured(2 * M, 512 << 10, chunk, nbd.CMD_FLAG_DF)
check(chunks == [(512 << 10, 2 * M, nbd.READ_DATA)], "DF chunks", chunks)

# Bad requests: an error each, and the connection goes on.
fails(errno.EINVAL, h.pread, 4096, 64 * M - 2048)
fails(errno.EINVAL, h.pread, 1, 64 * M)
fails(errno.EINVAL, h.pread, 33 * M, 0)
fails(errno.EOVERFLOW, h.pread, 33 * M, 0, nbd.CMD_FLAG_DF)
fails(errno.EINVAL, h.block_status, 4096, 64 * M, lambda *a: 0)
fails(errno.EPERM, h.pwrite, b"x" * 512, 0)
fails(errno.EPERM, h.trim, 512, 0)
fails(errno.EPERM, h.zero, 512, 0)
h.flush()
h.cache(1 * M, 0)
check(h.pread(16, 8 * M) == b"\xab" * 16, "read after errors")
h.shutdown()

# Alignment on the export with 512-byte blocks.
a = nbd.NBD()
a.set_strict_mode(0)
a.connect_uri(uri.replace(":///?", ":///aligned?"))
check(a.get_export_name() == "aligned", a.get_export_name())
fails(errno.EINVAL, a.pread, 100, 1)
fails(errno.EINVAL, a.pread, 512, 100)
check(a.pread(512, 8 * M) == b"\xab" * 512, "aligned read")
a.shutdown()

# Without structured replies: simple replies, no base:allocation.
s = nbd.NBD()
s.set_request_structured_replies(False)
s.set_strict_mode(0)
s.connect_uri(uri)
check(not s.get_structured_replies_negotiated(), "structured negotiated")
fails(errno.EINVAL, s.pread, 4096, 64 * M)
check(s.pread(4, 8 * M) == b"\xab" * 4, "simple read")
s.shutdown()
print("ok")
`

func TestNbdsh(t *testing.T) {
	need(t, "nbdsh")
	s, _, logs := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})
	script := filepath.Join(t.TempDir(), "t.py")
	if err := os.WriteFile(script, []byte(nbdshScript), 0o644); err != nil {
		t.Fatal(err)
	}
	// nbdsh runs "python3 -mnbd": take the python3 installed beside it (the
	// one its libnbd module was built for), not another earlier in $PATH.
	out, st := captive(t, ep, `PATH="$(dirname "$(command -v nbdsh)"):$PATH" nbdsh -c "exec(open('`+script+`').read())"`)
	if st != 0 || !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Fatalf("nbdsh: status %d\n%s\nserver log:\n%s", st, out, logs)
	}
	t.Log(out)
}

// rawClient speaks the handshake by hand, for what no client sends.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, ep *Endpoint) *rawClient {
	c, err := net.Dial("unix", ep.UnixSocket)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	r := &rawClient{t: t, c: c, br: bufio.NewReader(c)}
	var g [18]byte
	r.read(g[:])
	if be.Uint64(g[:]) != nbdMagic || be.Uint64(g[8:]) != optMagic || be.Uint16(g[16:]) != flagFixedNewstyle|flagNoZeroes {
		t.Fatalf("greeting % x", g)
	}
	r.write(binary.BigEndian.AppendUint32(nil, clientFixedNewstyle|clientNoZeroes))
	return r
}

func (r *rawClient) read(p []byte) {
	r.t.Helper()
	if _, err := io.ReadFull(r.br, p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) write(p []byte) {
	r.t.Helper()
	if _, err := r.c.Write(p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) option(opt Option, data []byte) {
	r.t.Helper()
	b := binary.BigEndian.AppendUint64(nil, optMagic)
	b = binary.BigEndian.AppendUint32(b, uint32(opt))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	r.write(append(b, data...))
}

// reply reads one option reply.
func (r *rawClient) reply(opt Option) (Rep, []byte) {
	r.t.Helper()
	var h [20]byte
	r.read(h[:])
	if be.Uint64(h[:]) != optReplyMagic || Option(be.Uint32(h[8:])) != opt {
		r.t.Fatalf("reply header % x for %v", h, opt)
	}
	data := make([]byte, be.Uint32(h[16:]))
	r.read(data)
	return Rep(be.Uint32(h[12:])), data
}

func TestRawOptions(t *testing.T) {
	s, want, _ := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})
	r := dialRaw(t, ep)
	for _, tc := range []struct {
		opt  Option
		data []byte
		want Rep
	}{
		{Option(99), []byte("whatever"), RepErrUnsup},
		{OptExtendedHeaders, nil, RepErrUnsup},
		{OptPeekExport, nil, RepErrUnsup},
		{OptList, []byte("x"), RepErrInvalid},
		{OptStartTLS, nil, RepErrPolicy},
		{OptStructuredReply, []byte("x"), RepErrInvalid},
		{OptSetMetaContext, []byte{0, 0, 0, 0, 0, 0, 0, 0}, RepErrInvalid}, // before STRUCTURED_REPLY
		{OptInfo, []byte{0, 0, 0, 9, 'x'}, RepErrInvalid},
		{OptGo, []byte{0, 0, 0, 2, 'n', 'o', 0, 0}, RepErrUnknown},
		{OptInfo, make([]byte, maxOption+1), RepErrTooBig},
	} {
		t.Run(fmt.Sprintf("%v-%d", tc.opt, len(tc.data)), func(t *testing.T) {
			r.t = t
			r.option(tc.opt, tc.data)
			if got, msg := r.reply(tc.opt); got != tc.want {
				t.Errorf("%v: %v (%s), want %v", tc.opt, got, msg, tc.want)
			}
		})
	}
	r.t = t
	// The connection survived all of that: negotiate and read.
	r.option(OptStructuredReply, nil)
	if got, _ := r.reply(OptStructuredReply); got != RepAck {
		t.Fatalf("structured reply: %v", got)
	}
	r.option(OptGo, []byte{0, 0, 0, 4, 'd', 'i', 's', 'k', 0, 0})
	var flags uint16
	for {
		rep, data := r.reply(OptGo)
		if rep == RepAck {
			break
		}
		if rep != RepInfo {
			t.Fatalf("GO: %v %s", rep, data)
		}
		if be.Uint16(data) == infoExport {
			flags = be.Uint16(data[10:])
		}
	}
	if want := uint16(flagHasFlags | flagReadOnly | flagSendFlush | flagSendCache | flagCanMultiConn | flagSendDF); flags != want {
		t.Errorf("transmission flags %#x, want %#x", flags, want)
	}
	// A READ in the middle of data: one OFFSET_DATA chunk, DONE.
	req := make([]byte, 28)
	be.PutUint32(req, requestMagic)
	be.PutUint64(req[8:], 0x1234)
	be.PutUint64(req[16:], 100)
	be.PutUint32(req[24:], 64)
	r.write(req)
	var h [28]byte
	r.read(h[:])
	if be.Uint32(h[:]) != structReplyMagic || be.Uint16(h[4:]) != replyFlagDone || be.Uint16(h[6:]) != replyTypeOffsetData ||
		be.Uint64(h[8:]) != 0x1234 || be.Uint32(h[16:]) != 72 || be.Uint64(h[20:]) != 100 {
		t.Fatalf("reply % x", h)
	}
	got := make([]byte, 64)
	r.read(got)
	if string(got) != string(want[100:164]) {
		t.Error("data differs")
	}
	// An unknown command gets EINVAL in an error chunk.
	be.PutUint16(req[6:], 42)
	r.write(req)
	r.read(h[:26])
	if be.Uint16(h[6:]) != replyTypeError || Errno(be.Uint32(h[20:])) != EINVAL {
		t.Errorf("unknown command: % x", h[:26])
	}
	r.read(make([]byte, be.Uint16(h[24:])))
	// NBD_CMD_DISC: the server closes.
	be.PutUint16(req[6:], uint16(CmdDisc))
	be.PutUint64(req[16:], 0)
	be.PutUint32(req[24:], 0)
	r.write(req)
	if n, err := r.br.Read(h[:]); err != io.EOF {
		t.Errorf("after NBD_CMD_DISC: read %d, %v; want EOF", n, err)
	}
}

func TestRawAbortAndExportName(t *testing.T) {
	s, _, _ := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})
	r := dialRaw(t, ep)
	r.option(OptAbort, nil)
	if got, _ := r.reply(OptAbort); got != RepAck {
		t.Errorf("abort: %v", got)
	}
	// NBD_OPT_EXPORT_NAME: size, flags, and no zeroes (NO_ZEROES).
	r = dialRaw(t, ep)
	r.option(OptExportName, []byte("aligned"))
	var b [10]byte
	r.read(b[:])
	if be.Uint64(b[:]) != testImageSize || be.Uint16(b[8:]) != flagHasFlags|flagReadOnly|flagSendFlush|flagSendCache|flagCanMultiConn {
		t.Errorf("export name reply % x", b)
	}
	// An unknown export ends the session (the option cannot fail).
	r = dialRaw(t, ep)
	r.option(OptExportName, []byte("nope"))
	if _, err := r.br.ReadByte(); err != io.EOF {
		t.Errorf("unknown export: %v, want EOF", err)
	}
}

// TestMalformedHandshake sends garbage on one connection while a real
// client copies the disk on another.
func TestMalformedHandshake(t *testing.T) {
	need(t, "nbdcopy")
	s, want, logs := fileServer(t)
	ep := serve(t, s, ListenConfig{Unix: "-"})
	garbage := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x00\x00\x00\x01" + "IHAVEOPX" + strings.Repeat("\xff", 40), // bad option magic
		"\x00\x00\x00\x08", // unknown client flag
		"\x00\x00\x00\x00" + "IHAVEOPT\x00\x00\x00\x07\x00\x00\x00\x00", // GO without fixed newstyle
	}
	done := make(chan error, len(garbage))
	for _, g := range garbage {
		go func() {
			c, err := net.Dial("unix", ep.UnixSocket)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte(g))
			_, err = io.ReadAll(c) // the server must close the connection
			done <- err
		}()
	}
	out := filepath.Join(t.TempDir(), "copy")
	mustCaptive(t, ep, `nbdcopy "$uri" `+out)
	for range garbage {
		if err := <-done; err != nil {
			t.Errorf("garbage connection: %v (want the server to close it)", err)
		}
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(want) {
		t.Error("copy differs")
	}
	if !strings.Contains(logs.String(), "bad option magic") {
		t.Errorf("server log lacks the protocol error:\n%s", logs)
	}
}
