package bmap

// Builder collects the disks and objects of a map. The zero value is not
// ready for use; call NewBuilder.
type Builder struct {
	disks []Disk
	// objects are the objects up to the last Map or Grow, and those
	// added since while it has room (Grow made it); the others are in
	// chunks of objChunk (the last one being filled), joined to objects by
	// the next Map or Grow: a million objects grown by append cost five
	// times their size in copies and garbage, chunks cost it twice, and a
	// good Grow once.
	objects []Object
	chunks  [][]Object
	// ext is the current chunk the objects' extents are copied into, so
	// that a map of 100,000 extents costs a few allocations rather than one
	// per object.
	ext     []Extent
	volumes []Volume
}

// extChunk is the number of extents allocated at once.
const extChunk = 4096

// objChunk is the number of objects allocated at once.
const objChunk = 4096

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{} }

// AddDisk records a disk of the map.
func (b *Builder) AddDisk(d Disk) { b.disks = append(b.disks, d) }

// Add records an object. The object and its extents are copied, so the
// caller may reuse o. Extents are in disk offsets. Extents that are empty,
// negative or run past the largest int64 offset are dropped; an object
// left without extents is kept, because the JSON form can still say it
// exists.
func (b *Builder) Add(o Object) {
	n := 0
	for _, e := range o.Extents {
		if validExtent(e) {
			n++
		}
	}
	var exts []Extent
	if n > 0 {
		if cap(b.ext)-len(b.ext) < n {
			b.ext = make([]Extent, 0, max(extChunk, n))
		}
		start := len(b.ext)
		for _, e := range o.Extents {
			if validExtent(e) {
				b.ext = append(b.ext, e)
			}
		}
		exts = b.ext[start:len(b.ext):len(b.ext)]
	}
	o.Extents = exts
	if len(b.chunks) == 0 && len(b.objects) < cap(b.objects) {
		b.objects = append(b.objects, o) // room made by Grow: no copy
		return
	}
	if k := len(b.chunks); k == 0 || len(b.chunks[k-1]) == cap(b.chunks[k-1]) {
		b.chunks = append(b.chunks, make([]Object, 0, objChunk))
	}
	k := len(b.chunks) - 1
	b.chunks[k] = append(b.chunks[k], o)
}

// AddVolume records how one device was mapped.
func (b *Builder) AddVolume(v Volume) { b.volumes = append(b.volumes, v) }

// Map returns the map built so far: the disks and the objects in the order
// they were added. Objects added later do not change a Map already
// returned. A call after objects were added copies every object into one
// new slice: call it when the map is complete, not after every Add.
func (b *Builder) Map() *Map {
	if len(b.chunks) > 0 {
		b.join(0)
	}
	return &Map{
		Disks:   b.disks[:len(b.disks):len(b.disks)],
		Objects: b.objects[:len(b.objects):len(b.objects)],
		Volumes: b.volumes[:len(b.volumes):len(b.volumes)],
	}
}

// Grow makes room for n more objects in one piece, so that a caller that
// knows about how many objects are coming (a walker that has read its
// filesystem's inode count) spares the copies of growing, and Map's join.
// A guess too small only costs a join later; callers cap n by something
// real (the device's size), since the memory is allocated at once.
func (b *Builder) Grow(n int) {
	if n <= 0 || len(b.chunks) == 0 && cap(b.objects)-len(b.objects) >= n {
		return
	}
	b.join(n)
}

// join moves every object into one new objects slice with room for spare
// more.
func (b *Builder) join(spare int) {
	n := len(b.objects)
	for _, c := range b.chunks {
		n += len(c)
	}
	all := make([]Object, 0, n+spare)
	all = append(all, b.objects...)
	for _, c := range b.chunks {
		all = append(all, c...)
	}
	b.objects, b.chunks = all, nil
}

// validExtent reports whether e places at least one byte at a
// non-negative offset without overflowing int64.
func validExtent(e Extent) bool {
	return e.Off >= 0 && e.Len > 0 && e.Off <= maxOff-e.Len
}

const maxOff = int64(^uint64(0) >> 1)
