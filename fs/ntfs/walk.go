package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// maxDepth caps the directory nesting Walk follows.
const maxDepth = 4096

// maxBitmap caps the bytes of a directory's $BITMAP read (one bit per
// index record: 1 MiB covers 8 million index records).
const maxBitmap = 1 << 20

// firstUserRecord is the first record number that is not reserved: 0-15
// are the system files, 16-23 are reserved for $MFT's own extension
// records (mkntfs marks them in use without a name).
const firstUserRecord = 24

// errStop ends an index parse when fn returned an error (kept in
// walker.err).
var errStop = errors.New("ntfs: walk stopped")

// recSlot is one MFT record of the file being loaded (the base record
// first, then its extension records) and where it lies on disk.
type recSlot struct {
	n      uint64
	buf    []byte
	rec    record
	pieces []piece
}

// fileAttr is one attribute of the file being loaded, its pieces from
// several records (an $ATTRIBUTE_LIST) merged.
type fileAttr struct {
	typ      uint32
	name     string
	resident bool
	flags    uint16
	size     int64 // data size (resident: value length)
	slot     int   // resident: the record holding the value
	valueOff int
	valueLen int
	runs     []run // non-resident
	// initSize and compUnit are the non-resident attribute's initialized
	// size and log2 of its compression unit in clusters (0: none), for
	// reading its contents (files.go).
	initSize int64
	compUnit int
}

type dirItem struct {
	n     uint64
	depth int
	path  string
	meta  bool // $Extend and what it holds: reported as bmap.KindMeta
}

// walker is the state of one Walk.
type walker struct {
	f      *FS
	fn     func(fs.Entry) error
	err    error // fn's error
	slots  []recSlot
	nslots int
	attrs  []fileAttr
	nattrs int
	alBuf  []byte
	extRec []uint64
	out    []bmap.Extent
	ps     []piece
	// The directory being listed: its index, copied out of the record
	// buffers that loading its children reuses.
	parent  dirItem
	rootBuf []byte
	dirRuns []run
	dirSize int64
	bitmap  []byte
	ixBuf   []byte
	kids    []dirItem
	stack   []dirItem
	visited map[uint64]struct{} // directories listed
	reached []uint64            // bit set of records named by an index
	// wof: the file being emitted is system-compressed (isWOF).
	wof bool
	// budget bounds the records read by one walk: each is read about
	// twice on a sound volume (a directory when named and when listed;
	// a file once per name); a damaged index naming one file with many
	// extension records over and over exhausts it.
	budget int64
}

// walkBudget is the budget of a walk over a volume of n records. A
// variable so that a test can lower it.
var walkBudget = func(n int64) int64 { return 8*n + 1<<16 }

func (w *walker) errBudget() error {
	return &diskerr.FormatError{FS: "ntfs", Off: w.f.boot.mftLCN * w.f.boot.clusterSize, What: "$MFT", Msg: fmt.Sprintf("walk stopped after reading more than %d MFT records: indexes name the same records over and over", walkBudget(w.f.nrec))}
}

// Walk calls fn for the boot sector and its backup, the system files as
// metadata ($MFT, $MFTMirr, $LogFile, $Volume, $AttrDef, $Bitmap, $Boot,
// $BadClus, $Secure, $UpCase by record number, then $Extend and what it
// holds), then for the root directory and every directory, file and
// named stream reachable from it, each directory before its contents.
// See the package
// documentation for the extents. Damage is reported through the SetWarn
// function and skipped (an unusable root directory too: what it held is
// found as orphans); Walk returns fn's error, or an error when damaged
// indexes exhaust its budget.
func (f *FS) Walk(fn func(fs.Entry) error) error {
	w := &walker{
		f:       f,
		fn:      fn,
		visited: make(map[uint64]struct{}),
		reached: make([]uint64, (f.nrec+63)/64),
		budget:  walkBudget(f.nrec),
	}
	f.unreachable = 0
	if err := w.meta(); err != nil {
		return err
	}
	extend, err := w.system()
	if err != nil {
		return err
	}
	err = w.load(rootRecord, "/")
	if err == nil && !w.slots[0].rec.isDir() {
		err = &diskerr.FormatError{FS: "ntfs", Off: w.slots[0].pieces[0].off, What: "MFT record 5", Msg: "root is not a directory"}
	}
	if err != nil {
		// What the root holds is still there: the orphan pass maps
		// it under /$OrphanFiles.
		var fe *diskerr.FormatError
		if errors.As(err, &fe) {
			c := *fe
			c.What += " (the root directory /)"
			c.Msg += "; what it holds is mapped under " + orphanDir
			err = &c
		} else {
			err = fmt.Errorf("ntfs: the root directory: %w; what it holds is mapped under %s", err, orphanDir)
		}
		f.warnErr(err)
	} else {
		w.mark(rootRecord)
		w.stack = append(w.stack, dirItem{n: rootRecord, path: "/"})
	}
	if extend {
		// On top of the stack: $Extend's tree is listed before the root's.
		w.stack = append(w.stack, dirItem{n: extendRecord, path: systemNames[extendRecord], meta: true})
	}
	if err := w.drain(); err != nil {
		return err
	}
	return w.orphans()
}

