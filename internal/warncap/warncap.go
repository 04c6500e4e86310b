// Package warncap prints warnings without flooding the terminal: at most
// Max warnings of each kind on each device are printed as they come, the
// rest are counted, and Flush says how many were held back ("… and 8,205
// more like this in /dev/sda1"). A warning's kind is its message with the
// numbers (inode, block and offset values) and quoted names taken out, so
// "inode 12: bad checksum" and "inode 9127: bad checksum" are one kind.
//
// The device is the name the error carries (an error with a Device()
// method, as the volume stack's errors have), or the message's first
// word when it looks like a device ("/dev/sda1: ...").
package warncap

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// DefaultMax is how many warnings of one kind on one device are printed.
const DefaultMax = 5

// Limiter prints warnings to Out with Prefix ("virt-bmap: warning: "). Max
// is the number printed per kind and device; Max < 0 prints all (-v). It
// is safe for concurrent use.
type Limiter struct {
	Out    io.Writer
	Prefix string
	Max    int

	mu     sync.Mutex
	counts map[key]int
	order  []key
	total  int
}

type key struct{ device, shape string }

// New returns a Limiter printing at most max of each kind (max < 0: all).
func New(out io.Writer, prefix string, max int) *Limiter {
	return &Limiter{Out: out, Prefix: prefix, Max: max}
}

// Warn prints err or counts it.
func (l *Limiter) Warn(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	k := key{device(err, msg), Shape(msg)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[key]int{}
	}
	n := l.counts[k]
	if n == 0 {
		l.order = append(l.order, k)
	}
	l.counts[k] = n + 1
	l.total++
	if l.Max < 0 || n < l.Max {
		fmt.Fprintf(l.Out, "%s%s\n", l.Prefix, msg)
	}
}

// Total is the number of warnings received, printed or not.
func (l *Limiter) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Flush prints one line per kind that had warnings held back, and resets
// nothing: calling it twice prints the lines twice.
func (l *Limiter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max < 0 {
		return
	}
	for _, k := range l.order {
		if n := l.counts[k] - l.Max; n > 0 {
			where := ""
			if k.device != "" {
				where = " in " + k.device
			}
			fmt.Fprintf(l.Out, "%s… and %s more like this%s (-v shows all)\n", l.Prefix, Thousands(n), where)
		}
	}
}

// deviceNamer is an error that says which device it is about.
type deviceNamer interface{ Device() string }

func device(err error, msg string) string {
	var dn deviceNamer
	if errors.As(err, &dn) {
		return dn.Device()
	}
	if strings.HasPrefix(msg, "/dev/") {
		if i := strings.IndexAny(msg, ": "); i > 0 {
			return msg[:i]
		}
	}
	return ""
}

var (
	quoted  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)
	numbers = regexp.MustCompile(`0x[0-9a-fA-F]+|[0-9]+`)
	paths   = regexp.MustCompile(`(^|[\s(])/[^\s:,)]*`)
)

// Shape is msg with its quoted names, paths and numbers replaced, so that
// warnings that differ only in them compare equal.
func Shape(msg string) string {
	s := quoted.ReplaceAllString(msg, `"…"`)
	s = paths.ReplaceAllString(s, "$1/…")
	return numbers.ReplaceAllString(s, "#")
}

// Thousands writes n with commas: 8205 -> "8,205".
func Thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
