package windows

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"www.velocidex.com/golang/regparser"
)

// Caps on what one hive may make us read.
const (
	maxIndexDepth = 4       // ri -> li/lh levels under a key
	maxSubkeys    = 1 << 16 // subkeys listed for one key
	maxValues     = 1 << 14 // values listed for one key
	maxValueData  = 1 << 20 // bytes of one value
	maxKeyDepth   = 64      // components in a key path
	hivePage      = 4096
	hiveRootCell  = 0x1000 // cell offsets count from the first hbin
)

// hive is a registry hive opened through regparser.
type hive struct {
	reg  *regparser.Registry
	r    *pagedReader
	size int64
}

// errBudget is returned once a hive has made regparser read more than
// its budget of bytes (a corrupt hive whose lists point back into
// themselves or name huge counts).
var errBudget = errors.New("registry: read budget exhausted (corrupt or looping hive)")

// readBudget is how many bytes regparser may read from a hive of size
// bytes: enough for every key and value many times over.
func readBudget(size int64) int64 { return 16*size + 1<<20 }

// key is one key of a hive.
type key struct {
	h  *hive
	nk *regparser.CM_KEY_NODE
}

// guard turns a panic inside regparser into an error in *err.
func guard(err *error, what string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("registry %s: malformed hive (regparser: %v)", what, p)
	}
}

// openHive opens the hive in r (size bytes).
func openHive(r io.ReaderAt, size int64) (h *hive, err error) {
	defer guard(&err, "header")
	pr := &pagedReader{r: r, size: size, budget: readBudget(size)}
	reg, err := regparser.NewRegistry(pr)
	if err != nil {
		return nil, fmt.Errorf("registry header at 0x0: %w", err)
	}
	return &hive{reg: reg, r: pr, size: size}, nil
}

// root returns the root key.
func (h *hive) root() (k *key, err error) {
	defer guard(&err, "root key")
	cell := h.reg.Profile.HCELL(h.reg.Reader, hiveRootCell+int64(h.reg.BaseBlock.RootCell()))
	nk := cell.KeyNode()
	if nk == nil {
		return nil, fmt.Errorf("registry root cell at 0x%x: not a key (nk) cell", cell.Offset)
	}
	return &key{h: h, nk: nk}, nil
}

