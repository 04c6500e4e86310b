package bmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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
	kind         Kind
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
	// The extents' starts and ends are sorted as integers and swept
	// (textsweep.go); the lines of a segment are kept in the order of
	// their texts "TYPE DEVICE PATH", and objects with the same text
	// (which the original's sets hold once) found, by comparing the
	// objects' fields as spans enter and leave. No sort of the names, no
	// table of them, no copy of them: on a map of a million objects,
	// sorting the names cost more than all the rest.
	nspans := 0
	var okDevice string // the last device checked: most objects share it
	var orBits uint64   // every start and end ORed: their common trailing zeros
	var maxEnd int64
	var disks []int // the disks of the objects with extents
	lastDisk := 0
	for i := range m.Objects {
		o := &m.Objects[i]
		if len(o.Extents) == 0 {
			continue
		}
		if o.Device == "" || o.Device != okDevice || !o.Kind.Valid() || o.Disk < 1 || o.Disk > MaxDisk {
			if err := checkObject(o); err != nil {
				return fmt.Errorf("bmap: object %d (%s): %w", i, label(o), err)
			}
			okDevice = o.Device
		}
		for j := range o.Extents {
			e := &o.Extents[j]
			if e.Len == 0 {
				continue
			}
			if !validExtent(*e) {
				return fmt.Errorf("bmap: object %d (%s) extent %d: bad range offset %d length %d",
					i, label(o), j, e.Off, e.Len)
			}
			nspans++
			orBits |= uint64(e.Off) | uint64(e.End())
			maxEnd = max(maxEnd, e.End())
		}
		if o.Disk != lastDisk {
			lastDisk = o.Disk
			if !slices.Contains(disks, o.Disk) {
				disks = append(disks, o.Disk)
			}
		}
	}
	slices.Sort(disks)
	b := newBounds(m, disks, nspans, orBits, maxEnd)
	tw := textWriter{w: w, buf: make([]byte, 0, textBuf+4096)}
	sweepText(m.Objects, b, &tw)
	if err := tw.flush(); err != nil {
		return fmt.Errorf("bmap: writing text map: %w", err)
	}
	return nil
}

// ReadText reads a map in the text form. Consecutive or adjacent segments
// of one (disk, type, device, path) become one object whose extents are
// the maximal runs of its segments, in disk order.
//
// The text form does not carry inodes, sizes or file offsets. For files
// and directories each extent gets RoleData and, as FileOff, the offset of
// its first byte in the concatenation of the object's extents in disk
// order: exact for an object whose blocks are in file order on disk (most
// files), an approximation otherwise; only the JSON form is exact. Disks,
// partitions, logical volumes and metadata get RoleMeta and FileOff -1, as
// the scanner gives them. The disks of the map are the disk indices seen,
// each with the device of its v object and the largest END as its size.
func ReadText(r io.Reader) (*Map, error) { return readText(r, 0) }

// readText reads the text form; skipped is the number of lines the caller
// already consumed, so that errors carry the line of the whole input.
func readText(r io.Reader, skipped int) (*Map, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine+1)
	sc.Split(splitLines)
	m := &Map{}
	keys := make(map[textKey]int)
	type diskInfo struct {
		device string
		size   int64
	}
	disks := make(map[int]*diskInfo)
	line := skipped
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		if len(b) > MaxLine {
			return nil, &SyntaxError{line, fmt.Sprintf("line longer than %d bytes", MaxLine)}
		}
		l, err := parseLine(b)
		if err != nil {
			return nil, &SyntaxError{line, err.Error()}
		}
		k := textKey{l.disk, l.kind, l.device, l.path}
		i, ok := keys[k]
		if !ok {
			i = len(m.Objects)
			keys[k] = i
			m.Objects = append(m.Objects, Object{Disk: l.disk, Kind: l.kind, Device: string(l.device), Path: l.path})
		}
		o := &m.Objects[i]
		if n := len(o.Extents); n > 0 && o.Extents[n-1].End() == l.start {
			o.Extents[n-1].Len += l.end - l.start
		} else {
			o.Extents = append(o.Extents, Extent{Off: l.start, Len: l.end - l.start})
		}
		d := disks[l.disk]
		if d == nil {
			d = &diskInfo{}
			disks[l.disk] = d
		}
		d.size = max(d.size, l.end)
		if l.kind == KindDisk && d.device == "" {
			d.device = l.device
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &SyntaxError{line + 1, fmt.Sprintf("line longer than %d bytes", MaxLine)}
		}
		return nil, fmt.Errorf("bmap: reading text map after line %d: %w", line, err)
	}
	for i := range m.Objects {
		finishTextObject(&m.Objects[i])
	}
	for idx, d := range disks {
		m.Disks = append(m.Disks, Disk{Index: idx, Device: d.device, Size: d.size})
	}
	slices.SortFunc(m.Disks, func(a, b Disk) int { return a.Index - b.Index })
	return m, nil
}

