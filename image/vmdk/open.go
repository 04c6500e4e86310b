package vmdk

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/lru"
)

// Magics of the VMDK variants that are recognised but not read.
var (
	magicCOWD     = [4]byte{'C', 'O', 'W', 'D'}
	magicSESparse = [8]byte{0xbe, 0xba, 0xfe, 0xca, 0, 0, 0, 0} // 0xcafebabe, little-endian
)

// New reads the VMDK disk in r (size bytes): a sparse extent (with its
// embedded descriptor) or a text descriptor naming extent files. Extent
// files and the parent are opened through c.Open, names resolved from
// c.Path.
func New(r io.ReaderAt, size int64, c Config) (*Disk, error) {
	if size < 0 {
		return nil, fmt.Errorf("vmdk: negative file size %d", size)
	}
	budget := c.CacheBytes
	if budget <= 0 {
		budget = DefaultCacheBytes
	}
	d := &Disk{
		c:    &caches{gt: lru.New[cacheKey, []uint32](budget), grain: lru.New[cacheKey, []byte](budget)},
		name: c.Path,
	}
	if d.name == "" {
		d.name = "image"
	}
	var head [8]byte
	n, _ := r.ReadAt(head[:], 0)
	var desc *Descriptor
	var err error
	switch {
	case n >= 4 && [4]byte(head[:4]) == magicKDMV:
		desc, err = d.openMonolithic(r, size, c)
	case n >= 4 && [4]byte(head[:4]) == magicCOWD:
		err = fmt.Errorf("%w: VMware 3 \"COWD\" sparse extent (vmfsSparse)", ErrUnsupported)
	case n == 8 && head == magicSESparse:
		err = fmt.Errorf("%w: ESXi seSparse extent", ErrUnsupported)
	default:
		desc, err = d.openDescriptor(r, size, c)
	}
	if err == nil && desc != nil && desc.ParentFileNameHint != "" {
		err = d.openParent(desc, c)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	for _, e := range d.extents {
		d.size += e.length
	}
	return d, nil
}

// openMonolithic opens a disk that is one sparse extent: r itself.
func (d *Disk) openMonolithic(r io.ReaderAt, size int64, c Config) (*Descriptor, error) {
	s, err := openSparse(r, size, d.name, 0, d.c, c.Warn)
	if err != nil {
		return nil, err
	}
	h := s.h
	if h.capacity == 0 && h.descOffset != 0 {
		return nil, fmt.Errorf("%w: sparse extent of capacity 0 that defers to its embedded descriptor", ErrUnsupported)
	}
	d.extents = []*extent{{length: s.capacity, kind: extSparse, name: d.name, sp: s}}
	d.info = Info{CreateType: "monolithicSparse", ParentCID: noParent, GrainSize: s.grain, Compressed: h.compressed(), Version: int(h.version)}
	if h.compressed() {
		d.info.CreateType = "streamOptimized"
	}
	desc, err := readEmbedded(r, size, h)
	if err != nil || desc == nil {
		return nil, err
	}
	d.setInfo(desc)
	if d.info.CreateType == "" {
		d.info.CreateType = "monolithicSparse"
	}
	return desc, nil
}

// readEmbedded reads the descriptor embedded in a sparse extent, nil when
// it has none.
func readEmbedded(r io.ReaderAt, size int64, h *header) (*Descriptor, error) {
	if h.descOffset == 0 || h.descSize == 0 {
		return nil, nil
	}
	off := int64(min(h.descOffset, maxCapacity)) * sectorSize
	if off >= size {
		return nil, formatErr(off, "embedded descriptor", "starts past the end of the file (%d bytes)", size)
	}
	buf := make([]byte, min(int64(h.descSize)*sectorSize, size-off))
	if n, err := r.ReadAt(buf, off); n < len(buf) {
		return nil, fmt.Errorf("vmdk: reading the embedded descriptor at %#x: %w", off, orEOF(err))
	}
	return ParseDescriptor(buf)
}

func (d *Disk) setInfo(desc *Descriptor) {
	d.info.CreateType = desc.CreateType
	d.info.CID = desc.CID
	d.info.ParentCID = desc.ParentCID
	d.info.Parent = desc.ParentFileNameHint
	d.info.Extents = desc.Extents
	d.info.DDB = desc.DDB
}

// openDescriptor opens a disk described by the text descriptor in r.
func (d *Disk) openDescriptor(r io.ReaderAt, size int64, c Config) (*Descriptor, error) {
	if size > maxDescriptor {
		return nil, formatErr(0, "descriptor", "not a sparse extent, and at %d bytes too large to be a descriptor", size)
	}
	buf := make([]byte, size)
	if n, err := r.ReadAt(buf, 0); int64(n) < size {
		return nil, fmt.Errorf("vmdk: reading the descriptor: %w", orEOF(err))
	}
	if !LooksLikeDescriptor(buf) {
		return nil, formatErr(0, "descriptor", "neither a sparse extent (\"KDMV\") nor a text descriptor")
	}
	desc, err := ParseDescriptor(buf)
	if err != nil {
		return nil, err
	}
	if len(desc.Extents) == 0 {
		return nil, formatErr(0, "descriptor", "names no extent")
	}
	d.setInfo(desc)
	var start int64
	for i, l := range desc.Extents {
		if start+l.Sectors*sectorSize > maxCapacity*sectorSize {
			return nil, formatErr(0, fmt.Sprintf("descriptor line %d", l.Line), "the extents add up to more than %d bytes", int64(maxCapacity)*sectorSize)
		}
		e, err := d.openExtent(l, i+1, c)
		if err != nil {
			return nil, err
		}
		e.start, e.length = start, l.Sectors*sectorSize
		d.extents = append(d.extents, e)
		start += e.length
		if e.sp != nil && d.info.GrainSize == 0 {
			d.info.GrainSize, d.info.Compressed, d.info.Version = e.sp.grain, e.sp.h.compressed(), int(e.sp.h.version)
		}
	}
	return desc, nil
}

// openExtent opens the file of one extent line; id numbers the extent
// for the caches.
func (d *Disk) openExtent(l ExtentLine, id int, c Config) (*extent, error) {
	e := &extent{name: l.File}
	switch {
	case l.Access == "NOACCESS":
		e.kind = extNoAccess
		return e, nil
	case l.Type == "ZERO":
		e.kind = extZero
		return e, nil
	case l.Type == "VMFSSPARSE":
		return nil, fmt.Errorf("%w: extent %q is VMFSSPARSE (\"COWD\")", ErrUnsupported, l.File)
	case l.Type == "SESPARSE":
		return nil, fmt.Errorf("%w: extent %q is ESXi seSparse", ErrUnsupported, l.File)
	case l.Type == "VMFSRDM", l.Type == "VMFSRAW":
		return nil, fmt.Errorf("%w: extent %q is a raw device mapping (%s)", ErrUnsupported, l.File, l.Type)
	}
	if c.Open == nil {
		return nil, fmt.Errorf("vmdk: the descriptor names the extent file %q, and no opener was given for it", l.File)
	}
	f, path, err := c.Open.OpenFile(c.Path, l.File)
	if err != nil {
		return nil, fmt.Errorf("vmdk: extent %q (descriptor line %d): %w", l.File, l.Line, err)
	}
	// A file several extent lines name is opened (and, if sparse, its
	// grain directory read) once: a descriptor repeating one name cannot
	// multiply the open files or the memory.
	if old, ok := d.files[path]; ok {
		f.Close()
		f = old
	} else {
		if d.files == nil {
			d.files = map[string]chain.File{}
		}
		d.files[path] = f
		d.closers = append(d.closers, f)
	}
	e.name, e.r, e.fileSize = path, f, f.Size()
	if l.Type == "FLAT" || l.Type == "VMFS" {
		e.kind = extFlat
		e.flatOff = l.Offset * sectorSize
		if need := e.flatOff + l.Sectors*sectorSize; e.fileSize < need && c.Warn != nil {
			c.Warn(fmt.Sprintf("vmdk: extent file %s is %d bytes, shorter than its extent (%d): the rest reads as zeros", path, e.fileSize, need))
		}
		return e, nil
	}
	// SPARSE
	s, ok := d.sparses[path]
	if !ok {
		s, err = openSparse(f, e.fileSize, path, id, d.c, c.Warn)
		if err != nil {
			return nil, fmt.Errorf("vmdk: extent %q (descriptor line %d): %w", l.File, l.Line, err)
		}
		if d.sparses == nil {
			d.sparses = map[string]*sparse{}
		}
		d.sparses[path] = s
	}
	if s.capacity != l.Sectors*sectorSize && c.Warn != nil {
		c.Warn(fmt.Sprintf("vmdk: extent %s has a capacity of %d sectors, its descriptor line %d says %d: the descriptor is followed", path, s.h.capacity, l.Line, l.Sectors))
	}
	e.kind, e.sp = extSparse, s
	return e, nil
}

// openParent opens the parent named by parentFileNameHint, as a VMDK,
// and checks its CID.
func (d *Disk) openParent(desc *Descriptor, c Config) error {
	hint := desc.ParentFileNameHint
	if c.Open == nil {
		return fmt.Errorf("vmdk: the disk has the parent %q, and no opener was given for it", hint)
	}
	p, path, err := c.Open.OpenImage(c.Path, hint, "vmdk")
	if err != nil {
		return fmt.Errorf("vmdk: parent %q: %w", hint, err)
	}
	d.closers = append(d.closers, p)
	cid, err := parentCID(c, hint)
	if err != nil {
		return fmt.Errorf("vmdk: parent %q: %w", hint, err)
	}
	if cid != desc.ParentCID {
		return fmt.Errorf("%w: %s has CID %08x, %s expects parentCID %08x (the parent changed after the snapshot was taken)",
			ErrParentCID, path, cid, filepath.Base(d.name), desc.ParentCID)
	}
	d.parent, d.parentSize = p, p.Size()
	return nil
}

// parentCID reads the CID of the parent's descriptor. The parent was
// opened as an image (its bytes as the guest sees them); its descriptor
// is read from the file itself, through the same Opener and policy.
func parentCID(c Config, hint string) (uint32, error) {
	f, _, err := c.Open.OpenFile(c.Path, hint)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ReadCID(f, f.Size())
}

// ReadCID returns the CID of the VMDK in r: from the embedded descriptor
// of a sparse extent, or from a descriptor file.
func ReadCID(r io.ReaderAt, size int64) (uint32, error) {
	var head [4]byte
	if n, _ := r.ReadAt(head[:], 0); n == 4 && head == magicKDMV {
		var b [headerLen]byte
		if n, err := r.ReadAt(b[:], 0); n < len(b) {
			return 0, fmt.Errorf("vmdk: reading the header: %w", orEOF(err))
		}
		h, err := parseHeader(b[:], 0)
		if err != nil {
			return 0, err
		}
		if h.descSize > maxDescriptor/sectorSize {
			return 0, formatErr(0, "sparse extent header", "embedded descriptor too large")
		}
		desc, err := readEmbedded(r, size, h)
		if err != nil {
			return 0, err
		}
		if desc == nil || !desc.HasCID {
			return 0, formatErr(0, "embedded descriptor", "no CID")
		}
		return desc.CID, nil
	}
	if size > maxDescriptor {
		return 0, formatErr(0, "descriptor", "too large (%d bytes)", size)
	}
	buf := make([]byte, size)
	if n, err := r.ReadAt(buf, 0); int64(n) < size {
		return 0, fmt.Errorf("vmdk: reading the descriptor: %w", orEOF(err))
	}
	desc, err := ParseDescriptor(buf)
	if err != nil {
		return 0, err
	}
	if !desc.HasCID {
		return 0, formatErr(0, "descriptor", "no CID")
	}
	return desc.CID, nil
}

// LooksLikeDescriptor says whether b (the start of a file) is a VMDK text
// descriptor, as qemu's probe decides: after comment and blank lines, the
// first line is "version=1", "version=2" or "version=3".
func LooksLikeDescriptor(b []byte) bool {
	for len(b) > 0 {
		line := b
		rest := []byte(nil)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, rest = b[:i], b[i+1:]
		} else if len(b) < len("version=1") {
			return false
		}
		line = bytes.TrimRight(line, "\r")
		switch t := bytes.TrimLeft(line, " \t"); {
		case len(t) > 0 && t[0] == '#', len(t) == 0:
			b = rest
			continue
		default:
			return bytes.Equal(bytes.TrimRight(t, " \t"), []byte("version=1")) ||
				bytes.Equal(bytes.TrimRight(t, " \t"), []byte("version=2")) ||
				bytes.Equal(bytes.TrimRight(t, " \t"), []byte("version=3"))
		}
	}
	return false
}
