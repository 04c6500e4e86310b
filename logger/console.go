package logger

import (
	"bufio"
	"io"
	"strconv"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// Console writes the trace as the original bmaplogger plugin printed it:
// for each read, the highest-priority object it touched (f > d > m > l > p
// > v; among objects of that priority the one holding the read's first
// byte, as the original kept the first it found),
//
//	read f /dev/sda1 /boot/grub/grub.cfg
//
// a line being printed only when it differs from the previous one (see the
// package doc: one previous line per logger). A read that touches no
// object prints nothing. A path's newlines and backslashes are written \n
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
	w      *bufio.Writer
	ranges bool
	buf    []byte

	// The line printed last.
	last     *bmap.Object
	lastVerb string
	open     bool // a ranges line is open (ranges only)
}

// NewConsole returns a console sink writing to w. Close flushes it but
// does not close w.
func NewConsole(w io.Writer, ranges bool) *Console {
	return &Console{w: bufio.NewWriterSize(w, 64<<10), ranges: ranges}
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

// Write implements Sink.
func (c *Console) Write(ev *Event) error {
	top := Top(ev)
	if top == nil {
		return nil
	}
	verb := "read"
	if ev.Cache {
		verb = "cache"
	}
	b := c.buf[:0]
	if c.last == nil || verb != c.lastVerb || !sameObject(c.last, top.Object) {
		if c.open {
			b = append(b, '\n')
		}
		b = appendLine(b, verb, top.Object)
		c.last, c.lastVerb, c.open = top.Object, verb, false
	}
	if c.ranges {
		b = append(b, ' ')
		b = strconv.AppendInt(b, ev.Off, 16)
		b = append(b, '-')
		b = strconv.AppendInt(b, ev.Off+int64(ev.Len), 16)
		c.open = true
	}
	c.buf = b
	_, err := c.w.Write(b)
	return err
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

// Flush implements Sink.
func (c *Console) Flush() error { return c.w.Flush() }

// Close ends an open ranges line and flushes.
func (c *Console) Close() error {
	if c.open {
		c.w.WriteByte('\n')
		c.open = false
	}
	return c.w.Flush()
}