// drain lists the directories on the stack, and those they hold.
func (w *walker) drain() error {
	for len(w.stack) > 0 {
		d := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if err := w.dir(d); err != nil {
			return err
		}
		if w.budget < 0 {
			return w.errBudget()
		}
	}
	return nil
}

const (
	rootRecord   = 5
	extendRecord = 11
	// firstNormal is the first record that is not a system file:
	// records 0-15 are reserved to them (12-15 unused today).
	firstNormal = 16
)

// systemNames are the system files' names, by record number, as mkntfs
// and Windows name them in the root directory.
var systemNames = [...]string{
	0: "$MFT", 1: "$MFTMirr", 2: "$LogFile", 3: "$Volume", 4: "$AttrDef",
	6: "$Bitmap", 7: "$Boot", 8: "$BadClus", 9: "$Secure", 10: "$UpCase",
	11: "$Extend",
}

// system reports the system files, records 0-11 but the root, as
// bmap.KindMeta entries named by their NTFS names ("$MFT", "$LogFile"),
// read by record number (not through the root's index, so that a
// damaged root loses none of them), each with its named streams
// ("$Secure:$SDS", "$BadClus:$Bad"). It reports whether $Extend (record
// 11) is a directory to list.
func (w *walker) system() (extend bool, err error) {
	for n := uint64(0); n < uint64(len(systemNames)); n++ {
		name := systemNames[n]
		if name == "" {
			continue
		}
		if err := w.load(n, name); err != nil {
			w.warnLoad(name, err)
			continue
		}
		w.mark(n)
		if n == extendRecord {
			if !w.slots[0].rec.isDir() {
				w.warnf(n, name, w.slots[0].pieces[0].off, "not a directory; its tree is not listed")
			} else {
				extend = true // reported when listed, with its index
				continue
			}
		}
		if err := w.emit(n, name, bmap.KindMeta); err != nil {
			return false, err
		}
	}
	return extend, nil
}

// meta reports the boot sector and its backup.
func (w *walker) meta() error {
	f := w.f
	bps := f.boot.bytesPerSector
	if err := w.fn(fs.Entry{Kind: bmap.KindMeta, Path: "boot sector", Extents: append(w.out[:0], bmap.Extent{Off: 0, Len: bps, FileOff: -1, Role: bmap.RoleMeta})}); err != nil {
		return err
	}
	// The backup sits in the sector after the last one the boot sector
	// counts (mkntfs and Windows both put it in the partition's last
	// sector).
	off := f.boot.volumeSize()
	b := make([]byte, bootSize)
	switch {
	case off+bps > f.size:
		f.warnErr(&diskerr.FormatError{FS: "ntfs", Off: off, What: "backup boot sector", Msg: fmt.Sprintf("beyond the device's %d bytes (volume truncated?); not mapped", f.size)})
		return nil
	case chunkcache.ReadFull(f.r, b, off) != nil:
		f.warnErr(&diskerr.FormatError{FS: "ntfs", Off: off, What: "backup boot sector", Msg: "unreadable; not mapped"})
		return nil
	}
	if _, err := parseBoot(b, off, f.size); err != nil {
		f.warnErr(fmt.Errorf("%w (mapped anyway)", err))
	}
	return w.fn(fs.Entry{Kind: bmap.KindMeta, Path: "backup boot sector", Extents: append(w.out[:0], bmap.Extent{Off: off, Len: bps, FileOff: -1, Role: bmap.RoleMeta})})
}

