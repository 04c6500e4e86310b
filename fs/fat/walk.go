package fat

import (
	"errors"
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// maxDepth caps the directory nesting Walk follows.
const maxDepth = 1024

// maxDirRead is the most bytes of a directory read at once.
const maxDirRead = 256 << 10

// errStop ends a directory parse when fn returned an error (kept in
// walker.err).
var errStop = errors.New("fat: walk stopped")

// walkBudget is the budget of a walk over a volume of n clusters: the
// clusters of all chains followed. A sound volume follows each cluster
// once; entries naming the same chain again and again exhaust it, and the
// walk stops instead of doing work quadratic in the volume's size. A
// variable so that a test can lower it.
var walkBudget = func(n uint32) int64 { return 4*int64(n) + 1<<16 }

type dirItem struct {
	start uint32 // first cluster; 0 for the FAT12/16 root region
	inode uint64
	depth int
	path  string
}

// walker is the state of one Walk.
type walker struct {
	f      *FS
	p      *bpb
	t      *table
	fn     func(fs.Entry) error
	err    error
	budget int64
	// owned marks the clusters of every chain followed so far, files'
	// and directories': a chain that runs into one is crossed with an
	// earlier one (or loops) and is cut there.
	owned  bitset
	runs   []run
	out    []bmap.Extent
	buf    []byte
	lfn    lfnState
	stack  []dirItem
	kids   []dirItem
	parent dirItem
}

// Walk calls fn for the metadata structures, then for the root directory
// and every directory and file reachable from it, each directory before
// its contents. See the package documentation for the extents reported.
// Damage is reported through the SetWarn function and skipped; Walk
// returns fn's error, or an error when the walk's budget runs out.
func (f *FS) Walk(fn func(fs.Entry) error) error {
	p := f.p
	w := &walker{f: f, p: p, t: newTable(f.r, p), fn: fn, budget: walkBudget(p.clusters)}
	w.owned = newBitset(p.maxCluster)
	w.t.onAlt = func(err error, altOff int64) {
		w.warnf(w.t.off, fmt.Sprintf("FAT %d", p.useFAT+1), "%v; the same bytes of another copy at %#x are used", err, altOff)
	}
	if err := w.meta(); err != nil {
		return err
	}
	w.compareFATs()
	if p.variant == FAT32 {
		w.stack = append(w.stack, dirItem{start: p.rootCluster, inode: rootInode, path: "/"})
	} else {
		w.stack = append(w.stack, dirItem{start: 0, inode: rootInode, path: "/"})
	}
	for len(w.stack) > 0 {
		d := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if err := w.dir(d); err != nil {
			return err
		}
	}
	return nil
}

// compareFATs warns when the other FAT copies differ from the one read
// (unless a FAT32 volume turned mirroring off: then they may). Like
// fsck.fat, which compares the whole copies and, when both look intact
// (their first entry holds the media descriptor), keeps the first: the
// copy read is used whole, not entry by entry, and the warning says how
// many entries differ and the first.
func (w *walker) compareFATs() {
	p := w.p
	if p.nfats < 2 || p.variant == FAT32 && p.extFlags&0x80 != 0 {
		return
	}
	for i := range p.nfats {
		if i == p.useFAT || i == p.activeFAT() {
			continue // the copy read, or the one New refused (and said so)
		}
		o := newTable(w.f.r, p)
		o.off, o.alt = p.fatOff+i*p.fatLen, -1
		what := fmt.Sprintf("FAT %d", i+1)
		if ok, v, err := o.mediaOK(); err != nil {
			w.warnf(o.off, what, "unreadable (%v); FAT %d is used", err, p.useFAT+1)
			continue
		} else if !ok {
			w.warnf(o.off, what, "first entry %#x is not a media descriptor (zeroed or overwritten); FAT %d is used, as fsck.fat does", v, p.useFAT+1)
			continue
		}
		a := newTable(w.f.r, p)
		a.alt = -1
		n, c, va, vb, err := fatDiff(w.f.r, a, o)
		if err != nil || n == 0 {
			continue
		}
		w.warnf(o.volumeOff(c), what, "differs from FAT %d in %d entries, the first of cluster %d (%#x there, %#x here); both look intact: FAT %d is used, as fsck.fat does", p.useFAT+1, n, c, va, vb, p.useFAT+1)
	}
}

// rootInode is The Sleuth Kit's address of the root directory.
const rootInode = 2

// inode is The Sleuth Kit's address of the directory entry at byte off:
// entries are numbered from 3, 32 bytes apart, from the first sector
// after the FATs (the root region on FAT12/16, cluster 2 on FAT32).
func (w *walker) inode(off int64) uint64 {
	return uint64((off-w.p.rootOff)/direntSize) + 3
}

func (w *walker) errBudget() error {
	return &diskerr.FormatError{FS: "fat", Off: w.t.off, What: "FAT", Msg: fmt.Sprintf("walk stopped after following more than %d clusters: chains shared between many entries", walkBudget(w.p.clusters))}
}

func (w *walker) warnf(off int64, what, format string, args ...any) {
	w.f.warnErr(&diskerr.FormatError{FS: "fat", Off: off, What: what, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) emit(e fs.Entry) error {
	if err := w.fn(e); err != nil {
		w.err = err
		return errStop
	}
	return nil
}

// meta reports the boot sector, FSInfo, their backups, the other reserved
// sectors, every FAT copy and the FAT12/16 root directory region.
func (w *walker) meta() error {
	p := w.p
	named := make([]bool, p.reserved)
	one := func(name string, sector int64) error {
		named[sector] = true
		w.out = append(w.out[:0], bmap.Extent{Off: sector * p.bps, Len: p.bps, FileOff: -1, Role: bmap.RoleMeta})
		return w.fn(fs.Entry{Kind: bmap.KindMeta, Path: name, Extents: w.out})
	}
	sector := make([]byte, 512)
	check := func(name string, s int64, parse func([]byte) error) {
		if err := chunkcache.ReadFull(w.f.r, sector, s*p.bps); err != nil {
			w.warnf(s*p.bps, name, "reading: %v", err)
		} else if err := parse(sector); err != nil {
			w.warnf(s*p.bps, name, "%v", err)
		}
	}
	fsinfoOK := func(b []byte) error { _, err := parseFSInfo(b); return err }
	bootOK := func(b []byte) error {
		if b[510] != 0x55 || b[511] != 0xAA {
			return fmt.Errorf("no boot signature 0x55 0xAA")
		}
		return nil
	}
	if err := one("boot sector", 0); err != nil {
		return err
	}
	if p.variant == FAT32 {
		if p.reservedSector(p.fsinfo) {
			check("fsinfo", p.fsinfo, fsinfoOK)
			if err := one("fsinfo", p.fsinfo); err != nil {
				return err
			}
		}
		if p.reservedSector(p.backupBoot) {
			check("backup boot sector", p.backupBoot, bootOK)
			if err := one("backup boot sector", p.backupBoot); err != nil {
				return err
			}
			if s := p.backupBoot + p.fsinfo; p.reservedSector(p.fsinfo) && p.reservedSector(s) && !named[s] {
				check("backup fsinfo", s, fsinfoOK)
				if err := one("backup fsinfo", s); err != nil {
					return err
				}
			}
		}
	}
	w.out = w.out[:0]
	for s := int64(0); s < p.reserved; s++ {
		if named[s] {
			continue
		}
		if n := len(w.out); n > 0 && w.out[n-1].End() == s*p.bps {
			w.out[n-1].Len += p.bps
		} else {
			w.out = append(w.out, bmap.Extent{Off: s * p.bps, Len: p.bps, FileOff: -1, Role: bmap.RoleMeta})
		}
	}
	if len(w.out) > 0 {
		if err := w.fn(fs.Entry{Kind: bmap.KindMeta, Path: "reserved sectors", Extents: w.out}); err != nil {
			return err
		}
	}
	for i := range p.nfats {
		w.out = append(w.out[:0], bmap.Extent{Off: p.fatOff + i*p.fatLen, Len: p.fatLen, FileOff: -1, Role: bmap.RoleMeta})
		if err := w.fn(fs.Entry{Kind: bmap.KindMeta, Path: fmt.Sprintf("FAT %d", i+1), Extents: w.out}); err != nil {
			return err
		}
	}
	if p.rootLen > 0 {
		w.out = append(w.out[:0], bmap.Extent{Off: p.rootOff, Len: p.rootLen, FileOff: -1, Role: bmap.RoleMeta})
		if err := w.fn(fs.Entry{Kind: bmap.KindMeta, Path: "root directory", Extents: w.out}); err != nil {
			return err
		}
	}
	return nil
}

// extents turns runs into data extents in w.out.
func (w *walker) extents(runs []run) []bmap.Extent {
	w.out = w.out[:0]
	var fo int64
	for _, r := range runs {
		n := int64(r.n) * w.p.clusterSize
		w.out = append(w.out, bmap.Extent{Off: w.p.clusterOff(r.first), Len: n, FileOff: fo, Role: bmap.RoleData})
		fo += n
	}
	return w.out
}

// dir reports directory d, reads its entries, reports its files and
// queues its subdirectories.
func (w *walker) dir(d dirItem) error {
	p := w.p
	what := "directory " + d.path
	var size int64
	if d.start == 0 { // FAT12/16 root region
		w.out = append(w.out[:0], bmap.Extent{Off: p.rootOff, Len: p.rootLen, FileOff: 0, Role: bmap.RoleData})
		size = p.rootLen
	} else {
		var res chainResult
		w.runs, res = w.t.follow(d.start, p.maxCluster, w.runs[:0], w.owned, &w.budget)
		switch res.end {
		case endBudget:
			return w.errBudget()
		case endShared, endLoop:
			if res.count == 0 {
				w.warnf(p.clusterOff(d.start), what, "directory reached twice (a loop, or two entries for one directory) or crossed with a file: first cluster %d already read; skipped", d.start)
				return nil
			}
		}
		if res.end != endEOC {
			w.warnf(w.t.volumeOff(res.at), what, "cluster chain cut after %d clusters: %s", res.count, w.t.describe(res))
		}
		size = int64(res.count) * p.clusterSize
		w.extents(w.runs)
	}
	if err := w.fn(fs.Entry{Kind: bmap.KindDir, Path: d.path, Inode: d.inode, Size: size, Extents: w.out}); err != nil {
		return err
	}
	// Read the directory's bytes, extent by extent (w.out is reused for
	// the files: copy the list of places first).
	w.parent = d
	w.kids = w.kids[:0]
	w.lfn.reset()
	var places [][2]int64
	for _, e := range w.out {
		places = append(places, [2]int64{e.Off, e.Len})
	}
	end := false
	for _, pl := range places {
		for done := int64(0); done < pl[1] && !end; {
			n := min(pl[1]-done, maxDirRead)
			if int64(cap(w.buf)) < n {
				w.buf = make([]byte, n)
			}
			buf := w.buf[:n]
			off := pl[0] + done
			if err := chunkcache.ReadFull(w.f.r, buf, off); err != nil {
				w.warnf(off, what, "reading directory entries: %v; rest skipped", err)
				end = true
				break
			}
			var err error
			end, err = w.entries(buf, off)
			if err != nil {
				return err
			}
			done += n
		}
		if end {
			break
		}
	}
	if !end && w.lfn.active {
		w.warnf(w.lfn.off, what, "long name entries at the end of the directory, without their 8.3 entry")
	}
	for i := len(w.kids) - 1; i >= 0; i-- {
		w.stack = append(w.stack, w.kids[i])
	}
	return nil
}

// entries parses the directory entries in buf (at volume offset off) of
// directory w.parent. It reports end at the end-of-directory mark.
func (w *walker) entries(buf []byte, off int64) (end bool, err error) {
	d := w.parent
	for i := 0; i+direntSize <= len(buf); i += direntSize {
		b := buf[i : i+direntSize]
		eoff := off + int64(i)
		switch {
		case b[0] == 0x00:
			return true, nil
		case b[0] == 0xE5:
			w.lfn.reset()
			continue
		case b[11]&0x3F == attrLFN:
			w.lfn.add(decodeLFN(b), eoff)
			continue
		}
		e := decodeShort(b, w.p.variant == FAT32)
		if e.attr&attrVolume != 0 || e.isDot() {
			w.lfn.reset()
			continue
		}
		name, reason := w.lfn.take(&e)
		short := cleanName(e.name())
		if reason != "" {
			w.warnf(eoff, "directory "+d.path, "%s; the 8.3 name %q is used", reason, short)
		}
		if name == "" {
			name = short
		}
		if name == "" || name == "." || name == ".." {
			w.warnf(eoff, "directory "+d.path, "entry with the unusable name %q; skipped", name)
			continue
		}
		path := "/" + name
		if d.path != "/" {
			path = d.path + path
		}
		if e.isDir() {
			if err := w.subdir(e, path, eoff, d.depth+1); err != nil {
				return true, err
			}
			continue
		}
		if err := w.file(e, path, eoff); err != nil {
			if errors.Is(err, errStop) {
				return true, w.err
			}
			return true, err
		}
	}
	return false, nil
}

// cleanName makes an 8.3 name one printable path component.
func cleanName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			b := []rune(s)
			for j, r := range b {
				if r == '/' || r == 0 {
					b[j] = '\uFFFD'
				}
			}
			return string(b)
		}
	}
	return s
}

