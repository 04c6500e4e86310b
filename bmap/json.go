package bmap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The JSON form is object-oriented: every object once, with all its
// extents, inode, size and the offset of each extent in the file.
//
//	{"version":1,"disks":[
//	{"index":1,"device":"/dev/sda","image":"disk.img","size":1048576}
//	],"volumes":[
//	{"device":"/dev/sda1","disk":1,"filesystem":"ext4","status":"complete","reasons":[],...}
//	],"objects":[
//	{"disk":1,"type":"v","device":"/dev/sda","extents":[{"offset":0,...}]},
//	...
//	]}
//
// One disk or object per line, so that two maps diff well. Names are
// JSON strings; a name that is not valid UTF-8 (Linux names are bytes) is
// written with U+FFFD in place of its bad bytes in "path", for people, and
// byte-exact in "path_bytes" (base64), which a reader prefers.

// jsonObject is an Object as the JSON form holds it.
type jsonObject struct {
	*Object
	PathBytes []byte `json:"path_bytes,omitempty"`
}

// JSONVersion is the version of the JSON form this package writes and
// the only one it reads.
const JSONVersion = 1

// WriteJSON writes m in the JSON form.
func WriteJSON(w io.Writer, m *Map) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	put := func(v any) error {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return err
		}
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return nil
	}
	fmt.Fprintf(bw, "{\"version\":%d,\"disks\":[", JSONVersion)
	for i := range m.Disks {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		if err := put(&m.Disks[i]); err != nil {
			return fmt.Errorf("bmap: disk %d: %w", i, err)
		}
	}
	if len(m.Disks) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("],\"volumes\":[")
	for i := range m.Volumes {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		v := m.Volumes[i]
		if v.Reasons == nil {
			v.Reasons = []string{}
		}
		if err := put(&v); err != nil {
			return fmt.Errorf("bmap: volume %d: %w", i, err)
		}
	}
	if len(m.Volumes) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("],\"objects\":[")
	var ob []byte       // one object's JSON
	var str jsonStrings // the encoder of strings that need escaping
	for i := range m.Objects {
		o := &m.Objects[i]
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		var err error
		if ob, err = appendObjectJSON(ob[:0], o, &str); err != nil {
			return fmt.Errorf("bmap: object %d (%s): %w", i, label(o), err)
		}
		bw.Write(ob)
	}
	if len(m.Objects) > 0 {
		bw.WriteByte('\n')
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bmap: writing JSON map: %w", err)
	}
	return nil
}

// MaxJSON is the largest JSON map ReadJSON accepts (the whole document is
// held in memory).
const MaxJSON = 4 << 30

// ReadJSON reads a map in the JSON form. It checks everything the text
// form and the Index rely on: a known version, disk indices in range, known
// types, devices without spaces, extents with non-negative offsets,
// positive lengths and no overflow. Unknown fields are ignored.
func ReadJSON(r io.Reader) (*Map, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("bmap: reading JSON map: %w", err)
	}
	if len(data) > MaxJSON {
		return nil, fmt.Errorf("bmap: JSON map larger than %d bytes: %w", int64(MaxJSON), ErrFormat)
	}
	return readJSON(data)
}

func readJSON(data []byte) (*Map, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lineAt := func(off int64) int {
		off = min(max(off, 0), int64(len(data)))
		return bytes.Count(data[:off], []byte("\n")) + 1
	}
	// fail turns a decoder error into a SyntaxError at the right line.
	fail := func(err error, what string) error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return &SyntaxError{lineAt(se.Offset), what + ": " + se.Error()}
		case errors.As(err, &te):
			return &SyntaxError{lineAt(te.Offset), what + ": " + te.Error()}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return &SyntaxError{lineAt(int64(len(data))), what + ": unexpected end of input"}
		}
		return &SyntaxError{lineAt(dec.InputOffset()), what + ": " + err.Error()}
	}
	delim := func(want json.Delim, what string) error {
		t, err := dec.Token()
		if err != nil {
			return fail(err, what)
		}
		if d, ok := t.(json.Delim); !ok || d != want {
			return &SyntaxError{lineAt(dec.InputOffset()), fmt.Sprintf("%s: want %q, got %v", what, want, t)}
		}
		return nil
	}

	if err := delim('{', "map"); err != nil {
		return nil, err
	}
	m := &Map{}
	version := -1
	seenDisk := make(map[int]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fail(err, "map")
		}
		key, _ := t.(string)
		switch key {
		case "version":
			if err := dec.Decode(&version); err != nil {
				return nil, fail(err, "version")
			}
			if version != JSONVersion {
				return nil, &SyntaxError{lineAt(dec.InputOffset()), fmt.Sprintf("unsupported version %d (this program reads version %d)", version, JSONVersion)}
			}
		case "disks":
			if err := delim('[', "disks"); err != nil {
				return nil, err
			}
			for i := 0; dec.More(); i++ {
				var d Disk
				if err := dec.Decode(&d); err != nil {
					return nil, fail(err, fmt.Sprintf("disk %d", i))
				}
				var msg string
				switch {
				case d.Index < 1 || d.Index > MaxDisk:
					msg = fmt.Sprintf("index %d out of range 1-%d", d.Index, MaxDisk)
				case seenDisk[d.Index]:
					msg = fmt.Sprintf("index %d appears twice", d.Index)
				case d.Size < 0:
					msg = fmt.Sprintf("negative size %d", d.Size)
				}
				if msg != "" {
					return nil, &SyntaxError{lineAt(dec.InputOffset()), fmt.Sprintf("disk %d: %s", i, msg)}
				}
				seenDisk[d.Index] = true
				m.Disks = append(m.Disks, d)
			}
			if err := delim(']', "disks"); err != nil {
				return nil, err
			}
		case "volumes":
			if err := delim('[', "volumes"); err != nil {
				return nil, err
			}
			for i := 0; dec.More(); i++ {
				var v Volume
				if err := dec.Decode(&v); err != nil {
					return nil, fail(err, fmt.Sprintf("volume %d", i))
				}
				m.Volumes = append(m.Volumes, v)
			}
			if err := delim(']', "volumes"); err != nil {
				return nil, err
			}
		case "objects":
			if err := delim('[', "objects"); err != nil {
				return nil, err
			}
			for i := 0; dec.More(); i++ {
				var o Object
				jo := jsonObject{Object: &o}
				if err := dec.Decode(&jo); err != nil {
					return nil, fail(err, fmt.Sprintf("object %d", i))
				}
				if jo.PathBytes != nil {
					o.Path = string(jo.PathBytes)
				}
				if err := checkJSONObject(&o); err != nil {
					return nil, &SyntaxError{lineAt(dec.InputOffset()), fmt.Sprintf("object %d (%s): %v", i, label(&o), err)}
				}
				m.Objects = append(m.Objects, o)
			}
			if err := delim(']', "objects"); err != nil {
				return nil, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fail(err, fmt.Sprintf("field %q", key))
			}
		}
	}
	if err := delim('}', "map"); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SyntaxError{lineAt(dec.InputOffset()), "data after the end of the map"}
	}
	if version < 0 {
		return nil, &SyntaxError{1, "no version: not a virt-bmap JSON map"}
	}
	return m, nil
}

