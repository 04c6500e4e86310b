package logger

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// Console writes the trace as the original bmaplogger plugin printed it:
// for each read, the highest-priority object it touched (f > d > m > l > p
// > v; among objects of that priority the one holding the read's first
// byte, as the original kept the first it found),
//
//	read f /dev/sda1 /boot/grub/grub.cfg
//
// except that a read touching the contents of several files prints a line
// for each of them, in disk order (a boot loader's 32 KiB read that holds
// the end of one file and the whole of the next names both; so does a read
// of MFT records holding resident files' bytes); records and directory
// blocks keep the single line. A line is printed only when it
// was not printed for the previous read (see the package doc: one previous
// read per logger). A read that touches no object prints nothing. A path's newlines and backslashes are written \n
// and \\, as in the text form of the map, so one line is one read.
//
// With ranges, every read's byte range is appended in lower-case hex,
// START-END with END exclusive, on a line under its object's line, which
// is the original plugin's layout byte for byte (except that it began the
// output with an empty line and left the last line unterminated):
//
//	read f /dev/sda1 /boot/grub/grub.cfg
//	 2a5000-2a5200 2a5200-2a5400
//	read d /dev/sda1 /boot/grub
//	 2a1000-2a1200
//
// An NBD_CMD_CACHE request (a prefetch hint, which the original never
// saw) is printed with "cache" in place of "read".
type Console struct {
	spooled // the output, and its writer goroutine: Flush, Sync
	ranges  bool

	// The lines of the previous read, printed or suppressed.
	last     []*bmap.Object
	lastVerb string
	open     bool // a ranges line is open (ranges only)
	lines    []*bmap.Object
}

// consoleBuffer is how much console output is gathered before it is
// handed to the writer goroutine, between the logger's flushes.
const consoleBuffer = 64 << 10

// NewConsole returns a console sink writing to w. Close flushes it but
// does not close w.
func NewConsole(w io.Writer, ranges bool) *Console {
	return &Console{spooled: newSpooled(w, consoleBuffer+4<<10), ranges: ranges}
}

// Top returns the object the console prints for ev: the first of the
// highest priority in disk order, nil if the read touched none.
func Top(ev *Event) *Object {
	if len(ev.Objects) == 0 {
		return nil
	}
	top := &ev.Objects[0]
	p := top.Kind.Priority()
	for i := 1; i < len(ev.Objects); i++ {
		o := &ev.Objects[i]
		if o.Kind.Priority() != p {
			break // objects come in priority order
		}
		if o.Off < top.Off {
			top = o
		}
	}
	return top
}

// Lines returns the objects the console prints a line for, appended to
// dst: every file whose contents (bytes with a file offset) the read
// touched, in disk order, or else Top's object alone; none when the read
// touched nothing.
func Lines(dst []*bmap.Object, ev *Event) []*bmap.Object {
	top := Top(ev)
	if top == nil {
		return dst
	}
	n := len(dst)
	if top.Kind == bmap.KindFile {
		for i := range ev.Objects {
			o := &ev.Objects[i]
			if o.Kind != bmap.KindFile {
				break // objects come in priority order
			}
			if o.FileOff >= 0 || touchesInline(o.Object, ev.Off, int64(ev.Len)) {
				dst = append(dst, o.Object)
			}
		}
		if len(dst)-n > 1 {
			// Disk order of the bytes read; Objects is ordered by the map.
			off := func(p *bmap.Object) int64 {
				for i := range ev.Objects {
					if ev.Objects[i].Object == p {
						return ev.Objects[i].Off
					}
				}
				return 0
			}
			slices.SortStableFunc(dst[n:], func(a, b *bmap.Object) int { return cmp.Compare(off(a), off(b)) })
		}
	}
	if len(dst) == n {
		dst = append(dst, top.Object)
	}
	return oneNamePerFile(dst, n, ev)
}