func (w *walker) mark(n uint64) {
	if n < uint64(w.f.nrec) {
		w.reached[n/64] |= 1 << (n % 64)
	}
}

func (w *walker) isMarked(n uint64) bool {
	return n < uint64(w.f.nrec) && w.reached[n/64]&(1<<(n%64)) != 0
}

// slot returns the i-th record slot, growing the list.
func (w *walker) slot(i int) *recSlot {
	for len(w.slots) <= i {
		w.slots = append(w.slots, recSlot{buf: make([]byte, w.f.boot.recordSize)})
	}
	return &w.slots[i]
}

// readRecord reads and checks record n into slot i.
func (w *walker) readRecord(i int, n uint64, path string) error {
	s := w.slot(i)
	s.n = n
	w.budget--
	var err error
	if s.pieces, err = w.f.locate(n, s.pieces[:0], false); err != nil {
		return &diskerr.FormatError{FS: "ntfs", Off: w.f.boot.mftLCN * w.f.boot.clusterSize, What: fmt.Sprintf("MFT record %d", n), Msg: err.Error()}
	}
	bad := func(err error) error {
		return &diskerr.FormatError{FS: "ntfs", Off: s.pieces[0].off, What: fmt.Sprintf("MFT record %d", n), Msg: err.Error()}
	}
	if n == 0 && w.f.mirror0 {
		// New found record 0 unusable (and warned): $MFTMirr's copy.
		err = errors.New("unusable")
	} else if err = w.f.readPieces(s.buf, s.pieces); err == nil {
		err = parseRecord(s.buf, &s.rec)
	}
	if err != nil {
		// The first records ($MFT, $MFTMirr, $LogFile, $Volume) have
		// a copy in $MFTMirr, as ntfs-3g uses.
		if int64(n) >= w.f.mirrorRecords() {
			return bad(err)
		}
		off, merr := w.f.mirrorCopy(n, s.buf, &s.rec)
		if merr != nil {
			return bad(fmt.Errorf("%w; %v", err, merr))
		}
		if w.fn != nil && (n != 0 || !w.f.mirror0) {
			w.warnf(n, path, s.pieces[0].off, "%v; using $MFTMirr's copy at %#x", err, off)
		}
	}
	if !s.rec.inUse() {
		return bad(errors.New("not in use"))
	}
	return nil
}

