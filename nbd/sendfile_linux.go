package nbd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"golang.org/x/sys/unix"
)

// Serving a file-backed source (FileBacked) from the connection's reader,
// without a hand-off to another goroutine per request:
//
//   - READs of sendfileMin bytes or more, on a plain socket (no TLS)
//     with structured replies, are queued as ranges of the file; the
//     writer sends each with sendfile(2) between the chunk headers, so
//     the data goes from the page cache to the socket without a copy
//     through user space. The data chunk is never the final chunk: a
//     NBD_REPLY_TYPE_NONE chunk marks the end, or, when the file fails
//     under sendfile (an I/O error, or a file shorter than it was), an
//     error chunk after zeroes for the rest of the data announced, so
//     the client sees that READ fail and the connection goes on. Traced
//     (an OnRead hook), the READ is served the same way and reported
//     after the writer sent it (task.finish), with the time spent in
//     sendfile (not the waits for a full socket, which are the
//     client's) and the file's error if it failed: the trace needs the
//     request, not the bytes. (Traced READs used to go through a
//     buffer, read and timed before the reply: two copies of the data
//     instead of one, which made a 4-connection nbdcopy of 256 KiB
//     READs cost the server 103 us of CPU per READ against 44 untraced,
//     at 0.71x the rate.) The data is asked for (POSIX_FADV_WILLNEED)
//     when the READ is queued, so reads of data not in the page cache
//     are under way together while the writer sends the replies before
//     them.
//   - Smaller READs (up to inlineMax when sendfile cannot be used: over
//     TLS or with simple replies) are read with preadv2(RWF_NOWAIT),
//     which copies from the page cache and fails at once (EAGAIN)
//     instead of waiting for the disk; such a READ, and a larger one,
//     goes to a goroutine, as READs of other sources do.
//
// A source mapped to files (alloc.FileMapper: image.Image of a qcow2,
// VMDK, VHD, VHDX or VDI image) has its READs of sendfileMin bytes or more
// served the same way when some of their data sits verbatim in a file
// (mapRead): the reader asks where each run is (the format's cached
// tables), file runs go out with sendfile from their own file (fileSeg.fd),
// zero runs as hole chunks (zeroes under DF), and the runs that must be
// read through the source (compressed clusters, a backing file) are read
// into a buffer first, by a goroutine. When a file fails under sendfile,
// the rest of its range is read through the source's ReadAt at the guest
// offset (copyRest), never the file offset. Measured with bench/formats.sh
// (bench/README.md): vhd-fixed, vdi-static, vmdk-flat and qcow2, whose
// READs went through ReadAt into a buffer, then a write (two copies).

const (
	// sendfileMin is the smallest READ sent with sendfile: below it, the
	// copy costs less than the system calls of one more write, and small
	// replies go out many per writev.
	sendfileMin = 64 << 10
	// inlineMax is the largest READ the reader copies itself with
	// preadv2 (when sendfile cannot be used); larger ones go to a
	// goroutine, so that their copying runs on several cores: 16
	// buffered 256 KiB READs in flight took 1.9 ms that way against 3.3
	// ms copied one after the other by the reader (BenchmarkReadFile).
	inlineMax = 64 << 10
)

// errWouldBlock is readAt's answer when the data is not in the page cache.
var errWouldBlock = errors.New("nbd: data not in the page cache")

// initFile prepares the serving of a FileBacked source: the file's
// descriptor, and the socket for sendfile when it can be used.
func (c *conn) initFile() {
	c.fd = -1
	var f *os.File
	if fb, ok := c.src.(FileBacked); ok {
		f = fb.SourceFile()
	}
	if f != nil {
		c.fd = int(f.Fd())
		c.nowait = true
	} else if fm, ok := c.src.(alloc.FileMapper); ok {
		c.fm = fm
	} else {
		return
	}
	if c.tls || !c.structured {
		return
	}
	if sc, ok := c.nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
}

// readNow serves a READ of a FileBacked source from the reader, if it
// can without waiting for the disk. It returns false when t must be
// served the blocking way (t.run in a goroutine), having sent nothing.
func (c *conn) readNow(t *task) bool {
	if c.rc != nil && t.req.len >= sendfileMin {
		c.readFile(t)
		return true
	}
	if !c.nowait || t.req.len > inlineMax {
		return false
	}
	if !c.readBuf(t, true) {
		c.s.coldReads.Add(1)
		return false
	}
	return true
}

