package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs/ntfs/wof"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: *FS implements io/fs's FS, ReadDirFS, StatFS and
// ReadLinkFS, so that callers read files by path (fs.ReadFile,
// fs.ReadDir, fs.WalkDir, fs.Glob) without mounting.
//
// Names are matched as Windows does, case-insensitively (Unicode simple
// case folding, strings.EqualFold, not the volume's $UpCase table), an
// exact match winning over a folded one (POSIX-namespace names may differ
// only in case). Listings give the Win32 and POSIX names as stored; DOS
// 8.3 aliases are not listed but open their file (PROGRA~1), whose
// FileInfo then carries its long name. The system files ($MFT, $Bitmap,
// $Extend...) are listed, as fls lists them. A file reads as its unnamed
// $DATA: resident values from the record (update sequence restored),
// non-resident runs from disk, sparse runs and bytes past the initialized
// size as zeros, LZNT1-compressed units decompressed; a
// system-compressed (WOF) file reads as its WofCompressedData stream
// decompressed (package wof), and opening one fails when its reparse
// point or stream is unusable or its data is in an external WIM
// (WIMBoot), rather than reading as the zeros of its unnamed $DATA.
// Named streams
// (ADS) are not exposed. Reparse points (symbolic links, junctions) are
// not followed and read as what their record holds: there are no
// symbolic links here, so Lstat is Stat and ReadLink fails with
// fs.ErrInvalid. Modes are 0555 for directories and 0444 for files;
// ModTime is $STANDARD_INFORMATION's modification time; Sys returns the
// MFT record number as a uint64.
var (
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

// Limits on lookups, listings and compressed units.
const (
	maxPathSteps  = 4096    // components in one name
	maxDirEntries = 1 << 20 // index entries one listing or lookup reads
	maxUnitBytes  = 1 << 20 // a compression unit, decompressed
)

var errNotDir = fsfile.ErrNotDir

// node is a loaded file record with what reading it needs.
type node struct {
	name     string
	rec      uint64
	dir      bool
	size     int64
	initSize int64
	mtime    time.Time
	resident []byte // resident unnamed $DATA
	runs     []run  // non-resident unnamed $DATA, sorted by VCN
	compUnit int    // log2 clusters per compression unit; 0 if not compressed
	// index: a directory's $I30, copied out of its records.
	ixRoot   []byte
	ixRuns   []run
	ixSize   int64 // $INDEX_ALLOCATION's data size
	ixBitmap []byte
	names    []fileName // its $FILE_NAME attributes
	off      int64      // the base record's disk offset
	seq      uint16     // the record's sequence number
	// A system-compressed file: its WofCompressedData stream (size,
	// runs or resident value, compression unit) and format, or why it
	// cannot be read.
	wofStream *node
	wofFormat wof.Format
	wofErr    error
}

// fileName is one $FILE_NAME attribute of a record.
type fileName struct {
	parent uint64
	ns     byte
	name   string
}

// loadNode reads record n and everything reading it needs.
func (f *FS) loadNode(n uint64, name string) (*node, error) {
	w := &walker{f: f, budget: 1 << 62}
	if err := w.load(n, name); err != nil {
		return nil, err
	}
	s := &w.slots[0]
	nd := &node{name: name, rec: n, dir: s.rec.isDir(), off: s.pieces[0].off, seq: s.rec.seq}
	var bitmap, reparse, stream *fileAttr
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		switch {
		case a.typ == atReparsePoint && a.resident:
			reparse = a
		case a.typ == atData && a.name == wofStream:
			stream = a
		case a.typ == atStandardInfo && a.resident && a.valueLen >= 16:
			nd.mtime = filetime(binary.LittleEndian.Uint64(a.value(w)[8:]))
		case a.typ == atFileName && a.resident && a.valueLen >= 0x42:
			v := a.value(w)
			l := int(v[0x40])
			if 0x42+2*l <= len(v) {
				u := make([]uint16, l)
				for j := range u {
					u[j] = binary.LittleEndian.Uint16(v[0x42+2*j:])
				}
				nd.names = append(nd.names, fileName{parent: refRecord(binary.LittleEndian.Uint64(v)), ns: v[0x41], name: string(utf16.Decode(u))})
			}
		case a.typ == atData && a.name == "":
			if a.resident {
				nd.resident = slices.Clone(a.value(w))
				nd.size, nd.initSize = int64(len(nd.resident)), int64(len(nd.resident))
				continue
			}
			nd.size, nd.initSize = a.size, a.initSize
			nd.runs = slices.Clone(a.runs)
			slices.SortFunc(nd.runs, cmpRun)
			if a.flags&attrCompressed != 0 {
				nd.compUnit = a.compUnit
				if nd.compUnit == 0 {
					return nil, w.recErr(0, "compressed $DATA with a compression unit of 0")
				}
			}
		case a.name == "$I30" && a.typ == atIndexRoot && a.resident:
			nd.ixRoot = slices.Clone(a.value(w))
		case a.name == "$I30" && a.typ == atIndexAlloc && !a.resident:
			nd.ixRuns = slices.Clone(a.runs)
			slices.SortFunc(nd.ixRuns, cmpRun)
			nd.ixSize = a.size
		case a.name == "$I30" && a.typ == atBitmap:
			bitmap = a
		}
	}
	if nd.size < 0 || nd.initSize < 0 {
		return nil, w.recErr(0, fmt.Sprintf("$DATA size %d, initialized %d", nd.size, nd.initSize))
	}
	nd.initSize = min(nd.initSize, nd.size)
	if bitmap != nil && len(nd.ixRuns) > 0 {
		if bitmap.resident {
			nd.ixBitmap = slices.Clone(bitmap.value(w))
		} else {
			sz := min(bitmap.size, maxBitmap)
			ps, err := f.mapRange(bitmap.runs, 0, sz, nil)
			if err == nil {
				nd.ixBitmap = make([]byte, sz)
				err = f.readPieces(nd.ixBitmap, ps)
			}
			if err != nil {
				return nil, w.recErr(0, "$BITMAP $I30: "+err.Error())
			}
		}
	}
	if nd.dir {
		nd.size = 0
	} else if reparse != nil && reparse.valueLen >= 4 && binary.LittleEndian.Uint32(reparse.value(w)) == reparseTagWOF {
		if err := nd.loadWOF(w, reparse, stream); err != nil {
			nd.wofErr = &diskerr.FormatError{FS: "ntfs", Off: nd.off, What: fmt.Sprintf("MFT record %d", nd.rec), Err: err}
		}
	}
	return nd, nil
}

