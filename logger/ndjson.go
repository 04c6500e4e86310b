package logger

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// The NDJSON trace is one JSON object per line. The first line is a
// header, every other line one request, in the order the requests were
// logged:
//
//	{"version":1,"start":"2026-11-20T10:00:00.123456789Z","exports":[
//	 {"name":"win7.img","disk":1,"device":"/dev/sda","image":"/vm/win7.img","size":42949672960}]}
//	{"t_ns":1234567,"dur_ns":8200,"conn":1,"export":"win7.img","disk":1,"off":1048576,"len":4096,
//	 "objects":[{"type":"f","device":"/dev/sda1","path":"/Boot/BCD","inode":57,"off":1048576,"len":4096,"file_off":8192},
//	            {"type":"p","device":"/dev/sda1","off":1048576,"len":4096,"file_off":-1},
//	            {"type":"v","device":"/dev/sda","off":1048576,"len":4096,"file_off":-1}]}
//
// (each shown here on several lines; one line each in the file).
//
// Header: "version" is NDJSONVersion, bumped on any incompatible change
// (fields may be added without a bump: readers ignore unknown fields);
// "start" is the time t_ns counts from (RFC 3339, nanoseconds, UTC);
// "exports" lists what was served: export name, the map's disk index,
// its device, the image path and size in bytes.
//
// Event: "t_ns" is when the request arrived, in nanoseconds since
// "start"; "dur_ns" the time the server took to read its data (for a
// read sent with sendfile(2), the time in sendfile, without waits for
// the client to take earlier data); "conn" the connection
// (from 1); "export" and "disk" what it read; "off" and "len" the request
// in bytes; "cache":true for an NBD_CMD_CACHE (prefetch) request, absent
// for a read; "error" the error the client got, absent on success;
// "objects" every object of the map the request touched, highest priority
// first (f, d, m, l, p, v; within one type the narrowest first), never
// null. Per object: "type" (v p l m d f), "device", "path" (absent for
// disks and partitions; a name that is not valid UTF-8 has U+FFFD for its
// bad bytes in "path" and is byte-exact in "path_bytes", base64, as in
// the JSON map), "inode" (when the map knows it), "off" and "len" the
// part of the request inside the object as a disk offset and a byte count,
// and "file_off" the offset inside the file or directory of the byte at
// "off" (-1 when that byte is not contents: metadata, an index block, a
// partition).
//
// Last line: bmaplogger ends a trace with {"connections":N}, the number
// of connections the server accepted, those that read nothing included
// (nbdinfo asks for the size and the map and reads nothing); a reader
// that decodes every line as an event must skip it. ReadNDJSON puts it in
// Header.Connections.

// NDJSONVersion is the version of the NDJSON trace this package writes.
const NDJSONVersion = 1

// Header is the NDJSON trace's first line.
type Header struct {
	Version int           `json:"version"`
	Start   time.Time     `json:"start"`
	Exports []ExportEntry `json:"exports"`
	// Connections is not in the first line: ReadNDJSON fills it from the
	// trace's last line, {"connections":N}, the number of connections the
	// server accepted (those that read nothing too), which a trace closed
	// after SetConnections ends with.
	Connections uint64 `json:"-"`
}

// ExportEntry is one export in the Header.
type ExportEntry struct {
	Name   string `json:"name"`
	Disk   int    `json:"disk"`
	Device string `json:"device"`
	Image  string `json:"image,omitempty"`
	Size   int64  `json:"size"`
}

// JSONEvent is an event line of the NDJSON trace, for readers.
type JSONEvent struct {
	T       int64        `json:"t_ns"`
	Dur     int64        `json:"dur_ns"`
	Conn    uint64       `json:"conn"`
	Export  string       `json:"export"`
	Disk    int          `json:"disk"`
	Off     int64        `json:"off"`
	Len     uint32       `json:"len"`
	Cache   bool         `json:"cache,omitempty"`
	Error   string       `json:"error,omitempty"`
	Objects []JSONObject `json:"objects"`
}