// open returns the key at path (backslash-separated, relative to the
// root, matched case-insensitively), or nil if there is none.
func (h *hive) open(path string) (*key, error) {
	k, err := h.root()
	if err != nil {
		return nil, err
	}
	comps := strings.Split(path, `\`)
	if len(comps) > maxKeyDepth {
		return nil, fmt.Errorf("registry key %q: too deep", path)
	}
	for _, c := range comps {
		if c == "" {
			continue
		}
		subs, err := k.subkeys()
		if err != nil {
			return nil, err
		}
		if k.h.r.budget <= 0 {
			return nil, errBudget
		}
		var next *key
		for _, s := range subs {
			if strings.EqualFold(s.name, c) {
				next = s.key
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		k = next
	}
	return k, nil
}

// namedKey is a subkey with its name.
type namedKey struct {
	name string
	key  *key
}

// subkeys lists k's subkeys, walking the lf/lh/li/ri index cells with
// caps on depth and count (regparser's own walk recurses without one).
func (k *key) subkeys() (out []namedKey, err error) {
	defer guard(&err, "subkey list")
	lists := k.nk.SubKeyLists()
	if len(lists) == 0 || k.nk.SubKeyCounts()[0] == 0 {
		return nil, nil
	}
	p := k.h.reg.Profile
	r := k.h.reg.Reader
	var walk func(cell *regparser.HCELL, depth int)
	walk = func(cell *regparser.HCELL, depth int) {
		if depth > maxIndexDepth || len(out) >= maxSubkeys {
			return
		}
		if fl := cell.KeyIndexFast(); fl != nil {
			for _, e := range regparser.ParseSafeArray_CM_KEY_INDEX_FAST_ELEMENT(p, r, fl.Offset+p.Off_CM_KEY_INDEX_FAST_List, int(fl.Count())) {
				if len(out) >= maxSubkeys || k.h.r.budget <= 0 {
					return
				}
				if nk := p.HCELL(r, hiveRootCell+int64(e.NodeOffset())).KeyNode(); nk != nil {
					out = append(out, namedKey{nk.Name(), &key{k.h, nk}})
				}
			}
			return
		}
		if idx := cell.KeyIndex(); idx != nil {
			for _, off := range regparser.ParseSafeArray_uint32(r, idx.Offset+p.Off_CM_KEY_INDEX_List, int(idx.Count())) {
				if len(out) >= maxSubkeys || k.h.r.budget <= 0 {
					return
				}
				child := p.HCELL(r, hiveRootCell+int64(off))
				if nk := child.KeyNode(); nk != nil {
					out = append(out, namedKey{nk.Name(), &key{k.h, nk}})
				} else {
					walk(child, depth+1)
				}
			}
		}
	}
	walk(p.HCELL(r, hiveRootCell+int64(lists[0])), 0)
	if k.h.r.budget <= 0 {
		return out, errBudget
	}
	return out, nil
}

// value is one value of a key, its data decoded by regparser.
type value struct {
	name string
	typ  uint32
	data *regparser.ValueData
}

var errValueTooLarge = errors.New("value too large")

// values lists k's values (at most maxValues); values over maxValueData
// bytes are listed without data.
func (k *key) values() (out []value, err error) {
	defer guard(&err, "value list")
	p := k.h.reg.Profile
	r := k.h.reg.Reader
	vl := k.nk.ValueList()
	n := vl.Count()
	if n == 0 {
		return nil, nil
	}
	if n > maxValues {
		n = maxValues
	}
	list := p.HCELL(r, hiveRootCell+int64(vl.List()))
	for _, off := range regparser.ParseSafeArray_uint32(r, list.Payload(), int(n)) {
		vk := p.HCELL(r, hiveRootCell+int64(off)).KeyValue()
		if vk == nil {
			continue
		}
		if k.h.r.budget <= 0 {
			return out, errBudget
		}
		v := value{name: vk.ValueName(), typ: vk.Type()}
		if ds := vk.DataSize(); ds <= maxValueData && ds <= k.h.size {
			v.data = vk.ValueData()
		} else {
			v.data = &regparser.ValueData{Type: v.typ, Error: errValueTooLarge}
		}
		out = append(out, v)
	}
	if k.h.r.budget <= 0 {
		return out, errBudget
	}
	return out, nil
}

// Registry value types.
const (
	regSZ       = 1
	regExpandSZ = 2
	regBinary   = 3
	regDWORD    = 4
	regQWORD    = 11
)

// valueMap returns k's values by lower-cased name (the first of a name).
func (k *key) valueMap() (map[string]value, error) {
	vs, err := k.values()
	if err != nil {
		return nil, err
	}
	m := make(map[string]value, len(vs))
	for _, v := range vs {
		n := strings.ToLower(v.name)
		if _, dup := m[n]; !dup {
			m[n] = v
		}
	}
	return m, nil
}

// str returns a REG_SZ or REG_EXPAND_SZ value up to its first NUL.
func str(m map[string]value, name string) (string, bool) {
	v, ok := m[strings.ToLower(name)]
	if !ok || v.data == nil || v.data.Error != nil || (v.typ != regSZ && v.typ != regExpandSZ) {
		return "", false
	}
	s := v.data.String
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s, true
}

// dword returns a REG_DWORD (or REG_QWORD) value.
func dword(m map[string]value, name string) (uint64, bool) {
	v, ok := m[strings.ToLower(name)]
	if !ok || v.data == nil || v.data.Error != nil || (v.typ != regDWORD && v.typ != regQWORD) {
		return 0, false
	}
	return v.data.Uint64, true
}

// pagedReader serves regparser's many small reads (it reads arrays one
// byte or one word at a time) from a one-page cache, and ends the hive at
// size with io.EOF, which stops regparser's array reads. It also ends it
// (io.EOF) once budget bytes have been read, so that no corrupt hive can
// keep regparser reading for long; callers check budget.
type pagedReader struct {
	r       io.ReaderAt
	size    int64
	budget  int64
	page    [hivePage]byte
	pageOff int64
	valid   int // bytes of page loaded; 0: none
}

func (p *pagedReader) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if p.budget <= 0 {
		return 0, io.EOF
	}
	p.budget -= int64(len(b))
	n := 0
	for n < len(b) {
		if off >= p.size {
			return n, io.EOF
		}
		po := off &^ (hivePage - 1)
		if p.valid == 0 || po != p.pageOff {
			want := int(min(hivePage, p.size-po))
			m, err := p.r.ReadAt(p.page[:want], po)
			if m < want {
				p.valid = 0
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			p.pageOff, p.valid = po, want
		}
		c := copy(b[n:], p.page[off-po:p.valid])
		n += c
		off += int64(c)
	}
	return n, nil
}