// checkJSONObject checks one decoded object.
func checkJSONObject(o *Object) error {
	if err := checkObject(o); err != nil {
		return err
	}
	if o.Size < 0 {
		return fmt.Errorf("negative size %d", o.Size)
	}
	if len(o.Extents) == 0 {
		o.Extents = nil // as the Builder leaves it
	}
	for j, e := range o.Extents {
		switch {
		case e.Off < 0:
			return fmt.Errorf("extent %d: negative offset %d", j, e.Off)
		case e.Len <= 0:
			return fmt.Errorf("extent %d: length %d, want > 0", j, e.Len)
		case e.Off > maxOff-e.Len:
			return fmt.Errorf("extent %d: offset %d + length %d overflows", j, e.Off, e.Len)
		case e.FileOff < -1:
			return fmt.Errorf("extent %d: file offset %d, want >= -1", j, e.FileOff)
		case e.FileOff > maxOff-e.Len:
			return fmt.Errorf("extent %d: file offset %d + length %d overflows", j, e.FileOff, e.Len)
		}
	}
	return nil
}

// appendObjectJSON appends o as encoding/json writes a jsonObject (the
// same bytes: the fields in order, omitempty, an empty extent list as [],
// path_bytes in base64 for a path that is not UTF-8), without reflection:
// the objects are most of a map, a million on a large disk, and
// encoding/json spent more time on them than the filesystem walk.
// json_test.go checks the bytes against encoding/json.
func appendObjectJSON(b []byte, o *Object, str *jsonStrings) ([]byte, error) {
	if !o.Kind.Valid() {
		return b, fmt.Errorf("json: error calling MarshalText for type bmap.Kind: invalid object kind %d", byte(o.Kind))
	}
	b = append(b, `{"disk":`...)
	b = strconv.AppendInt(b, int64(o.Disk), 10)
	b = append(b, `,"type":"`...)
	b = append(b, byte(o.Kind))
	b = append(b, `","device":`...)
	b = str.append(b, o.Device)
	if o.Path != "" {
		b = append(b, `,"path":`...)
		b = str.append(b, o.Path)
	}
	if o.Inode != 0 {
		b = append(b, `,"inode":`...)
		b = strconv.AppendUint(b, o.Inode, 10)
	}
	if o.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, o.Size, 10)
	}
	if o.Symlink {
		b = append(b, `,"symlink":true`...)
	}
	b = append(b, `,"extents":[`...)
	for i := range o.Extents {
		e := &o.Extents[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"offset":`...)
		b = strconv.AppendInt(b, e.Off, 10)
		b = append(b, `,"length":`...)
		b = strconv.AppendInt(b, e.Len, 10)
		b = append(b, `,"file_offset":`...)
		b = strconv.AppendInt(b, e.FileOff, 10)
		b = append(b, `,"role":`...)
		b = str.append(b, string(e.Role))
		if e.Unwritten {
			b = append(b, `,"unwritten":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if !utf8.ValidString(o.Path) {
		b = append(b, `,"path_bytes":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(o.Path))
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// jsonStrings appends JSON strings: plain printable ASCII as it is, and
// anything else (quotes, backslashes, control characters, non-ASCII, bad
// UTF-8) through encoding/json, so that every escape is encoding/json's
// (with SetEscapeHTML(false), as the rest of the map).
type jsonStrings struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func (j *jsonStrings) append(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	if j.enc == nil {
		j.enc = json.NewEncoder(&j.buf)
		j.enc.SetEscapeHTML(false)
	}
	j.buf.Reset()
	j.enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(j.buf.Bytes(), []byte("\n"))...)
}