// readAt reads len(p) bytes at off: from the source, or with nowait from
// its file, failing with errWouldBlock when the data is not all in the
// page cache (or preadv2 cannot tell).
func (c *conn) readAt(p []byte, off int64, nowait bool) error {
	if !nowait {
		return c.readFull(p, off)
	}
	n, err := preadNowait(c.fd, p, off)
	if n == len(p) {
		return nil
	}
	if err != nil && err != syscall.EAGAIN {
		// EOPNOTSUPP and the like: the file system cannot; an I/O
		// error or a short file: the blocking read reports it.
		if err == syscall.EOPNOTSUPP || err == syscall.ENOSYS || err == syscall.EINVAL {
			c.nowait = false
		}
	}
	return errWouldBlock
}

// preadNowait is preadv2(fd, {p}, 1, off, RWF_NOWAIT), without the
// allocations of unix.Preadv2.
func preadNowait(fd int, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	n, _, e := syscall.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, uintptr(off), 0, unix.RWF_NOWAIT)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// readFile queues the reply to a READ whose data the writer sends from
// the source's file with sendfile: per span, a hole chunk, or a data
// chunk header followed by the file range; then a final
// NBD_REPLY_TYPE_NONE chunk (or the last hole chunk is final), since a
// data chunk cannot be marked final before its data is sent.
func (c *conn) readFile(t *task) {
	r := &t.req
	off, n := int64(r.off), int64(r.len)
	t.spans = t.spans[:0]
	if c.ext != nil && r.flags&cmdFlagDF == 0 && !c.knownData(off, n) {
		t.spans = c.spans(t.spans, off, n)
	}
	if len(t.spans) == 0 {
		t.spans = append(t.spans, span{off, n, false})
	}
	need := 32*len(t.spans) + 20
	if cap(t.extra) < need {
		t.extra = make([]byte, need)
	}
	hdrs := t.extra[:need]
	last := len(t.spans) - 1
	for i, s := range t.spans {
		h := hdrs[32*i : 32*i+32]
		if s.zero {
			var flags uint16
			if i == last {
				flags = replyFlagDone
			}
			putChunk(h, flags, replyTypeOffsetHole, r.handle, 12)
			be.PutUint64(h[20:], uint64(s.off))
			be.PutUint32(h[28:], uint32(s.len))
			t.bufs = append(t.bufs, h)
			continue
		}
		putChunk(h, 0, replyTypeOffsetData, r.handle, uint32(8+s.len))
		be.PutUint64(h[20:], uint64(s.off))
		t.bufs = append(t.bufs, h[:28])
		t.files = append(t.files, fileSeg{at: len(t.bufs), fd: c.fd, off: s.off, guest: s.off, len: s.len})
		unix.Fadvise(c.fd, s.off, s.len, unix.FADV_WILLNEED)
	}
	if !t.spans[last].zero {
		t.bufs = append(t.bufs, putChunk(hdrs[need-20:], replyFlagDone, replyTypeNone, r.handle, 0))
	}
	t.spans = t.spans[:0]
	// Traced, the READ is reported once its reply is written, with the
	// time the writer spent in sendfile(2) (task.finish).
	t.traced = c.s.OnRead != nil
	c.send(t)
}

// maxSendfile bounds one sendfile call (Linux sends at most 2 GiB less a
// page in one anyway).
const maxSendfile = 1 << 30

// sendFile sends n bytes of file fd at off, the source's bytes at guest,
// to the socket with sendfile. When sendfile fails or the file ends
// early, the rest is read through the source's ReadAt (at the guest
// offset) to tell a file error (ferr: the rest is sent as zeroes) from a
// socket error (err). With dur (a traced READ), the time spent in
// sendfile(2) and in copyRest's reads is added to *dur: the time the
// file took to read and hand to the socket, not the time waiting for
// the client to make room in the socket's buffer.
func (c *conn) sendFile(fd int, off, guest, n int64, dur *time.Duration) (ferr, err error) {
	c.s.fileSends.Add(1)
	sf := &c.sf
	sf.fd, sf.off, sf.n, sf.err, sf.dur = fd, off, n, nil, dur
	if sf.step == nil {
		sf.step = c.sendStep // once: a method value allocates
	}
	err = c.rc.Write(sf.step)
	guest += sf.off - off
	n, serr := sf.n, sf.err
	sf.err, sf.dur = nil, nil
	if err != nil || serr == nil {
		return nil, err
	}
	return c.copyRest(guest, n, dur)
}

