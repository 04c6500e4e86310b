package bmap

import "testing"

// TestObjectMap: the map's own objects are kept by index, any other
// object (a copy, an object of another map, every object without a map)
// by pointer; the zero value is "none".
func TestObjectMap(t *testing.T) {
	m := &Map{Objects: make([]Object, 3)}
	other := &Map{Objects: make([]Object, 3)}
	cp := m.Objects[1]
	for _, tc := range []struct {
		name    string
		m       *Map
		outside int
	}{{"map", m, 3}, {"no map", nil, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			om := NewObjectMap[int32](tc.m)
			objs := []*Object{&m.Objects[0], &m.Objects[2], &cp, &other.Objects[0], &other.Objects[1]}
			for _, o := range objs {
				if _, ok := om.Get(o); ok {
					t.Fatal("a value before Put")
				}
			}
			for i, o := range objs {
				om.Put(o, int32(i+1))
			}
			for i, o := range objs {
				if v, ok := om.Get(o); !ok || v != int32(i+1) {
					t.Errorf("object %d: %d, %v; want %d", i, v, ok, i+1)
				}
			}
			if _, ok := om.Get(&m.Objects[1]); ok {
				t.Error("m.Objects[1] has the value of its copy")
			}
			if om.Outside() != tc.outside {
				t.Errorf("Outside() = %d, want %d", om.Outside(), tc.outside)
			}
			om.Put(&cp, 0)
			om.Put(&m.Objects[0], 0)
			if _, ok := om.Get(&cp); ok {
				t.Error("the copy's value after Put of zero")
			}
			if _, ok := om.Get(&m.Objects[0]); ok {
				t.Error("m.Objects[0]'s value after Put of zero")
			}
		})
	}
	var zero ObjectMap[int32] // usable as it is: every object by pointer
	zero.Put(&m.Objects[0], 7)
	if v, ok := zero.Get(&m.Objects[0]); !ok || v != 7 || zero.Outside() != 1 {
		t.Errorf("zero ObjectMap: %d, %v, %d outside", v, ok, zero.Outside())
	}
}