// JSONObject is one object of a JSONEvent.
type JSONObject struct {
	Type      bmap.Kind `json:"type"`
	Device    string    `json:"device"`
	Path      string    `json:"path,omitempty"`
	PathBytes []byte    `json:"path_bytes,omitempty"`
	Inode     uint64    `json:"inode,omitempty"`
	Off       int64     `json:"off"`
	Len       int64     `json:"len"`
	FileOff   int64     `json:"file_off"`
}

// Name is the object's path, byte-exact.
func (o *JSONObject) Name() string {
	if o.PathBytes != nil {
		return string(o.PathBytes)
	}
	return o.Path
}

// NDJSON writes the trace as NDJSON (see the schema above). Events are
// encoded by hand, straight into the output buffer (no allocation per
// event, no copy but the write), which is handed to a goroutine that
// writes it to w (spool.go) whenever it holds ndjsonBuffer bytes and when
// the logger flushes. The part of an object's JSON that does not depend
// on the read ({"type":...,"device":...,"path":...,"inode":N,"off":) is
// built once per *bmap.Object and reused: the objects of a map are fixed
// while it is served.
type NDJSON struct {
	spooled // the output, and its writer goroutine: Flush, Sync

	prefix bmap.ObjectMap[prefixRef] // where each object's prefix is in arena
	arena  []byte                    // the prefixes, back to back
	conns  uint64                    // SetConnections

	// The middle of the last event line, from ,"export": to "off":, for
	// its export and disk: the same for every event of a one-disk trace.
	mid     []byte
	midExp  string
	midDisk int
	midSet  bool
}

// prefixRef locates an object's prefix in NDJSON.arena (n > 0).
type prefixRef struct{ off, n uint32 }

const (
	// ndjsonBuffer is how much NDJSON output is gathered per write(2).
	ndjsonBuffer = 256 << 10
	// maxPrefixArena bounds the memory of cached object prefixes; past
	// it, further objects are encoded every time.
	maxPrefixArena = 32 << 20
)

// NewNDJSON returns a sink writing to w, and writes the header line
// (h.Version is set to NDJSONVersion). Close flushes but does not close w.
func NewNDJSON(w io.Writer, h Header) (*NDJSON, error) {
	h.Version = NDJSONVersion
	h.Start = h.Start.UTC()
	if h.Exports == nil {
		h.Exports = []ExportEntry{}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("ndjson header: %w", err)
	}
	n := &NDJSON{spooled: newSpooled(w, ndjsonBuffer+64<<10)}
	n.buf = append(append(n.buf, b...), '\n')
	return n, nil
}