// sendfileState is the transfer sendFile has under way (the writer's).
type sendfileState struct {
	fd     int
	off, n int64
	err    error          // the file's or the socket's: copyRest tells
	dur    *time.Duration // the traced READ's time, or nil
	step   func(sock uintptr) bool
}

// sendStep sends c.sf's range to the socket until done, an error, the
// end of the file, or a full socket (false: RawConn.Write waits until it
// is writable and calls again). Traced, it adds its time to *c.sf.dur.
func (c *conn) sendStep(sock uintptr) bool {
	sf := &c.sf
	if sf.dur != nil {
		t0 := now()
		defer func() { *sf.dur += time.Since(t0) }()
	}
	for sf.n > 0 {
		w, e := unix.Sendfile(int(sock), sf.fd, &sf.off, int(min(sf.n, maxSendfile)))
		if w > 0 {
			sf.n -= int64(w)
		}
		switch {
		case e == syscall.EAGAIN:
			return false
		case e == syscall.EINTR:
		case e != nil:
			sf.err = e
			return true
		case w == 0:
			sf.err = io.ErrUnexpectedEOF
			return true
		}
	}
	return true
}

// copyRest sends n bytes of the source at off through a buffer, or
// zeroes in their place if the source fails (ferr). With dur, the time of
// its reads is added to *dur.
func (c *conn) copyRest(off, n int64, dur *time.Duration) (ferr, err error) {
	bp := getBuf(int(min(n, 1<<20)))
	defer putBuf(bp)
	for n > 0 && ferr == nil {
		b := (*bp)[:min(n, int64(len(*bp)))]
		var t0 time.Time
		if dur != nil {
			t0 = now()
		}
		ferr = c.readFull(b, off)
		if dur != nil {
			*dur += time.Since(t0)
		}
		if ferr != nil {
			break
		}
		if _, err = c.nc.Write(b); err != nil {
			return nil, err
		}
		off += int64(len(b))
		n -= int64(len(b))
	}
	for n > 0 {
		b := zeroes[:min(n, int64(len(zeroes)))]
		if _, err = c.nc.Write(b); err != nil {
			return ferr, err
		}
		n -= int64(len(b))
	}
	return ferr, nil
}

// mapRead serves a READ of sendfileMin bytes or more of a source mapped
// to files (alloc.FileMapper: qcow2, VMDK, VHD, VHDX, VDI: whose data sits
// verbatim in a file), called by the reader. It asks the source where
// each run of the READ is (cheap: the format's cached tables; a table
// not cached yet, a grain table or a sector bitmap, is read by the
// reader then, once) and, if
// any run sits in a file, queues the reply as readFile does: runs in a
// file are sent from it with sendfile, zero runs as hole chunks (or
// zeroes under DF), and the runs that must be read through the source
// (compressed, in a parent image...) from a buffer, read by a goroutine
// so that the reader goes on. It returns false, having sent nothing,
// when no run sits in a file: the caller serves t the ordinary way.
func (c *conn) mapRead(t *task) bool {
	r := &t.req
	pos, end := int64(r.off), int64(r.off)+int64(r.len)
	runs, files, other := t.runs[:0], false, false
	for pos < end {
		fr, err := c.fm.MapFile(pos, end-pos)
		if err == nil && (fr.Len <= 0 || fr.Len > end-pos) {
			err = fmt.Errorf("nbd: source mapped %d bytes at %d for %d asked", fr.Len, pos, end-pos)
		}
		if err != nil {
			t.runs = runs[:0]
			c.s.logf("nbd: connection %d: %v: %v", c.id, r, err)
			if c.s.OnRead != nil {
				t.traced, t.rerr = true, err
			}
			t.error(errnoOf(err), fmt.Sprintf("read at %d: %v", pos, err))
			return true
		}
		if len(runs) >= maxSpans-1 {
			fr = alloc.FileRun{Len: end - pos} // the rest through ReadAt
		}
		files = files || fr.File != nil
		other = other || fr.File == nil && !fr.Zero
		if k := len(runs) - 1; k >= 0 && sameRun(runs[k], fr) {
			runs[k].Len += fr.Len
		} else {
			runs = append(runs, fr)
		}
		pos += fr.Len
	}
	t.runs = runs
	if !files {
		t.runs = runs[:0]
		return false
	}
	if other {
		go c.sendMapped(t)
	} else {
		c.sendMapped(t)
	}
	return true
}