// loadWOF reads a system-compressed file's reparse point and keeps its
// WofCompressedData stream.
func (nd *node) loadWOF(w *walker, reparse, stream *fileAttr) error {
	f, err := wof.ParseReparse(reparse.value(w))
	if err != nil {
		return err
	}
	if stream == nil {
		return fmt.Errorf("WOF reparse point without a %s stream", wofStream)
	}
	s := &node{name: nd.name + ":" + wofStream, rec: nd.rec, off: nd.off, size: stream.size, initSize: stream.initSize}
	if stream.resident {
		s.resident = slices.Clone(stream.value(w))
		s.size, s.initSize = int64(len(s.resident)), int64(len(s.resident))
	} else {
		s.runs = slices.Clone(stream.runs)
		slices.SortFunc(s.runs, cmpRun)
		if stream.flags&attrCompressed != 0 {
			if s.compUnit = stream.compUnit; s.compUnit == 0 {
				return fmt.Errorf("compressed %s with a compression unit of 0", wofStream)
			}
		}
	}
	if s.size < 0 || s.initSize < 0 {
		return fmt.Errorf("%s size %d, initialized %d", wofStream, s.size, s.initSize)
	}
	s.initSize = min(s.initSize, s.size)
	nd.wofStream, nd.wofFormat = s, f
	return nil
}

// filetime converts an NTFS time (100 ns since 1601) to a time.Time.
func filetime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	if ft < epochDiff {
		return time.Unix(0, 0).UTC()
	}
	d := ft - epochDiff
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

// indexEnt is one name of a directory's index.
type indexEnt struct {
	ref  uint64
	ns   byte
	name string
}