// oneNamePerFile keeps, among the lines dst[n:], one name per file: the
// names of a hard-linked file (same device and inode, a file with several
// names: NTFS hard links, ext's) are one file read once. The name kept is
// the preferred one (preferredName) among every name the read touched.
func oneNamePerFile(dst []*bmap.Object, n int, ev *Event) []*bmap.Object {
	out := dst[:n]
	for _, o := range dst[n:] {
		if o.Kind != bmap.KindFile || o.Inode == 0 {
			out = append(out, o)
			continue
		}
		best := o
		for i := range ev.Objects {
			c := ev.Objects[i].Object
			if c != best && c.Kind == bmap.KindFile && c.Inode == o.Inode && c.Device == o.Device && preferredName(c.Path, best.Path) {
				best = c
			}
		}
		dup := false
		for _, p := range out[n:] {
			dup = dup || p == best
		}
		if !dup {
			out = append(out, best)
		}
	}
	return out
}

// preferredName reports whether path a is the better name of a
// hard-linked file than b, for the console: a name outside a WinSxS
// directory (Windows' component store, which holds a hard link of nearly
// every system file: System32/notepad.exe is what a person recognises),
// then the shorter path, then the first in byte order.
func preferredName(a, b string) bool {
	wa, wb := inWinSxS(a), inWinSxS(b)
	if wa != wb {
		return wb
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func inWinSxS(p string) bool {
	const dir = "/winsxs/" // matched without lowering a copy of p
	for i := 0; i+len(dir) <= len(p); i++ {
		if p[i] == '/' && strings.EqualFold(p[i:i+len(dir)], dir) {
			return true
		}
	}
	return false
}

// touchesInline reports whether [off, off+n) holds part of a value stored
// inside the object's record (role inline: an NTFS resident file's bytes in
// its MFT record), which a read's first byte in the record itself does not
// show. Scanned only for reads whose first byte is not contents.
func touchesInline(o *bmap.Object, off, n int64) bool {
	for i := range o.Extents {
		e := &o.Extents[i]
		if e.Role == bmap.RoleInline && e.Off < off+n && off < e.Off+e.Len {
			return true
		}
	}
	return false
}

// Write implements Sink.
func (c *Console) Write(ev *Event) error {
	if err := c.sp.err(); err != nil {
		return err
	}
	c.lines = Lines(c.lines[:0], ev)
	if len(c.lines) == 0 {
		return nil
	}
	verb := "read"
	if ev.Cache {
		verb = "cache"
	}
	b := c.buf
	for _, o := range c.lines {
		if verb == c.lastVerb && slices.ContainsFunc(c.last, func(p *bmap.Object) bool { return sameObject(p, o) }) {
			continue
		}
		if c.open {
			b = append(b, '\n')
		}
		b = appendLine(b, verb, o)
		c.open = false
	}
	c.last, c.lines, c.lastVerb = c.lines, c.last, verb
	if c.ranges {
		b = append(b, ' ')
		b = strconv.AppendInt(b, ev.Off, 16)
		b = append(b, '-')
		b = strconv.AppendInt(b, ev.Off+int64(ev.Len), 16)
		c.open = true
	}
	c.buf = b
	return c.handOver(consoleBuffer)
}

// sameObject reports whether two objects print the same line.
func sameObject(a, b *bmap.Object) bool {
	return a == b || a.Kind == b.Kind && a.Device == b.Device && a.Path == b.Path
}

// appendLine appends "VERB TYPE DEVICE[ PATH]\n".
func appendLine(b []byte, verb string, o *bmap.Object) []byte {
	b = append(b, verb...)
	b = append(b, ' ', byte(o.Kind), ' ')
	b = append(b, o.Device...)
	if o.Path != "" {
		b = append(b, ' ')
		b = appendEscaped(b, o.Path)
	}
	return append(b, '\n')
}

// appendEscaped appends path with newlines and backslashes escaped, as
// the text form of the map writes them.
func appendEscaped(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '\n':
			b = append(b, '\\', 'n')
		case '\\':
			b = append(b, '\\', '\\')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Close ends an open ranges line, writes everything buffered and ends the
// writer goroutine. It does not close w.
func (c *Console) Close() error {
	if c.open {
		c.buf = append(c.buf, '\n')
		c.open = false
	}
	return c.close()
}