func (w *walker) subdir(e shortEntry, path string, eoff int64, depth int) error {
	what := "directory " + path
	switch {
	case e.cluster == 0:
		w.warnf(eoff, what, "directory entry without a first cluster; skipped")
		return nil
	case e.cluster < 2 || e.cluster > w.p.maxCluster:
		w.warnf(eoff, what, "first cluster %d outside the clusters 2-%d; skipped", e.cluster, w.p.maxCluster)
		return nil
	case depth > maxDepth:
		w.warnf(eoff, what, "directory nested deeper than %d; skipped", maxDepth)
		return nil
	}
	w.kids = append(w.kids, dirItem{start: e.cluster, inode: w.inode(eoff), depth: depth, path: path})
	return nil
}

// file reports the file of short entry e (at eoff) with the clusters its
// size needs.
func (w *walker) file(e shortEntry, path string, eoff int64) error {
	p := w.p
	what := "file " + path
	size := int64(e.size)
	ent := fs.Entry{Kind: bmap.KindFile, Path: path, Inode: w.inode(eoff), Size: size}
	switch {
	case e.cluster == 0:
		if size > 0 {
			w.warnf(eoff, what, "size %d but no first cluster; mapped without data", size)
		}
		return w.emit(ent)
	case e.cluster < 2 || e.cluster > p.maxCluster:
		w.warnf(eoff, what, "first cluster %d outside the clusters 2-%d; mapped without data", e.cluster, p.maxCluster)
		return w.emit(ent)
	case size == 0:
		w.warnf(eoff, what, "empty file with first cluster %d; its chain is not mapped", e.cluster)
		return w.emit(ent)
	}
	need := uint32((size + p.clusterSize - 1) / p.clusterSize)
	var res chainResult
	w.runs, res = w.t.follow(e.cluster, need, w.runs[:0], w.owned, &w.budget)
	switch res.end {
	case endBudget:
		w.err = w.errBudget()
		return errStop
	case endLimit:
		if v, err := w.t.next(res.at); err == nil && w.t.class(v) != entryEnd {
			w.warnf(w.t.volumeOff(res.at), what, "cluster chain goes on past the %d clusters of its size %d (cluster %d -> %#x); the rest is not mapped", need, size, res.at, v)
		}
	default:
		at := w.t.volumeOff(res.at)
		if res.count == 0 {
			at = eoff // its first cluster is taken
		}
		w.warnf(at, what, "cluster chain of %d clusters (%d bytes) is shorter than its size %d: %s", res.count, int64(res.count)*p.clusterSize, size, w.chainWhy(res))
	}
	ent.Extents = w.extents(w.runs)
	return w.emit(ent)
}

// chainWhy explains a file chain's early end: a loop, a cluster of an
// earlier file or directory (crossed chains: the later file is cut, as
// fsck.fat truncates the second of two files sharing clusters), or a bad
// FAT entry.
func (w *walker) chainWhy(res chainResult) string {
	if res.end == endEOC {
		return fmt.Sprintf("the FAT entry of cluster %d (at %#x) ends the chain", res.at, w.t.volumeOff(res.at))
	}
	return w.t.describe(res)
}