// load reads file record n and every extension record its
// $ATTRIBUTE_LIST names, and gathers the attributes. An error names the
// record and its disk offset.
func (w *walker) load(n uint64, path string) error {
	w.nslots, w.nattrs = 0, 0
	if err := w.readRecord(0, n, path); err != nil {
		return err
	}
	w.nslots = 1
	base := &w.slots[0]
	if base.rec.baseRef != 0 {
		return &diskerr.FormatError{FS: "ntfs", Off: base.pieces[0].off, What: fmt.Sprintf("MFT record %d", n), Msg: fmt.Sprintf("an extension record of record %d, not a file", refRecord(base.rec.baseRef))}
	}
	var list *fileAttr
	if err := w.addAttrs(0); err != nil {
		return err
	}
	for i := 0; i < w.nattrs; i++ {
		if w.attrs[i].typ == atAttributeList {
			list = &w.attrs[i]
		}
	}
	if list == nil {
		return nil
	}
	var al []byte
	if list.resident {
		al = list.value(w)
	} else {
		sz := list.size
		if sz > maxAttrList || sz < 0 {
			return w.recErr(0, fmt.Sprintf("$ATTRIBUTE_LIST of %d bytes (more than %d)", sz, maxAttrList))
		}
		if int64(cap(w.alBuf)) < sz {
			w.alBuf = make([]byte, sz)
		}
		al = w.alBuf[:sz]
		var err error
		if w.ps, err = w.f.mapRange(list.runs, 0, sz, w.ps[:0]); err == nil {
			err = w.f.readPieces(al, w.ps)
		}
		if err != nil {
			return w.recErr(0, "$ATTRIBUTE_LIST: "+err.Error())
		}
	}
	var err error
	w.extRec, err = attrListRecords(al, n, w.extRec[:0])
	if err != nil {
		return w.recErr(0, "$ATTRIBUTE_LIST: "+err.Error())
	}
	for _, x := range w.extRec {
		i := w.nslots
		if err := w.readRecord(i, x, path); err != nil {
			return fmt.Errorf("extension record of MFT record %d (%s): %w", n, path, err)
		}
		if s := &w.slots[i]; refRecord(s.rec.baseRef) != n {
			return w.recErr(i, fmt.Sprintf("named by record %d's $ATTRIBUTE_LIST but its base record is %d", n, refRecord(s.rec.baseRef)))
		}
		w.nslots++
		if err := w.addAttrs(i); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) recErr(i int, msg string) error {
	s := &w.slots[i]
	return &diskerr.FormatError{FS: "ntfs", Off: s.pieces[0].off, What: fmt.Sprintf("MFT record %d", s.n), Msg: msg}
}

// addAttrs adds the attributes of record slot i to w.attrs, merging the
// pieces of a non-resident attribute split over several records.
func (w *walker) addAttrs(i int) error {
	s := &w.slots[i]
	err := parseAttrs(&s.rec, func(a *attr) error {
		if a.typ == atAttributeList && i > 0 {
			return fmt.Errorf("$ATTRIBUTE_LIST in an extension record")
		}
		var fa *fileAttr
		if !a.resident {
			for j := 0; j < w.nattrs; j++ {
				if x := &w.attrs[j]; x.typ == a.typ && x.name == a.name && !x.resident {
					fa = x
					break
				}
			}
		}
		if fa == nil {
			if w.nattrs == len(w.attrs) {
				w.attrs = append(w.attrs, fileAttr{})
			}
			fa = &w.attrs[w.nattrs]
			w.nattrs++
			*fa = fileAttr{typ: a.typ, name: a.name, resident: a.resident, runs: fa.runs[:0], slot: i}
		}
		fa.flags |= a.flags
		if a.resident {
			fa.valueOff, fa.valueLen, fa.size = a.valueOff, a.valueLen, int64(a.valueLen)
			return nil
		}
		if a.startVCN == 0 {
			fa.size = a.dataSize
			fa.initSize, fa.compUnit = a.initSize, a.compUnit
		}
		var err error
		n := len(fa.runs)
		if fa.runs, err = decodeRuns(a.runBytes(&s.rec), a.startVCN, w.f.boot.clusters(), fa.runs); err != nil {
			return fmt.Errorf("%s %q: %w", typeName(a.typ), a.name, err)
		}
		if got := fa.runs[n:]; len(got) > 0 {
			if end := got[len(got)-1].VCN + got[len(got)-1].Len - 1; end != a.lastVCN {
				return fmt.Errorf("%s %q: runs end at VCN %d, header says %d", typeName(a.typ), a.name, end, a.lastVCN)
			}
		}
		return nil
	})
	if err != nil {
		return w.recErr(i, err.Error())
	}
	return nil
}

func (a *fileAttr) value(w *walker) []byte {
	return w.slots[a.slot].buf[a.valueOff : a.valueOff+a.valueLen]
}

// recordExtents appends every record of the loaded file (role record).
func (w *walker) recordExtents(out []bmap.Extent) []bmap.Extent {
	for i := 0; i < w.nslots; i++ {
		for _, p := range w.slots[i].pieces {
			out = append(out, bmap.Extent{Off: p.off, Len: p.len, FileOff: -1, Role: bmap.RoleRecord})
		}
	}
	return out
}

// inlineExtents appends where a resident value lies on disk, inside its
// record (role inline, file offsets from 0).
func (w *walker) inlineExtents(a *fileAttr, out []bmap.Extent) []bmap.Extent {
	off, n := int64(a.valueOff), int64(a.valueLen)
	fo := int64(0)
	for _, p := range w.slots[a.slot].pieces {
		if n == 0 {
			break
		}
		if off >= p.len {
			off -= p.len
			continue
		}
		l := min(n, p.len-off)
		out = append(out, bmap.Extent{Off: p.off + off, Len: l, FileOff: fo, Role: bmap.RoleInline})
		fo += l
		n -= l
		off = 0
	}
	return out
}

// runExtents appends the allocated runs of a non-resident attribute, in
// VCN order; sparse runs are holes. fileOff gives data roles VCN ×
// cluster size as their offset, the others -1.
func (w *walker) runExtents(a *fileAttr, role bmap.Role, out []bmap.Extent) []bmap.Extent {
	cs := w.f.boot.clusterSize
	if !slices.IsSortedFunc(a.runs, cmpRun) {
		slices.SortFunc(a.runs, cmpRun)
	}
	for _, r := range a.runs {
		if r.LCN < 0 {
			continue
		}
		fo := int64(-1)
		if role == bmap.RoleData {
			fo = r.VCN * cs
		}
		if k := len(out) - 1; k >= 0 && out[k].Role == role && out[k].End() == r.LCN*cs && (fo < 0 && out[k].FileOff < 0 || fo >= 0 && out[k].FileOff+out[k].Len == fo) {
			out[k].Len += r.Len * cs
			continue
		}
		out = append(out, bmap.Extent{Off: r.LCN * cs, Len: r.Len * cs, FileOff: fo, Role: role})
	}
	return out
}

func cmpRun(a, b run) int {
	switch {
	case a.VCN < b.VCN:
		return -1
	case a.VCN > b.VCN:
		return 1
	}
	return 0
}

// streamName returns the name of the stream an attribute belongs to: ""
// for the file itself (unnamed $DATA, the $I30 index of a directory, and
// every other attribute), the name for a named $DATA and for the
// attributes of a named index other than $I30 ($Secure:$SDH,
// $Extend/$Quota:$O).
func streamName(a *fileAttr) string {
	switch a.typ {
	case atData:
		return a.name
	case atIndexRoot, atIndexAlloc, atBitmap:
		if a.name != "$I30" {
			return a.name
		}
	}
	return ""
}

// Windows' system compression (WOF, "compact /exe"): the file's contents
// are in the named $DATA stream wofStream, the unnamed $DATA being all
// hole, and its reparse point has the tag reparseTagWOF.
const (
	atReparsePoint = 0xC0
	reparseTagWOF  = 0x80000017
	wofStream      = "WofCompressedData"
)

// isWOF reports whether the loaded file is system-compressed: a resident
// $REPARSE_POINT with the WOF tag and a WofCompressedData stream.
func (w *walker) isWOF() bool {
	tag, stream := false, false
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		switch {
		case a.typ == atReparsePoint && a.resident && a.valueLen >= 4:
			tag = binary.LittleEndian.Uint32(a.value(w)) == reparseTagWOF
		case a.typ == atData && a.name == wofStream:
			stream = true
		}
	}
	return tag && stream
}

