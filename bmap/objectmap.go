package bmap

// ObjectMap holds a value for each object it is given: by the object's
// index in the map's slice (Map.IndexOf: an array, one cache miss a
// lookup) for the elements of m.Objects, as an Index's hits and so a
// trace's live events are, and in a Go map for any other object (a copy,
// another map's). The zero value of V means "none". The zero ObjectMap is
// empty, with no map: every object then goes to the Go map.
//
// The trace's sinks keep their per-object state in one (the NDJSON
// prefixes, the aggregator's records): on random reads over a large map,
// a Go map keyed by pointer costs two or three cache misses a lookup.
type ObjectMap[V comparable] struct {
	m     *Map
	byIdx []V
	other map[*Object]V
}

// NewObjectMap returns an empty ObjectMap for the objects of m (nil: no
// map).
func NewObjectMap[V comparable](m *Map) ObjectMap[V] {
	t := ObjectMap[V]{m: m}
	if m != nil {
		t.byIdx = make([]V, len(m.Objects))
	}
	return t
}

// Get returns o's value, and whether it has one (not the zero value).
func (t *ObjectMap[V]) Get(o *Object) (V, bool) {
	var zero V
	if i := t.m.IndexOf(o); i >= 0 {
		v := t.byIdx[i]
		return v, v != zero
	}
	v, ok := t.other[o]
	return v, ok
}

// Put sets o's value; the zero value removes it.
func (t *ObjectMap[V]) Put(o *Object, v V) {
	var zero V
	if i := t.m.IndexOf(o); i >= 0 {
		t.byIdx[i] = v
		return
	}
	if v == zero {
		delete(t.other, o)
		return
	}
	if t.other == nil {
		t.other = make(map[*Object]V)
	}
	t.other[o] = v
}

// Outside is the number of objects with a value that are not elements
// of the map's slice.
func (t *ObjectMap[V]) Outside() int { return len(t.other) }
