package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"strings"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
	"github.com/virt-bmap/virt-bmap/internal/fsfile"
)

// Read access: *FS implements io/fs's FS, ReadDirFS, StatFS and
// ReadLinkFS, so that callers read files by path (fs.ReadFile,
// fs.ReadDir, fs.WalkDir, fs.Glob) without mounting.
//
// Names are matched as Windows does, case-insensitively (Unicode simple
// case folding, strings.EqualFold), against the long name and, as a
// fallback, the 8.3 name; DirEntry.Name and FileInfo.Name give the name
// as stored (the long name when there is a valid one, as Walk uses). "."
// and ".." are not listed. FAT has no symbolic links: Lstat is Stat and
// ReadLink fails with fs.ErrInvalid. Modes are 0555 for directories and
// 0444 for files (the volume is read-only here); ModTime is the entry's
// modification date and time, taken as UTC (FAT stores local time); Sys
// returns The Sleuth Kit's address of the entry (as Walk's Entry.Inode) as
// a uint64. A file is read through its cluster chain, for the clusters
// its size needs; a chain that ends early or loops is an error.
var (
	_ iofs.FS         = (*FS)(nil)
	_ iofs.ReadDirFS  = (*FS)(nil)
	_ iofs.StatFS     = (*FS)(nil)
	_ iofs.ReadLinkFS = (*FS)(nil)
)

// Limits on lookups and listings.
const (
	maxPathSteps  = 4096    // components in one name
	maxDirEntries = 65536   // FAT's own limit on a directory's entries
	maxDirBytes   = 2 << 20 // 65536 entries of 32 bytes
)

var errNotDir = fsfile.ErrNotDir

// node is a directory entry (or the root).
type node struct {
	name    string // as shown: long name, else the 8.3 name
	short   string // the 8.3 name
	attr    byte
	cluster uint32
	size    int64
	mtime   time.Time
	inode   uint64
	root    bool
}

func (n *node) isDir() bool { return n.root || n.attr&attrDir != 0 }

func (f *FS) rootNode() *node {
	n := &node{name: ".", root: true, attr: attrDir, inode: rootInode}
	if f.p.variant == FAT32 {
		n.cluster = f.p.rootCluster
	}
	return n
}

// Open opens the named file or directory for reading.
func (f *FS) Open(name string) (iofs.File, error) {
	n, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	if n.isDir() {
		return fsfile.NewDir(&fileInfo{n}, name, func() ([]iofs.DirEntry, error) { return f.list(n) }), nil
	}
	c, err := f.contents(n)
	if err != nil {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: err}
	}
	return fsfile.NewFile(&fileInfo{n}, name, c, c.size), nil
}