// stream is streamName, except that a system-compressed file's
// WofCompressedData stream is the file's own data.
func (w *walker) stream(a *fileAttr) string {
	if w.wof && a.typ == atData && a.name == wofStream {
		return ""
	}
	return streamName(a)
}

// streamExtents appends the extents of the loaded file's stream name
// ("" the file itself) and returns its size.
func (w *walker) streamExtents(name string, out []bmap.Extent) ([]bmap.Extent, int64) {
	size := int64(0)
	// Contents first (sorted by file offset), then the other attributes.
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		if w.stream(a) != name {
			continue
		}
		switch {
		case a.typ == atData && a.name != "" && name == "":
			// A system-compressed file's WofCompressedData: its
			// data, at offsets in the compressed stream; the
			// size is the unnamed $DATA's.
			if a.resident {
				out = w.inlineExtents(a, out)
			} else {
				out = w.runExtents(a, bmap.RoleData, out)
			}
		case a.typ == atData:
			size = a.size
			if a.resident {
				out = w.inlineExtents(a, out)
			} else {
				out = w.runExtents(a, bmap.RoleData, out)
			}
		case a.typ == atIndexAlloc && !a.resident:
			size = a.size
			out = w.runExtents(a, bmap.RoleData, out)
		}
	}
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		if w.stream(a) != name || a.resident || a.typ == atData || a.typ == atIndexAlloc {
			continue
		}
		out = w.runExtents(a, bmap.RoleMeta, out)
	}
	return out, size
}