// sameRun reports whether b continues a: the same file at the next
// offset, or both zeros, or both to be read through the source.
func sameRun(a, b alloc.FileRun) bool {
	switch {
	case a.File != nil || b.File != nil:
		return a.File == b.File && a.FileOff+a.Len == b.FileOff
	default:
		return a.Zero == b.Zero
	}
}

// sendMapped queues the reply to a READ from its runs (mapRead): the
// runs that are neither in a file nor zeros read first into a buffer
// (a failure is an error reply), then per chunk a hole chunk for zeros
// (without DF) or a data chunk whose payload is file ranges, zeroes and
// buffer slices, then a final NONE chunk unless the last is a hole.
func (c *conn) sendMapped(t *task) {
	r := &t.req
	off := int64(r.off)
	df := r.flags&cmdFlagDF != 0
	var t0 time.Time
	if c.s.OnRead != nil {
		t0 = now()
	}
	var buf []byte
	pos := off
	for _, fr := range t.runs {
		if fr.File == nil && !fr.Zero {
			if buf == nil {
				t.bp = getBuf(int(r.len))
				buf = (*t.bp)[:r.len]
			}
			if err := c.readFull(buf[pos-off:pos-off+fr.Len], pos); err != nil {
				c.s.logf("nbd: connection %d: %v: %v", c.id, r, err)
				putBuf(t.bp)
				t.bp = nil
				if c.s.OnRead != nil {
					t.traced, t.dur, t.rerr = true, time.Since(t0), err
				}
				t.error(errnoOf(err), fmt.Sprintf("read at %d: %v", pos, err))
				return
			}
		}
		pos += fr.Len
	}
	if c.s.OnRead != nil {
		t.dur = time.Since(t0)
	}
	need := 32*len(t.runs) + 20
	if cap(t.extra) < need {
		t.extra = make([]byte, need)
	}
	hdrs := t.extra[:need]
	lastHole := false
	pos = off
	for i := 0; i < len(t.runs); {
		fr := t.runs[i]
		h := hdrs[32*i : 32*i+32]
		if fr.Zero && !df {
			var flags uint16
			if i == len(t.runs)-1 {
				flags, lastHole = replyFlagDone, true
			}
			putChunk(h, flags, replyTypeOffsetHole, r.handle, 12)
			be.PutUint64(h[20:], uint64(pos))
			be.PutUint32(h[28:], uint32(fr.Len))
			t.bufs = append(t.bufs, h)
			pos += fr.Len
			i++
			continue
		}
		// A data chunk over the runs up to the next hole chunk.
		j, n := i, int64(0)
		for ; j < len(t.runs) && !(t.runs[j].Zero && !df); j++ {
			n += t.runs[j].Len
		}
		putChunk(h, 0, replyTypeOffsetData, r.handle, uint32(8+n))
		be.PutUint64(h[20:], uint64(pos))
		t.bufs = append(t.bufs, h[:28])
		chunkEnd, fi := pos+n, len(t.files)
		for ; i < j; i++ {
			fr := t.runs[i]
			switch {
			case fr.File != nil:
				fd := int(fr.File.Fd())
				t.files = append(t.files, fileSeg{at: len(t.bufs), fd: fd, off: fr.FileOff, guest: pos, len: fr.Len})
				unix.Fadvise(fd, fr.FileOff, fr.Len, unix.FADV_WILLNEED)
			case fr.Zero:
				for z := fr.Len; z > 0; {
					b := zeroes[:min(z, int64(len(zeroes)))]
					t.bufs = append(t.bufs, b)
					z -= int64(len(b))
				}
			default:
				t.bufs = append(t.bufs, buf[pos-off:pos-off+fr.Len])
			}
			pos += fr.Len
		}
		// What a file that fails must be followed by to end the chunk.
		for k := fi; k < len(t.files); k++ {
			t.files[k].pad = chunkEnd - t.files[k].guest - t.files[k].len
		}
	}
	if !lastHole {
		t.bufs = append(t.bufs, putChunk(hdrs[need-20:], replyFlagDone, replyTypeNone, r.handle, 0))
	}
	t.traced = c.s.OnRead != nil
	c.send(t)
}