// Stat returns a FileInfo for the named file.
func (f *FS) Stat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// Lstat is Stat: FAT has no symbolic links.
func (f *FS) Lstat(name string) (iofs.FileInfo, error) {
	n, err := f.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// ReadLink fails: FAT has no symbolic links.
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

// resolve looks name up from the root.
func (f *FS) resolve(op, name string) (*node, error) {
	if !iofs.ValidPath(name) {
		return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	cur := f.rootNode()
	if name == "." {
		return cur, nil
	}
	parts := strings.Split(name, "/")
	if len(parts) > maxPathSteps {
		return nil, &iofs.PathError{Op: op, Path: name, Err: fmt.Errorf("more than %d path components", maxPathSteps)}
	}
	for _, p := range parts {
		if !cur.isDir() {
			return nil, &iofs.PathError{Op: op, Path: name, Err: errNotDir}
		}
		var found *node
		err := f.scanDir(cur, func(n *node) bool {
			if strings.EqualFold(n.name, p) || strings.EqualFold(n.short, p) {
				found = n
				return false
			}
			return true
		})
		if err != nil {
			return nil, &iofs.PathError{Op: op, Path: name, Err: err}
		}
		if found == nil {
			return nil, &iofs.PathError{Op: op, Path: name, Err: iofs.ErrNotExist}
		}
		cur = found
	}
	return cur, nil
}

// chain returns the runs of the cluster chain from start, at most limit
// clusters. A chain that leads to a free, reserved, bad or out-of-volume
// cluster, or loops, is an error; so is one shorter than need clusters.
func (f *FS) chain(start, limit, need uint32) ([]run, error) {
	p := f.p
	if start < 2 || start > p.maxCluster {
		return nil, &diskerr.FormatError{FS: "fat", Off: p.fatOff, What: "cluster chain", Msg: fmt.Sprintf("first cluster %d outside the clusters 2-%d", start, p.maxCluster)}
	}
	t := newTable(f.r, p)
	var runs []run
	starts := map[uint32]struct{}{}
	c := start
	for count := uint32(0); count < limit; {
		if n := len(runs); n > 0 && runs[n-1].first+runs[n-1].n == c {
			runs[n-1].n++
		} else {
			if _, ok := starts[c]; ok {
				return nil, &diskerr.FormatError{FS: "fat", Off: t.volumeOff(c), What: fmt.Sprintf("cluster chain from %d", start), Msg: fmt.Sprintf("loops back to cluster %d", c)}
			}
			starts[c] = struct{}{}
			runs = append(runs, run{first: c, n: 1})
		}
		if count++; count == limit {
			break
		}
		v, err := t.next(c)
		if err != nil {
			return nil, &diskerr.FormatError{FS: "fat", Off: t.volumeOff(c), What: fmt.Sprintf("cluster chain from %d", start), Msg: err.Error()}
		}
		switch t.class(v) {
		case entryNext:
			if v-runs[len(runs)-1].first < runs[len(runs)-1].n && v >= runs[len(runs)-1].first {
				return nil, &diskerr.FormatError{FS: "fat", Off: t.volumeOff(c), What: fmt.Sprintf("cluster chain from %d", start), Msg: fmt.Sprintf("loops back to cluster %d", v)}
			}
			c = v
			continue
		case entryEnd:
			if count < need {
				return nil, &diskerr.FormatError{FS: "fat", Off: t.volumeOff(c), What: fmt.Sprintf("cluster chain from %d", start), Msg: fmt.Sprintf("ends after %d clusters, %d needed", count, need)}
			}
			return runs, nil
		default:
			return nil, &diskerr.FormatError{FS: "fat", Off: t.volumeOff(c), What: fmt.Sprintf("cluster chain from %d", start), Msg: fmt.Sprintf("cluster %d leads to %#x, not a cluster", c, v)}
		}
	}
	return runs, nil
}

// contents returns a reader of a file's bytes.
func (f *FS) contents(n *node) (*extentReader, error) {
	c := &extentReader{r: f.r, size: n.size}
	if n.size == 0 {
		return c, nil
	}
	cs := f.p.clusterSize
	need := uint32((n.size + cs - 1) / cs)
	runs, err := f.chain(n.cluster, need, need)
	if err != nil {
		return nil, err
	}
	var fo int64
	for _, r := range runs {
		l := int64(r.n) * cs
		c.ext = append(c.ext, bmap.Extent{Off: f.p.clusterOff(r.first), Len: l, FileOff: fo, Role: bmap.RoleData})
		fo += l
	}
	return c, nil
}

// dirBytes reads a directory's entries' bytes: the FAT12/16 root region,
// or the directory's chain up to maxDirBytes.
// The extents say where each byte lies on disk.
func (f *FS) dirBytes(n *node) ([]byte, []bmap.Extent, error) {
	p := f.p
	if n.root && p.variant != FAT32 {
		b := make([]byte, min(p.rootLen, maxDirBytes))
		if err := chunkcache.ReadFull(f.r, b, p.rootOff); err != nil {
			return nil, nil, &diskerr.FormatError{FS: "fat", Off: p.rootOff, What: "root directory", Msg: err.Error()}
		}
		return b, []bmap.Extent{{Off: p.rootOff, Len: int64(len(b)), FileOff: 0}}, nil
	}
	limit := uint32(max(1, maxDirBytes/p.clusterSize))
	runs, err := f.chain(n.cluster, limit, 1)
	if err != nil {
		return nil, nil, err
	}
	var es []bmap.Extent
	var total int64
	for _, r := range runs {
		l := int64(r.n) * p.clusterSize
		es = append(es, bmap.Extent{Off: p.clusterOff(r.first), Len: l, FileOff: total})
		total += l
	}
	b := make([]byte, total)
	for _, e := range es {
		if err := chunkcache.ReadFull(f.r, b[e.FileOff:e.FileOff+e.Len], e.Off); err != nil {
			return nil, nil, &diskerr.FormatError{FS: "fat", Off: e.Off, What: "directory", Msg: err.Error()}
		}
	}
	return b, es, nil
}

// scanDir calls fn for every entry of directory d ("." and "..", volume
// labels and deleted entries left out) until fn returns false. Long
// names are used when valid, as Walk does.
func (f *FS) scanDir(d *node, fn func(*node) bool) error {
	b, places, err := f.dirBytes(d)
	if err != nil {
		return err
	}
	var lfn lfnState
	k := 0 // the extent holding byte i
	for i := 0; i+direntSize <= len(b); i += direntSize {
		e := b[i : i+direntSize]
		for places[k].FileOff+places[k].Len <= int64(i) {
			k++
		}
		eoff := places[k].Off + int64(i) - places[k].FileOff
		switch {
		case e[0] == 0x00:
			return nil
		case e[0] == 0xE5:
			lfn.reset()
			continue
		case e[11]&0x3F == attrLFN:
			lfn.add(decodeLFN(e), eoff)
			continue
		}
		se := decodeShort(e, f.p.variant == FAT32)
		if se.attr&attrVolume != 0 || se.isDot() {
			lfn.reset()
			continue
		}
		name, _ := lfn.take(&se)
		short := cleanName(se.name())
		if name == "" {
			name = short
		}
		if name == "" || name == "." || name == ".." {
			continue
		}
		// The Sleuth Kit's address from the entry's disk offset: see
		// walker.inode.
		n := &node{name: name, short: short, attr: se.attr, cluster: se.cluster, size: int64(se.size), mtime: fatTime(e), inode: uint64((eoff-f.p.rootOff)/direntSize) + 3}
		if n.isDir() {
			n.size = 0
		}
		if !fn(n) {
			return nil
		}
	}
	return nil
}

// fatTime decodes an entry's modification date and time (offsets 22 and
// 24), as UTC; a zero date gives the zero time.
func fatTime(e []byte) time.Time {
	tm := binary.LittleEndian.Uint16(e[22:])
	dt := binary.LittleEndian.Uint16(e[24:])
	if dt == 0 {
		return time.Time{}
	}
	return time.Date(1980+int(dt>>9), time.Month(dt>>5&0xF), int(dt&0x1F), int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2, 0, time.UTC)
}

// list returns directory d's entries sorted by name.
func (f *FS) list(d *node) ([]iofs.DirEntry, error) {
	if !d.isDir() {
		return nil, errNotDir
	}
	var es []iofs.DirEntry
	err := f.scanDir(d, func(n *node) bool {
		es = append(es, iofs.FileInfoToDirEntry(&fileInfo{n}))
		return len(es) < maxDirEntries
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
	return es, nil
}

// fileInfo is the FileInfo of a directory entry. Sys returns The Sleuth
// Kit's address as a uint64.
type fileInfo struct{ n *node }

func (i *fileInfo) Name() string       { return i.n.name }
func (i *fileInfo) Size() int64        { return i.n.size }
func (i *fileInfo) ModTime() time.Time { return i.n.mtime }
func (i *fileInfo) IsDir() bool        { return i.n.isDir() }
func (i *fileInfo) Sys() any           { return i.n.inode }
func (i *fileInfo) Mode() iofs.FileMode {
	if i.n.isDir() {
		return iofs.ModeDir | 0o555
	}
	return 0o444
}

// extentReader reads size bytes mapped by extents sorted by FileOff.
type extentReader struct {
	r    io.ReaderAt
	size int64
	ext  []bmap.Extent
}

func (c *extentReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, iofs.ErrInvalid
	}
	if off >= c.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > c.size-off {
		p = p[:c.size-off]
	}
	done := 0
	i := sort.Search(len(c.ext), func(i int) bool { return c.ext[i].FileOff+c.ext[i].Len > off })
	for done < len(p) {
		pos := off + int64(done)
		for i < len(c.ext) && c.ext[i].FileOff+c.ext[i].Len <= pos {
			i++
		}
		if i == len(c.ext) || c.ext[i].FileOff > pos {
			return done, fmt.Errorf("byte %d not mapped", pos)
		}
		e := c.ext[i]
		n := int(min(int64(len(p)-done), e.FileOff+e.Len-pos))
		if err := chunkcache.ReadFull(c.r, p[done:done+n], e.Off+pos-e.FileOff); err != nil {
			return done, fmt.Errorf("reading %d bytes at %#x: %w", n, e.Off+pos-e.FileOff, err)
		}
		done += n
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}