// Write implements Sink.
func (n *NDJSON) Write(ev *Event) error {
	if err := n.sp.err(); err != nil {
		return err
	}
	b := n.buf
	b = append(b, `{"t_ns":`...)
	b = appendInt(b, int64(ev.Time))
	b = append(b, `,"dur_ns":`...)
	b = appendInt(b, int64(ev.Dur))
	b = append(b, `,"conn":`...)
	b = appendUint(b, ev.Conn)
	if !n.midSet || ev.Export != n.midExp || ev.Disk != n.midDisk {
		m := append(n.mid[:0], `,"export":`...)
		m = appendJSONString(m, ev.Export)
		m = append(m, `,"disk":`...)
		m = appendInt(m, int64(ev.Disk))
		n.mid = append(m, `,"off":`...)
		n.midExp, n.midDisk, n.midSet = ev.Export, ev.Disk, true
	}
	b = append(b, n.mid...)
	// The read's offset and length, as digits: most objects of a read
	// hold all of it and repeat them.
	offAt := len(b)
	b = appendInt(b, ev.Off)
	offDigits := b[offAt:]
	b = append(b, `,"len":`...)
	lenAt := len(b)
	b = appendUint(b, uint64(ev.Len))
	lenDigits := b[lenAt:]
	if ev.Cache {
		b = append(b, `,"cache":true`...)
	}
	if ev.Err != nil {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, ev.Err.Error())
	}
	b = append(b, `,"objects":[`...)
	for i := range ev.Objects {
		o := &ev.Objects[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = n.appendPrefix(b, o.Object)
		if o.Off == ev.Off {
			b = append(b, offDigits...)
		} else {
			b = appendInt(b, o.Off)
		}
		b = append(b, `,"len":`...)
		if o.Len == int64(ev.Len) {
			b = append(b, lenDigits...)
		} else {
			b = appendInt(b, o.Len)
		}
		if o.FileOff == -1 {
			b = append(b, `,"file_off":-1}`...)
			continue
		}
		b = append(b, `,"file_off":`...)
		b = appendInt(b, o.FileOff)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	n.buf = b
	return n.handOver(ndjsonBuffer)
}

// SetMap tells the sink the map whose objects the events name, before
// the first Write: their prefixes are then found by the object's index
// in it, an array of 8 bytes an object, rather than by pointer in a Go
// map (bmap.ObjectMap).
func (n *NDJSON) SetMap(m *bmap.Map) { n.prefix = bmap.NewObjectMap[prefixRef](m) }

// appendPrefix appends o's JSON up to the value of "off", from the cache.
func (n *NDJSON) appendPrefix(b []byte, o *bmap.Object) []byte {
	if r, ok := n.prefix.Get(o); ok {
		return append(b, n.arena[r.off:r.off+r.n]...)
	}
	if len(n.arena) >= maxPrefixArena {
		return appendObjectPrefix(b, o)
	}
	start := len(n.arena)
	n.arena = appendObjectPrefix(n.arena, o)
	n.prefix.Put(o, prefixRef{uint32(start), uint32(len(n.arena) - start)})
	return append(b, n.arena[start:]...)
}

// appendObjectPrefix appends {"type":...,"device":...[,"path":...
// [,"path_bytes":...]][,"inode":N],"off": for o.
func appendObjectPrefix(b []byte, o *bmap.Object) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, byte(o.Kind))
	b = append(b, `","device":`...)
	b = appendJSONString(b, o.Device)
	if o.Path != "" {
		b = append(b, `,"path":`...)
		b = appendJSONString(b, o.Path)
		if !utf8.ValidString(o.Path) {
			b = append(b, `,"path_bytes":"`...)
			b = base64.StdEncoding.AppendEncode(b, []byte(o.Path))
			b = append(b, '"')
		}
	}
	if o.Inode != 0 {
		b = append(b, `,"inode":`...)
		b = appendUint(b, o.Inode)
	}
	return append(b, `,"off":`...)
}

// SetConnections gives the number of connections the server accepted,
// written by Close as the trace's last line, {"connections":N}: the reads
// alone show only the connections that read something.
func (n *NDJSON) SetConnections(c uint64) { n.conns = c }

// Close implements Sink: it writes the connections line if
// SetConnections gave one, and everything buffered, and ends the writer
// goroutine. It does not close w.
func (n *NDJSON) Close() error {
	if n.conns > 0 {
		n.buf = append(n.buf, `{"connections":`...)
		n.buf = appendUint(n.buf, n.conns)
		n.buf = append(n.buf, "}\n"...)
		n.conns = 0
	}
	return n.close()
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// MaxNDJSONLine is the longest line ReadNDJSON accepts.
const MaxNDJSONLine = 64 << 20

// ReadNDJSON reads an NDJSON trace: the header, then fn for every event in
// order. It fails on a header of another version, and on a malformed line
// with its line number.
func ReadNDJSON(r io.Reader, fn func(*JSONEvent) error) (*Header, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxNDJSONLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("ndjson: line 1: %w", err)
		}
		return nil, errors.New("ndjson: empty trace: no header")
	}
	h := new(Header)
	if err := json.Unmarshal(sc.Bytes(), h); err != nil {
		return nil, fmt.Errorf("ndjson: line 1 (header): %w", err)
	}
	if h.Version != NDJSONVersion {
		return nil, fmt.Errorf("ndjson: line 1: trace version %d, want %d", h.Version, NDJSONVersion)
	}
	for line := 2; sc.Scan(); line++ {
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"connections":`)) {
			var c struct{ Connections uint64 }
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return h, fmt.Errorf("ndjson: line %d: %w", line, err)
			}
			h.Connections = c.Connections
			continue
		}
		var ev JSONEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return h, fmt.Errorf("ndjson: line %d: %w", line, err)
		}
		if err := fn(&ev); err != nil {
			return h, err
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("ndjson: %w", err)
	}
	return h, nil
}
