package bmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/fs"
)

// The text form is the original virt-bmap's: one line per (segment,
// object),
//
//	DISK START END TYPE DEVICE[ PATH]
//
// DISK is the 1-based disk index in decimal, START and END the segment's
// first byte and the byte after its last, in lower-case hex without 0x.
// TYPE is the object's kind letter, DEVICE its device (no spaces) and PATH,
// when the object has one, the rest of the line. A newline in PATH is
// written \n and a backslash \\; the original wrote names raw, so on
// reading a backslash followed by anything else is kept as it is.
//
// The segments are those of the original's boost::icl interval_map: the
// maximal intervals over which the set of objects does not change (an
// object is identified by its line text, so two objects with the same
// disk, type, device and path are one). Within a segment the lines are in
// byte order of "TYPE DEVICE PATH", which is the order of the original's
// std::set<std::string>: d, f, l, m, p, v, then device, then path.

// MaxDisk is the largest disk index a map may use.
const MaxDisk = 1<<16 - 1

// MaxLine is the longest line ReadText accepts, newline excluded.
const MaxLine = 1 << 20

// ErrFormat is wrapped by every error the readers return for malformed
// input.
var ErrFormat = errors.New("malformed block map")

// SyntaxError is a malformed line (text form) or a malformed document
// (JSON form). It wraps ErrFormat.
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("bmap: line %d: %s", e.Line, e.Msg) }

// Unwrap returns ErrFormat.
func (e *SyntaxError) Unwrap() error { return ErrFormat }

// textKey identifies an object in the text form.
type textKey struct {
	disk         int
	kind         fs.Kind
	device, path string
}

// checkObject tells whether o can be written: a disk index in range, a
// known kind and a device that fits in one field.
func checkObject(o *Object) error {
	switch {
	case o.Disk < 1 || o.Disk > MaxDisk:
		return fmt.Errorf("disk index %d out of range 1-%d", o.Disk, MaxDisk)
	case !o.Kind.Valid():
		return fmt.Errorf("invalid type %v", o.Kind)
	case o.Device == "":
		return errors.New("empty device")
	case strings.ContainsAny(o.Device, " \n"):
		return fmt.Errorf("device %q contains a space or a newline", o.Device)
	}
	return nil
}

// appendEscaped appends path with newlines and backslashes escaped.
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

// unescape undoes appendEscaped; a backslash not followed by n or a
// backslash is kept.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b = append(b, '\n')
				i++
				continue
			case '\\':
				b = append(b, '\\')
				i++
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

// WriteText writes m in the segmented text form of the original
// virt-bmap. Objects without extents do not appear. It fails on an object
// the form cannot hold (bad disk index, kind or device) or an extent with
// a negative offset or length; empty extents are skipped.
func WriteText(w io.Writer, m *Map) error {
	keys := make(map[textKey]int32)
	var (
		sfx   []byte  // "TYPE DEVICE PATH" of every key, back to back
		sfxAt []int32 // key i's text is sfx[sfxAt[i]:sfxAt[i+1]]
		spans []span
	)
	sfxAt = append(sfxAt, 0)
	for i := range m.Objects {
		o := &m.Objects[i]
		if len(o.Extents) == 0 {
			continue
		}
		if err := checkObject(o); err != nil {
			return fmt.Errorf("bmap: object %d (%s %s): %w", i, o.Device, o.Path, err)
		}
		k := textKey{o.Disk, o.Kind, o.Device, o.Path}
		id, ok := keys[k]
		if !ok {
			id = int32(len(keys))
			keys[k] = id
			sfx = append(sfx, byte(o.Kind), ' ')
			sfx = append(sfx, o.Device...)
			if o.Path != "" {
				sfx = append(sfx, ' ')
				sfx = appendEscaped(sfx, o.Path)
			}
			sfxAt = append(sfxAt, int32(len(sfx)))
		}
		for j, e := range o.Extents {
			if e.Len == 0 {
				continue
			}
			if !validExtent(e) {
				return fmt.Errorf("bmap: object %d (%s %s) extent %d: bad range offset %d length %d",
					i, o.Device, o.Path, j, e.Off, e.Len)
			}
			spans = append(spans, span{off: e.Off, end: e.End(), disk: int32(o.Disk), id: id, obj: int32(i), ext: int32(j)})
		}
	}
	nid := len(keys)
	text := func(id int32) []byte { return sfx[sfxAt[id]:sfxAt[id+1]] }
	order := make([]int32, nid)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(text(a), text(b)) })
	rank := make([]int32, nid)
	for r, id := range order {
		rank[id] = int32(r)
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 64)
	sweep(spans, nid, rank, true, func(disk int32, start, end int64, active []int32) {
		buf = strconv.AppendInt(buf[:0], int64(disk), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, start, 16)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, end, 16)
		buf = append(buf, ' ')
		last := int32(-1)
		for _, k := range active {
			id := spans[k].id
			if id == last {
				continue
			}
			last = id
			bw.Write(buf)
			bw.Write(text(id))
			bw.WriteByte('\n')
		}
	})
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bmap: writing text map: %w", err)
	}
	return nil
}