// scanIndex calls fn for every entry of directory d's $I30 index (root
// node, then every in-use index record in order) until fn returns false.
func (f *FS) scanIndex(d *node, fn func(indexEnt) bool) error {
	if len(d.ixRoot) == 0 {
		return &diskerr.FormatError{FS: "ntfs", Off: d.off, What: fmt.Sprintf("MFT record %d", d.rec), Msg: "directory without a resident $INDEX_ROOT $I30"}
	}
	typ, ixSize, err := indexRootInfo(d.ixRoot)
	if err == nil && typ != atFileName {
		err = fmt.Errorf("$I30 indexes attribute %#x, not $FILE_NAME", typ)
	}
	if err != nil {
		return &diskerr.FormatError{FS: "ntfs", Off: d.off, What: fmt.Sprintf("MFT record %d", d.rec), Msg: err.Error()}
	}
	count := 0
	stop := errors.New("stop")
	cb := func(e *indexEntry) error {
		if count++; count > maxDirEntries {
			return fmt.Errorf("more than %d index entries", maxDirEntries)
		}
		if !fn(indexEnt{ref: e.ref, ns: e.namespace, name: string(utf16.Decode(e.name))}) {
			return stop
		}
		return nil
	}
	if err := parseIndexNode(d.ixRoot, 0x10, cb); err != nil {
		if err == stop {
			return nil
		}
		return &diskerr.FormatError{FS: "ntfs", Off: d.off, What: fmt.Sprintf("MFT record %d $INDEX_ROOT", d.rec), Msg: err.Error()}
	}
	if len(d.ixRuns) == 0 || d.ixBitmap == nil {
		return nil
	}
	if ixSize < 512 || ixSize > maxIndexSize || ixSize&(ixSize-1) != 0 {
		return &diskerr.FormatError{FS: "ntfs", Off: d.off, What: fmt.Sprintf("MFT record %d $INDEX_ROOT", d.rec), Msg: fmt.Sprintf("index record size %d", ixSize)}
	}
	buf := make([]byte, ixSize)
	var ps []piece
	for i := int64(0); i < d.ixSize/ixSize && i/8 < int64(len(d.ixBitmap)); i++ {
		if d.ixBitmap[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		bad := func(off int64, err error) error {
			return &diskerr.FormatError{FS: "ntfs", Off: off, What: fmt.Sprintf("MFT record %d index record %d", d.rec, i), Msg: err.Error()}
		}
		if ps, err = f.mapRange(d.ixRuns, i*ixSize, ixSize, ps[:0]); err != nil {
			return bad(d.off, err)
		}
		if err := f.readPieces(buf, ps); err != nil {
			return bad(ps[0].off, err)
		}
		if err := applyFixup(buf, "INDX"); err != nil {
			return bad(ps[0].off, err)
		}
		if err := parseIndexNode(buf, 0x18, cb); err != nil {
			if err == stop {
				return nil
			}
			return bad(ps[0].off, err)
		}
	}
	return nil
}

// child loads the record an index entry of d names, checking its
// sequence number.
func (f *FS) child(e indexEnt) (*node, error) {
	n, err := f.loadNode(refRecord(e.ref), e.name)
	if err != nil {
		return nil, err
	}
	if seq := refSeq(e.ref); seq != 0 && seq != n.seq {
		return nil, &diskerr.FormatError{FS: "ntfs", Off: n.off, What: fmt.Sprintf("MFT record %d", n.rec), Msg: fmt.Sprintf("index entry %q names sequence number %d, the record has %d (a stale entry)", e.name, seq, n.seq)}
	}
	return n, nil
}

// lookup finds name in directory d: an exact match, else the first
// case-insensitive one (a DOS alias included).
func (f *FS) lookup(d *node, name string) (*node, error) {
	var exact, folded *indexEnt
	err := f.scanIndex(d, func(e indexEnt) bool {
		if refRecord(e.ref) == d.rec {
			return true
		}
		if e.name == name {
			exact = &e
			return false
		}
		if folded == nil && strings.EqualFold(e.name, name) {
			folded = &e
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	e := exact
	if e == nil {
		e = folded
	}
	if e == nil {
		return nil, iofs.ErrNotExist
	}
	n, err := f.child(*e)
	if err != nil {
		return nil, err
	}
	if e.ns == nsDOS {
		// Opened by its 8.3 alias: show its long name in that
		// directory.
		for _, fn := range n.names {
			if fn.parent == d.rec && fn.ns != nsDOS {
				n.name = fn.name
				break
			}
		}
	}
	return n, nil
}

// list returns directory d's Win32 and POSIX names, sorted.
func (f *FS) list(d *node) ([]iofs.DirEntry, error) {
	if !d.dir {
		return nil, errNotDir
	}
	var ents []indexEnt
	err := f.scanIndex(d, func(e indexEnt) bool {
		if e.ns != nsDOS && refRecord(e.ref) != d.rec {
			ents = append(ents, e)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	es := make([]iofs.DirEntry, 0, len(ents))
	for _, e := range ents {
		n, err := f.child(e)
		if err != nil {
			return nil, err
		}
		es = append(es, iofs.FileInfoToDirEntry(&fileInfo{n}))
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
	return es, nil
}

// resolve looks name up from the root.
func (f *FS) resolve(op, name string) (*node, error) {
	if !iofs.ValidPath(name) {
		return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	fail := func(err error) (*node, error) { return nil, &iofs.PathError{Op: op, Path: name, Err: err} }
	cur, err := f.loadNode(rootRecord, ".")
	if err != nil {
		return fail(err)
	}
	if !cur.dir {
		return fail(&diskerr.FormatError{FS: "ntfs", Off: cur.off, What: "MFT record 5 (/)", Msg: "root is not a directory"})
	}
	if name == "." {
		return cur, nil
	}
	parts := strings.Split(name, "/")
	if len(parts) > maxPathSteps {
		return fail(fmt.Errorf("more than %d path components", maxPathSteps))
	}
	for _, p := range parts {
		if !cur.dir {
			return fail(errNotDir)
		}
		if cur, err = f.lookup(cur, p); err != nil {
			return fail(err)
		}
	}
	return cur, nil
}

// Open opens the named file or directory for reading.
func (f *FS) Open(name string) (iofs.File, error) {
	n, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return fsfile.NewDir(&fileInfo{n}, name, func() ([]iofs.DirEntry, error) { return f.list(n) }), nil
	}
	c, err := f.contents(n)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	return fsfile.NewFile(&fileInfo{n}, name, c, n.size), nil
}

// Stat returns a FileInfo for the named file.
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// Lstat is Stat: reparse points are not followed.
func (f *FS) Lstat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// ReadLink fails: no file is a symbolic link here.
func (f *FS) ReadLink(name string) (string, error) {
	if _, err := f.resolve("readlink", name); err != nil {
		return "", err
	}
	return "", &iofs.PathError{Op: "readlink", Path: name, Err: iofs.ErrInvalid}
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]iofs.DirEntry, error) {
	n, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	es, err := f.list(n)
	if err != nil {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return es, nil
}

// contents checks a file's runs and returns a reader of its bytes.
func (f *FS) contents(n *node) (io.ReaderAt, error) {
	if n.wofErr != nil {
		return nil, n.wofErr
	}
	if n.wofStream != nil {
		s, err := f.attrData(n.wofStream)
		if err != nil {
			return nil, err
		}
		r, err := wof.NewReader(s, n.wofStream.size, n.size, n.wofFormat)
		if err != nil {
			return nil, &diskerr.FormatError{FS: "ntfs", Off: n.off, What: fmt.Sprintf("MFT record %d %s", n.rec, wofStream), Msg: err.Error()}
		}
		return &wofReader{r: r, n: n}, nil
	}
	return f.attrData(n)
}

// wofReader reads a system-compressed file, errors from bad chunks
// being format errors of its record.
type wofReader struct {
	r *wof.Reader
	n *node
}

func (c *wofReader) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		var fe *diskerr.FormatError
		if !errors.As(err, &fe) {
			err = &diskerr.FormatError{FS: "ntfs", Off: c.n.off, What: fmt.Sprintf("MFT record %d %s", c.n.rec, wofStream), Err: err}
		}
	}
	return k, err
}

// attrData checks an attribute's runs (n's unnamed $DATA or a stream
// given as a node) and returns a reader of its bytes.
func (f *FS) attrData(n *node) (*dataReader, error) {
	c := &dataReader{f: f, n: n, unitNo: -1}
	if n.resident != nil || n.size == 0 {
		return c, nil
	}
	cs := f.boot.clusterSize
	// The runs must cover every cluster of the size, sparse or not.
	need := (n.size + cs - 1) / cs
	var vcn int64
	for _, r := range n.runs {
		if r.VCN != vcn {
			break
		}
		vcn += r.Len
	}
	bad := func(msg string) error {
		return &diskerr.FormatError{FS: "ntfs", Off: n.off, What: fmt.Sprintf("MFT record %d", n.rec), Msg: msg}
	}
	if vcn < need {
		return nil, bad(fmt.Sprintf("$DATA runs map %d clusters without a gap, its size %d needs %d", vcn, n.size, need))
	}
	if n.compUnit > 0 {
		if n.compUnit > 16 || cs<<n.compUnit > maxUnitBytes {
			return nil, bad(fmt.Sprintf("compression unit of 2^%d clusters of %d bytes", n.compUnit, cs))
		}
		c.unit = cs << n.compUnit
	}
	return c, nil
}

// dataReader reads a file's unnamed $DATA.
type dataReader struct {
	f    *FS
	n    *node
	unit int64 // compression unit in bytes, 0 if not compressed
	// The last compression unit decompressed.
	mu     sync.Mutex
	unitNo int64
	buf    []byte
}

func (c *dataReader) ReadAt(p []byte, off int64) (int, error) {
	n := c.n
	if off < 0 {
		return 0, iofs.ErrInvalid
	}
	if off >= n.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > n.size-off {
		p = p[:n.size-off]
	}
	if n.resident != nil {
		copy(p, n.resident[off:])
	} else {
		done := 0
		for done < len(p) {
			pos := off + int64(done)
			var k int
			var err error
			if pos >= n.initSize {
				clear(p[done:])
				break
			}
			q := p[done:min(len(p), done+int(n.initSize-pos))]
			if c.unit > 0 {
				k, err = c.readCompressed(q, pos)
			} else {
				k, err = c.readRuns(q, pos)
			}
			if err != nil {
				return done, err
			}
			done += k
		}
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// findRun returns the run holding VCN vcn.
func (c *dataReader) findRun(vcn int64) (run, bool) {
	rs := c.n.runs
	i := sort.Search(len(rs), func(i int) bool { return rs[i].VCN+rs[i].Len > vcn })
	if i == len(rs) || rs[i].VCN > vcn {
		return run{}, false
	}
	return rs[i], true
}

// readRuns reads bytes of an uncompressed attribute from pos, up to the
// end of the run holding pos.
func (c *dataReader) readRuns(p []byte, pos int64) (int, error) {
	cs := c.f.boot.clusterSize
	r, ok := c.findRun(pos / cs)
	if !ok {
		return 0, fmt.Errorf("byte %d (VCN %d) not mapped by the run list", pos, pos/cs)
	}
	k := int(min(int64(len(p)), (r.VCN+r.Len)*cs-pos))
	if r.LCN < 0 {
		clear(p[:k])
		return k, nil
	}
	d := r.LCN*cs + pos - r.VCN*cs
	if d+int64(k) > c.f.size {
		return 0, fmt.Errorf("bytes %#x-%#x beyond the device's %d bytes", d, d+int64(k), c.f.size)
	}
	if err := chunkcache.ReadFull(c.f.r, p[:k], d); err != nil {
		return 0, fmt.Errorf("reading %d bytes at %#x: %w", k, d, err)
	}
	return k, nil
}

// readCompressed reads bytes of a compressed attribute from pos, up to
// the end of pos's compression unit.
func (c *dataReader) readCompressed(p []byte, pos int64) (int, error) {
	u := pos / c.unit
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unitNo != u {
		if err := c.loadUnit(u); err != nil {
			c.unitNo = -1
			return 0, err
		}
		c.unitNo = u
	}
	in := pos - u*c.unit
	return copy(p, c.buf[in:]), nil
}

// loadUnit decompresses compression unit u into c.buf. A unit whose
// clusters are all allocated is stored as is; one with none is zeros;
// otherwise its allocated clusters hold LZNT1 data.
func (c *dataReader) loadUnit(u int64) error {
	cs := c.f.boot.clusterSize
	uc := c.unit / cs
	if c.buf == nil {
		c.buf = make([]byte, c.unit)
	}
	var src []byte
	var ps []piece
	for vcn := u * uc; vcn < (u+1)*uc; {
		r, ok := c.findRun(vcn)
		if !ok {
			break // past the runs: the unit's end is a hole
		}
		l := min(r.VCN+r.Len, (u+1)*uc) - vcn
		if r.LCN >= 0 {
			ps = append(ps, piece{off: (r.LCN + vcn - r.VCN) * cs, len: l * cs})
		}
		vcn += l
	}
	var alloc int64
	for _, p := range ps {
		alloc += p.len
	}
	switch {
	case alloc == 0:
		clear(c.buf)
		return nil
	case alloc == c.unit:
		src = c.buf
	default:
		src = make([]byte, alloc)
	}
	if err := c.f.readPieces(src, ps); err != nil {
		return fmt.Errorf("compression unit %d: %w", u, err)
	}
	if alloc == c.unit {
		return nil
	}
	if err := lznt1Decompress(c.buf, src); err != nil {
		return &diskerr.FormatError{FS: "ntfs", Off: ps[0].off, What: fmt.Sprintf("MFT record %d compression unit %d", c.n.rec, u), Msg: err.Error()}
	}
	return nil
}

// fileInfo is the FileInfo of a file record. Sys returns the MFT record
// number as a uint64.
type fileInfo struct{ n *node }

func (i *fileInfo) Name() string       { return i.n.name }
func (i *fileInfo) Size() int64        { return i.n.size }
func (i *fileInfo) ModTime() time.Time { return i.n.mtime }
func (i *fileInfo) IsDir() bool        { return i.n.dir }
func (i *fileInfo) Sys() any           { return i.n.rec }
func (i *fileInfo) Mode() iofs.FileMode {
	if i.n.dir {
		return iofs.ModeDir | 0o555
	}
	return 0o444
}
