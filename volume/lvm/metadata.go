package lvm

import (
	"fmt"
	"strconv"
)

// The text metadata is lvm2's configuration syntax (lib/config):
//
//	vgname {
//		id = "..."
//		extent_size = 8192        # sectors
//		physical_volumes { pv0 { id = "..." pe_start = 2048 } }
//		logical_volumes { lv { segment1 { stripes = ["pv0", 0] } } }
//	}
//	contents = "Text Format Volume"
//
// Sections nest; a value is a string, an integer (or a float, kept as
// text) or a list of them. Comments run from # to the end of the line.

const (
	maxDepth  = 16      // lvm2 writes 5 levels
	maxValues = 1 << 20 // fields and list elements over the whole text
)

// Section is a named block of fields and subsections, in file order.
type Section struct {
	Name     string
	Fields   []Field
	Sections []*Section
}

// Field is "name = value".
type Field struct {
	Name  string
	Value Value
}

// Value is a string, a number or a list.
type Value struct {
	Str    string
	Int    int64
	IsStr  bool
	IsList bool
	List   []Value
}

// Sub returns the subsection named name, or nil.
func (s *Section) Sub(name string) *Section {
	if s == nil {
		return nil
	}
	for _, c := range s.Sections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Get returns the field named name.
func (s *Section) Get(name string) (Value, bool) {
	if s == nil {
		return Value{}, false
	}
	for _, f := range s.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return Value{}, false
}

// Str returns a string field, or "".
func (s *Section) Str(name string) string {
	v, _ := s.Get(name)
	if !v.IsStr {
		return ""
	}
	return v.Str
}

// Int returns an integer field and whether it is there and an integer.
func (s *Section) Int(name string) (int64, bool) {
	v, ok := s.Get(name)
	if !ok || v.IsStr || v.IsList || v.Str != "" { // a float keeps its text in Str
		return 0, false
	}
	return v.Int, true
}

// Strings returns the strings of a list field ([] when absent).
func (s *Section) Strings(name string) []string {
	v, _ := s.Get(name)
	out := []string{}
	for _, e := range v.List {
		if e.IsStr {
			out = append(out, e.Str)
		}
	}
	return out
}

// ParseMetadata parses LVM2 text metadata into a root section (named "")
// holding the VG section and the top-level fields. Errors give the line.
func ParseMetadata(text []byte) (*Section, error) {
	p := &parser{b: text, line: 1}
	root := &Section{}
	if err := p.body(root, 0, false); err != nil {
		return nil, err
	}
	return root, nil
}

type parser struct {
	b      []byte
	i      int
	line   int
	values int
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("lvm: metadata line %d: %s", p.line, fmt.Sprintf(format, a...))
}

// skip passes white space and comments.
func (p *parser) skip() {
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '\n':
			p.line++
			p.i++
		case c == ' ' || c == '\t' || c == '\r':
			p.i++
		case c == '#':
			for p.i < len(p.b) && p.b[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func identChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '=' && c != '{' && c != '}' && c != '[' && c != ']' &&
		c != '"' && c != '#' && c != ','
}

func (p *parser) ident() string {
	s := p.i
	for p.i < len(p.b) && identChar(p.b[p.i]) {
		p.i++
	}
	return string(p.b[s:p.i])
}

// body parses fields and sections until '}' (nested) or the end.
func (p *parser) body(s *Section, depth int, nested bool) error {
	for {
		p.skip()
		if p.i >= len(p.b) {
			if nested {
				return p.errf("section %q not closed", s.Name)
			}
			return nil
		}
		if p.b[p.i] == '}' {
			if !nested {
				return p.errf("unexpected '}'")
			}
			p.i++
			return nil
		}
		name := p.ident()
		if name == "" {
			return p.errf("unexpected %q", p.b[p.i])
		}
		p.skip()
		if p.i >= len(p.b) {
			return p.errf("%q: unexpected end", name)
		}
		if p.values++; p.values > maxValues {
			return p.errf("more than %d values", maxValues)
		}
		switch p.b[p.i] {
		case '{':
			if depth+1 > maxDepth {
				return p.errf("sections nested deeper than %d", maxDepth)
			}
			p.i++
			c := &Section{Name: name}
			if err := p.body(c, depth+1, true); err != nil {
				return err
			}
			s.Sections = append(s.Sections, c)
		case '=':
			p.i++
			v, err := p.value(true)
			if err != nil {
				return fmt.Errorf("%w (field %q)", err, name)
			}
			s.Fields = append(s.Fields, Field{Name: name, Value: v})
		default:
			return p.errf("%q: want '=' or '{', got %q", name, p.b[p.i])
		}
	}
}

// value parses a string, a number or (when list is true) a list.
func (p *parser) value(list bool) (Value, error) {
	p.skip()
	if p.i >= len(p.b) {
		return Value{}, p.errf("value missing")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '[' && list:
		p.i++
		v := Value{IsList: true}
		for {
			p.skip()
			if p.i >= len(p.b) {
				return Value{}, p.errf("list not closed")
			}
			if p.b[p.i] == ']' {
				p.i++
				return v, nil
			}
			if len(v.List) > 0 {
				if p.b[p.i] != ',' {
					return Value{}, p.errf("want ',' in list, got %q", p.b[p.i])
				}
				p.i++
			}
			if p.values++; p.values > maxValues {
				return Value{}, p.errf("more than %d values", maxValues)
			}
			e, err := p.value(false)
			if err != nil {
				return Value{}, err
			}
			v.List = append(v.List, e)
		}
	case c == '-' || c == '+' || c >= '0' && c <= '9' || c == '.':
		s := p.i
		for p.i < len(p.b) && (p.b[p.i] == '-' || p.b[p.i] == '+' || p.b[p.i] == '.' ||
			p.b[p.i] >= '0' && p.b[p.i] <= '9' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
			p.i++
		}
		t := string(p.b[s:p.i])
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return Value{Int: n}, nil
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return Value{Str: t}, nil // a float: kept as text, never used for a location
		}
		return Value{}, p.errf("bad number %q", t)
	}
	return Value{}, p.errf("unexpected %q in a value", p.b[p.i])
}

// str parses a double-quoted string; \x stands for x.
func (p *parser) str() (Value, error) {
	p.i++ // opening quote
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch c {
		case '"':
			return Value{Str: string(out), IsStr: true}, nil
		case '\\':
			if p.i >= len(p.b) {
				return Value{}, p.errf("string not closed")
			}
			c = p.b[p.i]
			p.i++
		case '\n':
			p.line++
		}
		out = append(out, c)
	}
	return Value{}, p.errf("string not closed")
}