// splitLines splits at '\n' only: a '\r' may be part of a name.
func splitLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// finishTextObject sorts and merges the extents of an object read from
// the text form and gives them roles and file offsets.
func finishTextObject(o *Object) {
	ex := o.Extents
	if !slices.IsSortedFunc(ex, func(a, b Extent) int { return cmpInt64(a.Off, b.Off) }) {
		slices.SortFunc(ex, func(a, b Extent) int { return cmpInt64(a.Off, b.Off) })
	}
	// Merge overlapping or touching extents (only a hand-made map has
	// them: the writer never repeats an object within a segment).
	n := 0
	for _, e := range ex {
		if n > 0 && e.Off <= ex[n-1].End() {
			if e.End() > ex[n-1].End() {
				ex[n-1].Len = e.End() - ex[n-1].Off
			}
			continue
		}
		ex[n] = e
		n++
	}
	ex = ex[:n:n]
	content := o.Kind == KindFile || o.Kind == KindDir
	var at int64
	for i := range ex {
		if content {
			ex[i].Role, ex[i].FileOff = RoleData, at
			at += ex[i].Len
		} else {
			ex[i].Role, ex[i].FileOff = RoleMeta, -1
		}
	}
	o.Extents = ex
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type textLine struct {
	disk         int
	start, end   int64
	kind         Kind
	device, path string
}

// parseLine parses "DISK START END TYPE DEVICE[ PATH]".
func parseLine(b []byte) (textLine, error) {
	var l textLine
	var f [5][]byte
	rest := b
	for i := 0; i < 4; i++ {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return l, fmt.Errorf("missing fields: want DISK START END TYPE DEVICE [PATH], got %d", i+1)
		}
		f[i], rest = rest[:sp], rest[sp+1:]
	}
	hasPath := false
	if sp := bytes.IndexByte(rest, ' '); sp < 0 {
		f[4], rest = rest, nil
	} else {
		f[4], rest, hasPath = rest[:sp], rest[sp+1:], true
	}
	names := [...]string{"DISK", "START", "END", "TYPE", "DEVICE"}
	for i, x := range f {
		if len(x) == 0 {
			return l, fmt.Errorf("empty %s field (fields are separated by one space)", names[i])
		}
	}
	d, err := parseDec(f[0])
	if err != nil || d < 1 || d > MaxDisk {
		return l, fmt.Errorf("bad disk index %q: want 1-%d", clip(f[0]), MaxDisk)
	}
	l.disk = int(d)
	if l.start, err = parseHex(f[1]); err != nil {
		return l, fmt.Errorf("bad START %q: %w", clip(f[1]), err)
	}
	if l.end, err = parseHex(f[2]); err != nil {
		return l, fmt.Errorf("bad END %q: %w", clip(f[2]), err)
	}
	switch {
	case l.end < l.start:
		return l, fmt.Errorf("END %x before START %x", l.end, l.start)
	case l.end == l.start:
		return l, fmt.Errorf("empty range: END %x equals START", l.end)
	}
	if len(f[3]) != 1 || !Kind(f[3][0]).Valid() {
		return l, fmt.Errorf("unknown type %q: want one of v p l m d f", clip(f[3]))
	}
	l.kind = Kind(f[3][0])
	l.device = string(f[4])
	if hasPath {
		l.path = unescape(string(rest))
	}
	return l, nil
}

// clip shortens a field for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

var errNotHex = errors.New("not lower-case hex without 0x, at most 7fffffffffffffff")

// parseHex parses a non-negative int64 in hex (either case, no prefix).
func parseHex(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 16 {
		return 0, errNotHex
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errNotHex
		}
		v = v<<4 | uint64(d)
	}
	if v > uint64(maxOff) {
		return 0, errNotHex
	}
	return int64(v), nil
}

// parseDec parses a small decimal number.
func parseDec(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, errNotHex
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errNotHex
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

// label names an object in an error message as a text line would.
func label(o *Object) string {
	s := fmt.Sprintf("%v %s", o.Kind, o.Device)
	if o.Path != "" {
		s += " " + string(appendEscaped(nil, o.Path))
	}
	return s
}