// emit reports the loaded file (record n) under path, then each of its
// named streams as path:name.
func (w *walker) emit(n uint64, path string, kind bmap.Kind) error {
	w.wof = w.isWOF()
	out := w.recordExtents(w.out[:0])
	out, size := w.streamExtents("", out)
	w.out = out
	if err := w.fn(fs.Entry{Kind: kind, Path: path, Inode: n, Size: size, Extents: out}); err != nil {
		return err
	}
	for i := 0; i < w.nattrs; i++ {
		name := w.stream(&w.attrs[i])
		if name == "" || w.seenStream(i, name) {
			continue
		}
		w.out, size = w.streamExtents(name, w.out[:0])
		sk := bmap.KindFile
		if kind == bmap.KindMeta {
			sk = bmap.KindMeta
		}
		if err := w.fn(fs.Entry{Kind: sk, Path: path + ":" + name, Inode: n, Size: size, Extents: w.out}); err != nil {
			return err
		}
	}
	return nil
}

// seenStream reports whether an attribute before i belongs to stream
// name.
func (w *walker) seenStream(i int, name string) bool {
	for j := 0; j < i; j++ {
		if w.stream(&w.attrs[j]) == name {
			return true
		}
	}
	return false
}

func (w *walker) warnf(n uint64, path string, off int64, format string, args ...any) {
	w.f.warnErr(&diskerr.FormatError{FS: "ntfs", Off: off, What: fmt.Sprintf("MFT record %d (%s)", n, path), Msg: fmt.Sprintf(format, args...)})
}

// warnLoad passes on an error from load, naming the path.
func (w *walker) warnLoad(path string, err error) {
	var fe *diskerr.FormatError
	if errors.As(err, &fe) {
		c := *fe
		c.What += " (" + path + ")"
		c.Msg += "; skipped"
		w.f.warnErr(&c)
		return
	}
	w.f.warnErr(fmt.Errorf("ntfs: %s: %w; skipped", path, err))
}

// dir reports directory d, lists its index, reports its files and queues
// its subdirectories.
func (w *walker) dir(d dirItem) error {
	if _, ok := w.visited[d.n]; ok {
		w.warnf(d.n, d.path, 0, "directory reached twice (a loop); skipped")
		return nil
	}
	w.visited[d.n] = struct{}{}
	if err := w.load(d.n, d.path); err != nil {
		w.warnLoad(d.path, err)
		return nil
	}
	recOff := w.slots[0].pieces[0].off
	kind := bmap.KindDir
	if d.meta {
		kind = bmap.KindMeta
	}
	if err := w.emit(d.n, d.path, kind); err != nil {
		return err
	}
	// Copy the $I30 index out of the record buffers.
	w.rootBuf, w.dirRuns, w.bitmap, w.dirSize = w.rootBuf[:0], w.dirRuns[:0], w.bitmap[:0], 0
	var bitmapAttr *fileAttr
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		if a.name != "$I30" {
			continue
		}
		switch {
		case a.typ == atIndexRoot && a.resident:
			w.rootBuf = append(w.rootBuf, a.value(w)...)
		case a.typ == atIndexAlloc && !a.resident:
			w.dirRuns = append(w.dirRuns, a.runs...)
			w.dirSize = a.size
		case a.typ == atBitmap:
			bitmapAttr = a
		}
	}
	if len(w.rootBuf) == 0 {
		w.warnf(d.n, d.path, recOff, "directory without a resident $INDEX_ROOT $I30; contents skipped")
		return nil
	}
	typ, ixSize, err := indexRootInfo(w.rootBuf)
	if err == nil && typ != atFileName {
		err = fmt.Errorf("$I30 indexes attribute %#x, not $FILE_NAME", typ)
	}
	if err != nil {
		w.warnf(d.n, d.path, recOff, "%v; contents skipped", err)
		return nil
	}
	// The bitmap of the index records in use, read before any child
	// record is loaded over the directory's.
	if bm := bitmapAttr; bm == nil {
		if len(w.dirRuns) > 0 {
			w.warnf(d.n, d.path, recOff, "$INDEX_ALLOCATION without a $BITMAP; skipped")
		}
		w.bitmap = nil
	} else if bm.resident {
		w.bitmap = append(w.bitmap, bm.value(w)...)
	} else {
		n := min(bm.size, maxBitmap)
		var err error
		if w.ps, err = w.f.mapRange(bm.runs, 0, n, w.ps[:0]); err == nil {
			if int64(cap(w.bitmap)) < n {
				w.bitmap = make([]byte, n)
			}
			w.bitmap = w.bitmap[:n]
			err = w.f.readPieces(w.bitmap, w.ps)
		}
		if err != nil {
			w.warnf(d.n, d.path, recOff, "$BITMAP $I30: %v; $INDEX_ALLOCATION skipped", err)
			w.bitmap = nil
		}
	}
	w.parent = d
	w.kids = w.kids[:0]
	if err := parseIndexNode(w.rootBuf, 0x10, w.entry); err != nil {
		if w.err != nil {
			return w.err
		}
		w.warnf(d.n, d.path, recOff, "$INDEX_ROOT: %v; rest of the node skipped", err)
	}
	if len(w.dirRuns) > 0 && w.bitmap != nil {
		if err := w.readAllocation(d, ixSize); err != nil {
			return err
		}
	}
	for i := len(w.kids) - 1; i >= 0; i-- {
		w.stack = append(w.stack, w.kids[i])
	}
	return nil
}

