package ext

import (
	"errors"
	"fmt"
	"strings"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// maxDepth caps the directory nesting Walk follows.
const maxDepth = 4096

// maxDirRead is the most bytes of a directory read at once.
const maxDirRead = 256 << 10

// errStop ends a directory parse when fn returned an error (kept in
// walker.err).
var errStop = errors.New("ext: walk stopped")

// walker is the state of one Walk.
type walker struct {
	f       *FS
	fn      func(fs.Entry) error
	err     error // fn's error
	m       fileMap
	in      Inode
	ibuf    []byte // raw bytes of the directory being read (w.in.extra aliases it)
	cbuf    []byte // raw bytes of a child inode
	cin     Inode  // the child inode entry reports (a field: a local escapes, through w.m, once per file)
	dirBuf  []byte
	out     []bmap.Extent       // extents of the entry being reported (fs.Walker: valid during fn only)
	dirExt  []bmap.Extent       // data extents of the directory being read
	visited map[uint32]struct{} // directories reached
	links   map[uint32]linked   // inodes with several links, mapped
	paths   strings.Builder     // where joinPath cuts paths from
	// linkBits has a bit set for each inode in links, so that the
	// entries of other inodes (nearly all) skip the map lookup.
	linkBits []uint64
	stack    []dirItem // directories still to read
	kids     []dirItem // subdirectories of the directory being read
	dirBad   bool      // the directory being read has a damaged map or an unreadable or malformed block
	parent   dirItem
	// dmg collects the damage counts of this walk (see Damage).
	dmg Damage
	// budget bounds the work of one walk on a damaged image: blocks of
	// extent trees, indirect blocks, xattr blocks and directories read,
	// plus extents copied for hard links. A sound filesystem reads each
	// such block once (twice at most, for hard-linked trees), so the
	// allowance is four times the filesystem's blocks plus a margin;
	// blocks shared between many inodes exhaust it, and the walk stops
	// instead of doing work quadratic in the image's size.
	budget int64
}

// errBudget is returned when the walk's budget is exhausted.
func (w *walker) errBudget() error {
	return &diskerr.FormatError{FS: "ext", Off: superblockOff, What: "filesystem", Msg: fmt.Sprintf("walk stopped after reading more than %d blocks of trees and directories: blocks shared between many inodes", walkBudget(w.f.sb.blocksCount))}
}

// walkBudget is the budget of a walk over a filesystem of n blocks (see
// walker.budget). A variable so that a test can lower it.
var walkBudget = func(n uint64) int64 { return int64(4*n) + 1<<16 }

// freeLinkExtents is how many extents a hard link's copy may have before
// the copy is charged to the budget: backup trees of hard-linked small
// files cost nothing, a huge extent list named by many entries does.
const freeLinkExtents = 16

// linked is what the walk reports again for another name of an inode
// with several links.
type linked struct {
	ext     []bmap.Extent
	size    int64
	symlink bool
}

// pathArena is the size of the pieces of memory the walk's paths are cut
// from.
const pathArena = 256 << 10

// joinPath returns dir + "/" + name ("/" + name in the root), cut from
// w.paths: a million paths made one by one cost a million allocations,
// each rounded up to its size class.
func (w *walker) joinPath(dir string, name []byte) string {
	if dir == "/" {
		dir = ""
	}
	n := len(dir) + 1 + len(name)
	if w.paths.Cap()-w.paths.Len() < n {
		// A new piece; the strings cut from the old one keep it.
		w.paths = strings.Builder{}
		w.paths.Grow(max(pathArena, n))
	}
	start := w.paths.Len()
	w.paths.WriteString(dir)
	w.paths.WriteByte('/')
	w.paths.Write(name)
	return w.paths.String()[start:]
}

// linked looks up an inode in w.links.
func (w *walker) linked(ino uint32) (linked, bool) {
	if len(w.links) == 0 {
		return linked{}, false
	}
	if i := ino / 64; int(i) < len(w.linkBits) && w.linkBits[i]&(1<<(ino%64)) == 0 {
		return linked{}, false
	}
	l, ok := w.links[ino]
	return l, ok
}

// maxLinkBits caps the inodes linkBits covers (16 MiB of bits); the map
// alone answers for inodes past it.
const maxLinkBits = 1 << 27

// addLink records an inode with several links.
func (w *walker) addLink(ino uint32, l linked) {
	if w.linkBits == nil {
		w.linkBits = make([]uint64, min(w.f.sb.inodesCount, maxLinkBits)/64+1)
	}
	if i := ino / 64; int(i) < len(w.linkBits) {
		w.linkBits[i] |= 1 << (ino % 64)
	}
	w.links[ino] = l
}

type dirItem struct {
	ino   uint32
	depth int
	path  string
}

// Walk calls fn for the metadata structures, then for the root directory
// and every directory, file and symbolic link reachable from it, each
// directory before its contents. See the package documentation for the
// extents reported. Damage is reported through the SetWarn function and
// skipped; Walk returns fn's error, or an error when the root directory
// cannot be read.
func (f *FS) Walk(fn func(fs.Entry) error) error {
	w := &walker{
		f:       f,
		fn:      fn,
		ibuf:    make([]byte, f.sb.inodeSize),
		cbuf:    make([]byte, f.sb.inodeSize),
		visited: make(map[uint32]struct{}),
		links:   make(map[uint32]linked),
	}
	w.budget = walkBudget(f.sb.blocksCount)
	w.m = fileMap{f: f, warn: f.warnErr, budget: &w.budget}
	w.dmg = f.damage
	defer func() {
		w.dmg.Walked = true
		f.mu.Lock()
		f.last = w.dmg
		f.mu.Unlock()
	}()
	for _, err := range f.openWarns {
		f.warnErr(err)
	}
	if !f.sb.checksumOK() {
		f.warnErr(&diskerr.FormatError{FS: "ext", Off: superblockOff + 0x3FC, What: "superblock", Msg: "metadata_csum checksum mismatch and no sound backup (the walk goes on)"})
	}
	if err := f.walkMeta(fn, &w.m); err != nil {
		return err
	}
	if err := f.readInode(rootIno, &w.in, w.ibuf); err != nil {
		w.dmg.RootLost = true
		return fmt.Errorf("root directory: %w", err)
	}
	if !w.in.IsDir() {
		w.dmg.RootLost = true
		return &diskerr.FormatError{FS: "ext", Off: w.in.Off, What: "inode 2 (/)", Msg: fmt.Sprintf("root is not a directory (mode %#o)", w.in.Mode)}
	}
	w.stack = append(w.stack, dirItem{ino: rootIno, path: "/"})
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

// warnAt passes on a diskerr.FormatError from a structure of inode ino (at path),
// naming the inode and its path; extra is appended to its message.
func (w *walker) warnAt(ino uint32, path, where string, err error, extra string) {
	var fe *diskerr.FormatError
	if !errors.As(err, &fe) {
		w.f.warnErr(fmt.Errorf("ext: inode %d (%s)%s: %w", ino, path, where, err))
		return
	}
	c := *fe
	c.What = fmt.Sprintf("inode %d (%s)%s", ino, path, where)
	if fe.What != "" && !strings.HasPrefix(fe.What, "inode ") {
		c.What += " " + fe.What
	}
	c.Msg += extra
	w.f.warnErr(&c)
}

func (w *walker) warnf(ino uint32, path string, off int64, format string, args ...any) {
	w.f.warnErr(&diskerr.FormatError{FS: "ext", Off: off, What: fmt.Sprintf("inode %d (%s)", ino, path), Msg: fmt.Sprintf(format, args...)})
}

// dir reports directory d, reads its entries, reports its files and
// queues its subdirectories.
func (w *walker) dir(d dirItem) error {
	f := w.f
	if _, ok := w.visited[d.ino]; ok {
		w.warnf(d.ino, d.path, f.inodeOff(d.ino), "directory reached twice (a loop or a hard-linked directory); skipped")
		return nil
	}
	w.visited[d.ino] = struct{}{}
	if err := f.readInode(d.ino, &w.in, w.ibuf); err != nil {
		w.warnAt(d.ino, d.path, "", err, "")
		w.dmg.InodesSkipped++
		return nil
	}
	in := &w.in
	if !in.IsDir() {
		// It was a directory when queued; only a concurrent change or
		// an inode read twice differently gets here.
		return nil
	}
	if !w.mapChecked(in, d.path) {
		return nil
	}
	if w.budget < 0 {
		return w.errBudget()
	}
	w.out = w.m.appendExtents(w.out[:0])
	if err := w.fn(fs.Entry{Kind: bmap.KindDir, Path: d.path, Inode: uint64(d.ino), Size: in.Size, Extents: w.out}); err != nil {
		return err
	}
	w.parent = d
	w.kids = w.kids[:0]
	w.dirBad = w.m.nwarn > 0 || w.m.pastEnd // before w.m maps the entries' inodes
	filetype := f.sb.hasFiletype()
	if in.HasInlineData() {
		a, aOff, b, bOff := w.m.inlineDirParts()
		if err := parseDirBlock(a, aOff, filetype, f.bs, w.entry); err != nil && !w.stopped(err) {
			w.warnAt(d.ino, d.path, " inline data", err, "; rest skipped")
			w.dirBad = true
		}
		if w.err != nil {
			return w.err
		}
		if b != nil {
			if err := parseDirBlock(b, bOff, filetype, f.bs, w.entry); err != nil && !w.stopped(err) {
				w.warnAt(d.ino, d.path, " inline data (system.data)", err, "; rest skipped")
				w.dirBad = true
			}
			if w.err != nil {
				return w.err
			}
		}
	} else {
		// Read every mapped block within i_size; the extents are copied
		// first since reading entries reuses w.m.
		w.dirExt = append(w.dirExt[:0], w.m.data...)
		data := w.dirExt
		size := in.Size
		for _, e := range data {
			if e.Unwritten || e.Role != bmap.RoleData || e.FileOff >= size {
				continue
			}
			n := min(e.Len, size-e.FileOff)
			n = (n + f.bs - 1) / f.bs * f.bs
			for done := int64(0); done < n; {
				chunk := min(n-done, maxDirRead)
				if int64(cap(w.dirBuf)) < chunk {
					w.dirBuf = make([]byte, chunk)
				}
				buf := w.dirBuf[:chunk]
				off := e.Off + done
				if w.budget -= chunk / f.bs; w.budget < 0 {
					return w.errBudget()
				}
				if err := chunkcache.ReadFull(f.r, buf, off); err != nil {
					w.warnf(d.ino, d.path, off, "reading directory blocks: %v", err)
					w.dirBad = true
					break
				}
				for b := int64(0); b < chunk; b += f.bs {
					err := parseDirBlock(buf[b:b+f.bs], off+b, filetype, f.bs, w.entry)
					if w.err != nil {
						return w.err
					}
					if err != nil {
						w.warnAt(d.ino, d.path, fmt.Sprintf(" directory block %d", (off+b)/f.bs), err, "; rest of the block skipped")
						w.dirBad = true
					}
				}
				done += chunk
			}
		}
	}
	if w.dirBad {
		w.dmg.DirsPartial++
	}
	// Queue subdirectories so that they are read in directory order.
	for i := len(w.kids) - 1; i >= 0; i-- {
		w.stack = append(w.stack, w.kids[i])
	}
	return nil
}

func (w *walker) stopped(err error) bool { return errors.Is(err, errStop) }

// entry handles one entry of the directory w.parent: a subdirectory is
// queued, anything else is reported at once.
func (w *walker) entry(de dirent) error {
	f := w.f
	d := w.parent
	path := w.joinPath(d.path, de.name)
	if de.ino > f.sb.inodesCount {
		w.warnf(d.ino, d.path, f.inodeOff(d.ino), "entry %q points to inode %d beyond s_inodes_count %d; skipped", de.name, de.ino, f.sb.inodesCount)
		w.dmg.InodesSkipped++
		return nil
	}
	if l, ok := w.linked(de.ino); ok {
		// Another name of a file already mapped: its inode is not read
		// again (it may lie anywhere in the inode tables, so reading it
		// cost a chunk of them per link).
		if w.budget -= int64(max(0, len(l.ext)-freeLinkExtents)); w.budget < 0 {
			w.err = w.errBudget()
			return errStop
		}
		// fn may not keep or change the extents (fs.Walker).
		return w.emit(fs.Entry{Kind: bmap.KindFile, Path: path, Inode: uint64(de.ino), Size: l.size, Symlink: l.symlink, Extents: l.ext})
	}
	in := &w.cin
	if err := f.readInode(de.ino, in, w.cbuf); err != nil {
		w.warnAt(de.ino, path, "", err, "")
		w.dmg.InodesSkipped++
		return nil
	}
	if in.IsDir() {
		if d.depth+1 > maxDepth {
			w.warnf(de.ino, path, in.Off, "directory nested deeper than %d; skipped", maxDepth)
			return nil
		}
		w.kids = append(w.kids, dirItem{ino: de.ino, depth: d.depth + 1, path: path})
		return nil
	}
	e := fs.Entry{Kind: bmap.KindFile, Path: path, Inode: uint64(de.ino), Size: in.Size, Symlink: in.IsSymlink()}
	switch in.Mode & modeTypeMask {
	case modeReg, modeSymlink, modeChar, modeBlock, modeFIFO, modeSocket:
	default:
		w.warnf(de.ino, path, in.Off, "unknown file type in mode %#o; skipped", in.Mode)
		w.dmg.InodesSkipped++
		return nil
	}
	if !w.mapChecked(in, path) {
		return nil
	}
	if w.budget < 0 {
		w.err = w.errBudget()
		return errStop
	}
	w.out = w.m.appendExtents(w.out[:0])
	e.Extents = w.out
	if in.Links > 1 {
		w.addLink(de.ino, linked{ext: append([]bmap.Extent(nil), e.Extents...), size: e.Size, symlink: e.Symlink})
	}
	return w.emit(e)
}

// mapChecked maps inode in (reached by path) into w.m and counts and
// reports what was lost. An inode whose metadata_csum checksum does not
// match is treated as e2fsck treats it: kept (with a warning) when
// everything else in it checks out, dropped (false, one warning) when
// mapping it meets any other problem, since the checksum then confirms
// that its fields are garbage.
func (w *walker) mapChecked(in *Inode, path string) bool {
	w.m.reset(in, path)
	if !in.csumBad {
		w.m.mapInode()
	} else {
		var first error
		w.m.warn = func(err error) {
			if first == nil {
				first = err
			}
		}
		w.m.mapInode()
		w.m.warn = w.f.warnErr
		if w.m.nwarn > 0 {
			w.warnf(in.Num, path, in.Off, "metadata_csum checksum mismatch and %d other problems (first: %v); inode skipped", w.m.nwarn, first)
			w.dmg.InodesSkipped++
			return false
		}
		w.warnf(in.Num, path, in.Off, "metadata_csum checksum mismatch; mapped, since nothing else in it is wrong (as e2fsck keeps it)")
	}
	if w.m.nwarn > 0 {
		w.dmg.InodesPartial++
	}
	if w.m.pastEnd {
		w.dmg.FilesTruncated++
		w.f.warnErr(tag(&diskerr.FormatError{FS: "ext", Off: in.Off, What: fmt.Sprintf("inode %d (%s)", in.Num, path),
			Msg: fmt.Sprintf("runs past the device's end (truncated filesystem of %d bytes on a device of %d); mapped as far as the device goes", w.f.damage.FSSize, w.f.size)}, ErrTruncated))
	}
	return true
}

func (w *walker) emit(e fs.Entry) error {
	if err := w.fn(e); err != nil {
		w.err = err
		return errStop
	}
	return nil
}