// readAllocation reads every in-use index record of the directory's
// $INDEX_ALLOCATION (the $BITMAP says which), in order. Each node is read
// once, whatever its subnode pointers say.
func (w *walker) readAllocation(d dirItem, ixSize int64) error {
	f := w.f
	if ixSize < 512 || ixSize > maxIndexSize || ixSize&(ixSize-1) != 0 {
		w.warnf(d.n, d.path, 0, "index record size %d; $INDEX_ALLOCATION skipped", ixSize)
		return nil
	}
	bitmap := w.bitmap
	runs := w.dirRuns
	slices.SortFunc(runs, cmpRun)
	if int64(cap(w.ixBuf)) < ixSize {
		w.ixBuf = make([]byte, ixSize)
	}
	buf := w.ixBuf[:ixSize]
	var ps []piece
	nblocks := w.dirSize / ixSize
	for i := int64(0); i < nblocks && i/8 < int64(len(bitmap)); i++ {
		if bitmap[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		w.budget--
		if w.budget < 0 {
			return w.errBudget()
		}
		var err error
		ps, err = f.mapRange(runs, i*ixSize, ixSize, ps[:0])
		if err != nil {
			w.warnf(d.n, d.path, 0, "index record %d: %v; skipped", i, err)
			continue
		}
		if err := f.readPieces(buf, ps); err != nil {
			w.warnf(d.n, d.path, ps[0].off, "index record %d: %v; skipped", i, err)
			continue
		}
		if err := applyFixup(buf, "INDX"); err != nil {
			w.warnf(d.n, d.path, ps[0].off, "index record %d: %v; skipped", i, err)
			continue
		}
		if err := parseIndexNode(buf, 0x18, w.entry); err != nil {
			if w.err != nil {
				return w.err
			}
			w.warnf(d.n, d.path, ps[0].off, "index record %d: %v; rest of the record skipped", i, err)
		}
	}
	return nil
}

// entry handles one entry of the directory w.parent: a subdirectory is
// queued, anything else is reported at once.
func (w *walker) entry(e *indexEntry) error {
	d := w.parent
	if e.namespace == nsDOS {
		return nil // the 8.3 alias of a name listed in the Win32 namespace
	}
	n := refRecord(e.ref)
	if n == d.n {
		return nil // the root's "." entry
	}
	if n < firstNormal && d.n == rootRecord {
		w.mark(n)
		return nil // a system file, reported as metadata (system)
	}
	name := string(utf16.Decode(e.name))
	path := "/" + name
	if d.path != "/" {
		path = d.path + "/" + name
	}
	if err := w.load(n, path); err != nil {
		w.warnLoad(path, err)
		return w.checkBudget()
	}
	s := &w.slots[0]
	if seq := refSeq(e.ref); seq != 0 && seq != s.rec.seq {
		w.warnf(n, path, s.pieces[0].off, "the index entry in %s names sequence number %d, the record has %d (a stale entry); skipped", d.path, seq, s.rec.seq)
		return nil
	}
	w.mark(n)
	if s.rec.isDir() {
		if d.depth+1 > maxDepth {
			w.warnf(n, path, s.pieces[0].off, "directory nested deeper than %d; skipped", maxDepth)
			return nil
		}
		w.kids = append(w.kids, dirItem{n: n, depth: d.depth + 1, path: path, meta: d.meta})
		return w.checkBudget()
	}
	kind := bmap.KindFile
	if d.meta {
		kind = bmap.KindMeta
	}
	if err := w.emit(n, path, kind); err != nil {
		w.err = err
		return errStop
	}
	return w.checkBudget()
}

func (w *walker) checkBudget() error {
	if w.budget < 0 {
		w.err = w.errBudget()
		return errStop
	}
	return nil
}

// orphanDir is the directory orphans are reported under, as The Sleuth
// Kit names its virtual directory of them.
const orphanDir = "/$OrphanFiles"

// orphans finds the in-use base records after the reserved ones that no
// index named (a damaged directory record or index loses the names of
// what it held, not the files) and reports each under
// /$OrphanFiles/NAME, NAME being its Win32 or POSIX $FILE_NAME: first
// those whose parent is not itself an orphan directory, listing the
// orphan directories as any directory (which reaches their contents),
// then any orphan still not reached. One warning counts them.
func (w *walker) orphans() error {
	f := w.f
	f.unreachable = 0
	var first uint64
	var firstOff int64
	orphan := make([]uint64, len(w.reached))
	s := w.slot(0)
	for n := uint64(firstUserRecord); n < uint64(f.nrec); n++ {
		if w.isMarked(n) {
			continue
		}
		w.budget--
		var err error
		if s.pieces, err = f.locate(n, s.pieces[:0], false); err != nil || f.readPieces(s.buf, s.pieces) != nil {
			continue
		}
		if parseRecord(s.buf, &s.rec) != nil || !s.rec.inUse() || s.rec.baseRef != 0 {
			continue
		}
		if f.unreachable == 0 {
			first, firstOff = n, s.pieces[0].off
		}
		f.unreachable++
		orphan[n/64] |= 1 << (n % 64)
	}
	if f.unreachable == 0 {
		return nil
	}
	f.warnErr(&diskerr.FormatError{FS: "ntfs", Off: firstOff, What: fmt.Sprintf("MFT record %d", first), Msg: fmt.Sprintf("%d in-use file record(s) not reachable from the root directory (orphans), the first this one; mapped under %s", f.unreachable, orphanDir)})
	isOrphan := func(n uint64) bool { return n < uint64(f.nrec) && orphan[n/64]&(1<<(n%64)) != 0 }
	names := map[string]bool{}
	for pass := 0; pass < 2; pass++ {
		for n := uint64(firstUserRecord); n < uint64(f.nrec); n++ {
			if !isOrphan(n) || w.isMarked(n) {
				continue
			}
			if err := w.load(n, orphanDir); err != nil {
				w.mark(n)
				w.warnLoad(fmt.Sprintf("%s/OrphanFile-%d", orphanDir, n), err)
				continue
			}
			name, parent, ok := w.fileName()
			if pass == 0 && ok && isOrphan(parent) && !w.isMarked(parent) {
				continue // reached when its directory is listed
			}
			if !ok || name == "" {
				name = fmt.Sprintf("OrphanFile-%d", n)
			}
			if names[name] {
				name = fmt.Sprintf("%s (record %d)", name, n)
			}
			names[name] = true
			path := orphanDir + "/" + name
			w.mark(n)
			if w.slots[0].rec.isDir() {
				w.stack = append(w.stack, dirItem{n: n, depth: 1, path: path})
			} else if err := w.emit(n, path, bmap.KindFile); err != nil {
				return err
			}
			if err := w.drain(); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileName returns the loaded record's first Win32 or POSIX $FILE_NAME
// and its parent's record number.
func (w *walker) fileName() (name string, parent uint64, ok bool) {
	for i := 0; i < w.nattrs; i++ {
		a := &w.attrs[i]
		if a.typ != atFileName || !a.resident || a.valueLen < 0x42 {
			continue
		}
		v := a.value(w)
		l := int(v[0x40])
		if v[0x41] == nsDOS || 0x42+2*l > len(v) {
			continue
		}
		u := make([]uint16, l)
		for j := range u {
			u[j] = binary.LittleEndian.Uint16(v[0x42+2*j:])
		}
		return string(utf16.Decode(u)), refRecord(binary.LittleEndian.Uint64(v)), true
	}
	return "", 0, false
}
