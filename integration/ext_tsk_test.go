package integration

// The end-to-end proof: virt-bmap's JSON map of each test image, compared
// for every file, directory, metadata structure and partition with The
// Sleuth Kit (fls, istat), e2fsprogs (debugfs stat/imap/ls, dumpe2fs) and
// sfdisk. The oracle is always the independent tool, never our output.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
)

func TestExtAgainstTSK(t *testing.T) {
	setup(t)
	for _, name := range []string{"mbr-ext.img", "gpt-ext.img", "sample.img"} {
		t.Run(strings.TrimSuffix(name, ".img"), func(t *testing.T) {
			img := filepath.Join(imagesDir, name)
			m := runMap(t, img)
			parts, sectorSize, err := sfdiskParts(img)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			checkDiskAndPartitions(t, m, img, st.Size(), parts, sectorSize)
			checkDiskStructures(t, m, img, st.Size(), parts, sectorSize)
			nExt := 0
			for _, p := range parts {
				if p.Extended() {
					continue
				}
				fsImg := filepath.Join(t.TempDir(), strings.TrimPrefix(p.Device, "/dev/")+".fs")
				if _, err := runTool("dd", "if="+img, "of="+fsImg, "bs=512", fmt.Sprintf("skip=%d", p.Start*sectorSize/512),
					fmt.Sprintf("count=%d", p.Size*sectorSize/512), "conv=sparse", "status=none"); err != nil {
					t.Fatal(err)
				}
				info, err := dumpe2fs(fsImg)
				if err != nil {
					t.Logf("%s: not ext (dumpe2fs: %v)", p.Device, err)
					continue
				}
				nExt++
				t.Run(strings.TrimPrefix(p.Device, "/dev/"), func(t *testing.T) {
					checkExt(t, m, img, fsImg, p, p.Start*sectorSize, info)
				})
			}
			if nExt == 0 {
				t.Fatalf("%s: no ext filesystem found by dumpe2fs in any partition", name)
			}
			checkShapesCovered(t, m, name)
		})
	}
}

// checkDiskAndPartitions: one v object covering every byte of the image;
// one p object per partition sfdisk lists, at sfdisk's place, inside the disk.
func checkDiskAndPartitions(t *testing.T, m *jsonMap, img string, size int64, parts []sfPart, ss int64) {
	var d diffs
	if len(m.Disks) != 1 {
		t.Fatalf("disks: got %d, want 1", len(m.Disks))
	}
	if m.Disks[0].Index != 1 || m.Disks[0].Device != "/dev/sda" || m.Disks[0].Size != size {
		d.add("disk: got %+v, want index 1, /dev/sda, size %d", m.Disks[0], size)
	}
	var vs, ps []bmap.Object
	for _, o := range m.Objects {
		if o.Disk != 1 {
			d.add("object %s %s: disk %d, want 1", o.Kind, o.Path, o.Disk)
		}
		switch o.Kind {
		case bmap.KindDisk:
			vs = append(vs, o)
		case bmap.KindPartition:
			ps = append(ps, o)
		}
		for _, e := range o.Extents {
			if e.Off < 0 || e.Len <= 0 || e.End() > size {
				d.add("object %s %s %s: extent [%#x,+%#x) not inside the %d-byte disk", o.Kind, o.Device, o.Path, e.Off, e.Len, size)
			}
		}
	}
	if len(vs) != 1 {
		d.add("v objects: got %d, want 1", len(vs))
	} else if got := mergedRanges(vs[0].Extents); len(got) != 1 || got[0] != [2]int64{0, size} {
		d.add("v object covers %v, want [[0 %d]] (every byte of the image)", got, size)
	}
	byDev := map[string]bmap.Object{}
	for _, p := range ps {
		if _, dup := byDev[p.Device]; dup {
			d.add("partition %s listed twice", p.Device)
		}
		byDev[p.Device] = p
	}
	for _, p := range parts {
		o, ok := byDev[p.Device]
		if !ok {
			d.add("partition %s (start %d, %d sectors, type %s) in sfdisk, not in the map", p.Device, p.Start, p.Size, p.Type)
			continue
		}
		delete(byDev, p.Device)
		want := [2]int64{p.Start * ss, (p.Start + p.Size) * ss}
		if got := mergedRanges(o.Extents); len(got) != 1 || got[0] != want {
			d.add("partition %s covers %v, sfdisk says [%#x, %#x)", p.Device, got, want[0], want[1])
		}
	}
	for dev := range byDev {
		d.add("partition %s in the map, not in sfdisk", dev)
	}
	d.report(t, filepath.Base(img)+": disk and partitions vs sfdisk --json")
}

// mergedRanges sorts and merges extents into [start, end) ranges.
func mergedRanges(es []bmap.Extent) [][2]int64 {
	var rs [][2]int64
	for _, e := range es {
		rs = append(rs, [2]int64{e.Off, e.End()})
	}
	slices.SortFunc(rs, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	var out [][2]int64
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// ourInode is our map's view of one object, in filesystem blocks.
type ourInode struct {
	obj      bmap.Object
	data     []blockRun // role data, in logical order
	inline   []bmap.Extent
	etb      []uint64
	ind      []uint64
	dind     []uint64
	tind     []uint64
	xattr    []uint64
	problems []string
}

// blocksOf converts a disk extent to filesystem blocks, checking alignment.
func blocksOf(e bmap.Extent, partOff, bs int64) (first, n uint64, err error) {
	rel := e.Off - partOff
	if rel < 0 || rel%bs != 0 || e.Len%bs != 0 {
		return 0, 0, fmt.Errorf("%s extent [%#x,+%#x) not block-aligned in the partition at %#x (block size %d)", e.Role, e.Off, e.Len, partOff, bs)
	}
	return uint64(rel / bs), uint64(e.Len / bs), nil
}

func ourView(o bmap.Object, partOff, bs int64) *ourInode {
	v := &ourInode{obj: o}
	// fs.Entry's contract: contents extents sorted by file offset, none
	// overlapping another in the file or on the disk.
	var prevEnd int64 = -1
	for _, e := range o.Extents {
		if e.FileOff < 0 {
			continue
		}
		if e.FileOff < prevEnd {
			v.problems = append(v.problems, fmt.Sprintf("contents extent at file offset %d overlaps or precedes the previous one (ending at %d)", e.FileOff, prevEnd))
		}
		prevEnd = e.FileOff + e.Len
	}
	if r := mergedRanges(o.Extents); len(r) > 0 {
		var total, merged int64
		for _, e := range o.Extents {
			total += e.Len
		}
		for _, x := range r {
			merged += x[1] - x[0]
		}
		if merged != total {
			v.problems = append(v.problems, fmt.Sprintf("extents overlap on the disk (%d bytes listed, %d distinct)", total, merged))
		}
	}
	for _, e := range o.Extents {
		if e.Role == bmap.RoleInline {
			v.inline = append(v.inline, e)
			continue
		}
		first, n, err := blocksOf(e, partOff, bs)
		if err != nil {
			v.problems = append(v.problems, err.Error())
			continue
		}
		span := func(dst *[]uint64) {
			for i := range n {
				*dst = append(*dst, first+i)
			}
		}
		switch e.Role {
		case bmap.RoleData:
			if e.FileOff < 0 || e.FileOff%bs != 0 {
				v.problems = append(v.problems, fmt.Sprintf("data extent at %#x: file offset %d not a block multiple", e.Off, e.FileOff))
				continue
			}
			v.data = append(v.data, blockRun{Logical: uint64(e.FileOff / bs), Physical: first, Len: n, Unwritten: e.Unwritten})
		case bmap.RoleExtentIndex:
			span(&v.etb)
		case bmap.RoleIndirect:
			span(&v.ind)
		case bmap.RoleDIndirect:
			span(&v.dind)
		case bmap.RoleTIndirect:
			span(&v.tind)
		case bmap.RoleXattr:
			span(&v.xattr)
		default:
			v.problems = append(v.problems, fmt.Sprintf("unexpected role %q on a %s object", e.Role, o.Kind))
		}
	}
	return v
}

// blockMap expands runs to logical -> (physical, unwritten).
type mapped struct {
	phys      uint64
	unwritten bool
}

func expand(runs []blockRun) map[uint64]mapped {
	m := map[uint64]mapped{}
	for _, r := range runs {
		for i := range r.Len {
			m[r.Logical+i] = mapped{r.Physical + i, r.Unwritten}
		}
	}
	return m
}

// setDiff returns the sorted elements of a not in b and of b not in a.
func setDiff(a, b []uint64) (onlyA, onlyB []uint64) {
	sa, sb := map[uint64]bool{}, map[uint64]bool{}
	for _, x := range a {
		sa[x] = true
	}
	for _, x := range b {
		sb[x] = true
	}
	for x := range sa {
		if !sb[x] {
			onlyA = append(onlyA, x)
		}
	}
	for x := range sb {
		if !sa[x] {
			onlyB = append(onlyB, x)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return
}

func short(xs []uint64) string {
	if len(xs) > 12 {
		return fmt.Sprintf("%v... (%d)", xs[:12], len(xs))
	}
	return fmt.Sprint(xs)
}

func checkExt(t *testing.T, m *jsonMap, img, fsImg string, p sfPart, partOff int64, info *e2info) {
	bs := info.BlockSize
	start := time.Now()
	step := func(what string) {
		t.Logf("%s: %s done at %.1fs", p.Device, what, time.Since(start).Seconds())
	}
	var objs []bmap.Object
	for _, o := range m.Objects {
		if o.Device == p.Device && (o.Kind == bmap.KindDir || o.Kind == bmap.KindFile || o.Kind == bmap.KindMeta) {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s: dumpe2fs sees ext (%s), the map has no object on it", p.Device, strings.Join(info.Features, ","))
	}

	// 1. Names: (path, inode) of every allocated name, against fls -r -p,
	// or debugfs ls -p where TSK cannot open the filesystem.
	var d diffs
	ours := map[string]uint64{}
	oursKind := map[string]bmap.Object{}
	inodes := map[uint64]bool{}
	rootSeen := false
	for _, o := range objs {
		if o.Kind == bmap.KindMeta {
			if o.Inode != 0 {
				inodes[o.Inode] = true
			}
			continue
		}
		inodes[o.Inode] = true
		if o.Path == "/" {
			rootSeen = true
			if o.Kind != bmap.KindDir || o.Inode != 2 {
				d.add("root: got %s inode %d, want d inode 2", o.Kind, o.Inode)
			}
			continue
		}
		if _, dup := ours[o.Path]; dup {
			d.add("path %q listed twice", o.Path)
		}
		ours[o.Path] = o.Inode
		oursKind[o.Path] = o
	}
	if !rootSeen {
		d.add("no object for the root directory \"/\"")
	}
	tskOK := true
	entries, flsErr := fls(img, partOff/512)
	if flsErr != nil {
		if !info.has("bigalloc") {
			t.Fatalf("fls: %v", flsErr)
		}
		// The Sleuth Kit 4.11 does not know bigalloc: say so and use debugfs.
		tskOK = false
		t.Logf("%s: bigalloc: fls/istat cannot open it (%v); names checked with debugfs ls -p, blocks with debugfs stat only", p.Device, flsErr)
		paths, isDir, err := debugfsTree(fsImg)
		if err != nil {
			t.Fatal(err)
		}
		for path, ino := range paths {
			o, ok := oursKind[path]
			switch {
			case !ok:
				d.add("%q (inode %d): in debugfs ls, not in the map", path, ino)
			case o.Inode != ino:
				d.add("%q: inode %d in the map, %d in debugfs ls", path, o.Inode, ino)
			case isDir[path] != (o.Kind == bmap.KindDir):
				d.add("%q: kind %s in the map, directory=%v in debugfs ls", path, o.Kind, isDir[path])
			}
		}
		for path, ino := range ours {
			if _, ok := paths[path]; !ok {
				d.add("%q (inode %d): in the map, not in debugfs ls", path, ino)
			}
		}
	} else {
		// fls prints control characters as '^': compare through tskName, and
		// make sure that does not merge two of our names.
		byTSK := map[string]string{}
		for path := range ours {
			n := tskName(path)
			if other, dup := byTSK[n]; dup {
				t.Fatalf("%q and %q print the same in fls: cannot compare", path, other)
			}
			byTSK[n] = path
		}
		seen := map[string]bool{}
		for _, e := range entries {
			path, ok := byTSK[e.Path]
			if !ok {
				d.add("%q (inode %d, %s): in fls, not in the map", e.Path, e.Inode, e.Type)
				continue
			}
			seen[e.Path] = true
			o := oursKind[path]
			if o.Inode != e.Inode {
				d.add("%q: inode %d in the map, %d in fls", path, o.Inode, e.Inode)
			}
			wantKind := bmap.KindFile
			if e.Type == "d/d" {
				wantKind = bmap.KindDir
			}
			if o.Kind != wantKind || o.Symlink != (e.Type == "l/l") {
				d.add("%q: kind %s symlink=%v in the map, %s in fls", path, o.Kind, o.Symlink, e.Type)
			}
		}
		for n, path := range byTSK {
			if !seen[n] {
				d.add("%q (inode %d): in the map, not in fls", path, ours[path])
			}
		}
	}
	d.report(t, p.Device+": (path, inode) pairs")
	step("names")
	t.Logf("%s: %d names, %d inodes compared", p.Device, len(ours), len(inodes))

	// 2. Blocks of every inode against debugfs stat (and imap for inline data).
	var inoList []uint64
	for ino := range inodes {
		inoList = append(inoList, ino)
	}
	slices.Sort(inoList)
	dfs, err := debugfsInodes(fsImg, bs, inoList)
	if err != nil {
		t.Fatal(err)
	}
	d = diffs{}
	for _, o := range objs {
		if o.Kind == bmap.KindMeta {
			continue
		}
		checkInodeDebugfs(&d, o, ourView(o, partOff, bs), dfs[o.Inode], partOff, bs, info.InodeSize)
	}
	d.report(t, p.Device+": blocks of every file and directory vs debugfs stat")
	step("debugfs")

	// 3. Blocks against istat, for every inode that has any block (istat
	// costs a process per inode; inodes without blocks are the 10,000 empty
	// files of /htree, and debugfs has checked them above).
	if tskOK {
		var withBlocks []uint64
		for _, ino := range inoList {
			if x := dfs[ino]; len(x.Blocks()) > 0 || x.ACL != 0 {
				withBlocks = append(withBlocks, ino)
			}
		}
		ist, err := istatAll(img, partOff/512, withBlocks, runtime.NumCPU())
		if err != nil {
			t.Fatal(err)
		}
		d = diffs{}
		for _, o := range objs {
			if o.Kind == bmap.KindMeta {
				continue
			}
			x, ok := ist[o.Inode]
			if !ok {
				x = istatBlocks{} // debugfs says it has no block
			}
			checkInodeIstat(&d, o, ourView(o, partOff, bs), x, bs)
		}
		d.report(t, p.Device+": blocks of every file and directory vs istat")
		t.Logf("%s: istat run on %d inodes with blocks", p.Device, len(withBlocks))
		step("istat")
	}

	// 4. Metadata against dumpe2fs (group structures) and debugfs (special
	// inodes: journal, resize inode...).
	d = diffs{}
	checkMeta(&d, objs, info, dfs, partOff, bs)
	d.report(t, p.Device+": metadata vs dumpe2fs and debugfs")
}

func checkInodeDebugfs(d *diffs, o bmap.Object, v *ourInode, x *dfsInode, partOff, bs, inodeSize int64) {
	where := fmt.Sprintf("%q inode %d", o.Path, o.Inode)
	for _, p := range v.problems {
		d.add("%s: %s", where, p)
	}
	if x == nil {
		d.add("%s: no debugfs answer", where)
		return
	}
	if o.Size != x.Size {
		d.add("%s: size %d, debugfs %d", where, o.Size, x.Size)
	}
	if isDir := o.Kind == bmap.KindDir; isDir != (x.Type == "directory") || o.Symlink != (x.Type == "symlink") {
		d.add("%s: kind %s symlink=%v, debugfs type %s", where, o.Kind, o.Symlink, x.Type)
	}
	// data blocks: logical -> physical and the unwritten flag
	got, want := expand(v.data), expand(x.Data)
	var bad []string
	for l, g := range got {
		w, ok := want[l]
		if !ok || w != g {
			bad = append(bad, fmt.Sprintf("logical %d: ours %d unwritten=%v, debugfs %v", l, g.phys, g.unwritten, fmtMapped(w, ok)))
		}
	}
	for l, w := range want {
		if _, ok := got[l]; !ok {
			bad = append(bad, fmt.Sprintf("logical %d: missing, debugfs %d unwritten=%v", l, w.phys, w.unwritten))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		d.add("%s: %d data blocks differ: %s", where, len(bad), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	cmp := func(what string, ours, theirs []uint64) {
		if a, b := setDiff(ours, theirs); len(a)+len(b) > 0 {
			d.add("%s: %s blocks: ours only %s, debugfs only %s", where, what, short(a), short(b))
		}
	}
	cmp("extent-index (ETB)", v.etb, x.ETB)
	cmp("indirect (IND)", v.ind, x.IND)
	cmp("dindirect (DIND)", v.dind, x.DIND)
	cmp("tindirect (TIND)", v.tind, x.TIND)
	var acl []uint64
	if x.ACL != 0 {
		acl = []uint64{x.ACL}
	}
	cmp("xattr (File ACL)", v.xattr, acl)

	// inline data: inside the inode's record (debugfs imap), and all of it
	var inl int64
	for _, e := range v.inline {
		inl += e.Len
		rel := e.Off - partOff
		if x.RecordOff < 0 || rel < x.RecordOff || rel+e.Len > x.RecordOff+inodeSize {
			d.add("%s: inline extent [%#x,+%d) (fs offset %#x) outside the inode's record at fs offset %#x (%d bytes, debugfs imap)", where, e.Off, e.Len, rel, x.RecordOff, inodeSize)
		}
	}
	// debugfs's "Size of inline data" counts all 60 bytes of i_block plus
	// the system.data xattr; the contents are the first i_size of them (an
	// inline file whose i_size is larger, as mke2fs -d makes of an all-hole
	// file, reads as zeros past them).
	if x.InlineSize >= 0 && inl != min(o.Size, x.InlineSize) {
		d.add("%s: inline data of %d bytes in the map, debugfs says inline data (size %d, %d bytes stored)", where, inl, o.Size, x.InlineSize)
	}
	if len(v.inline) > 0 && x.InlineSize < 0 && !x.FastLink {
		d.add("%s: inline extents in the map, debugfs shows neither inline data nor a fast link", where)
	}
}

func fmtMapped(m mapped, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%d unwritten=%v", m.phys, m.unwritten)
}

func checkInodeIstat(d *diffs, o bmap.Object, v *ourInode, x istatBlocks, bs int64) {
	where := fmt.Sprintf("%q inode %d", o.Path, o.Inode)
	// istat lists data blocks only up to i_size: blocks allocated beyond it
	// (fallocate with KEEP_SIZE) are not shown, so compare below i_size.
	limit := uint64((o.Size + bs - 1) / bs)
	var data []uint64
	for l, m := range expand(v.data) {
		if l < limit {
			data = append(data, m.phys)
		}
	}
	if a, b := setDiff(data, x.Direct); len(a)+len(b) > 0 {
		d.add("%s: data blocks: ours only %s, istat only %s", where, short(a), short(b))
	}
	ind := slices.Concat(v.ind, v.dind, v.tind)
	if a, b := setDiff(ind, x.Indirect); len(a)+len(b) > 0 {
		d.add("%s: indirect blocks (all levels): ours only %s, istat only %s", where, short(a), short(b))
	}
	if a, b := setDiff(v.etb, x.Extent); len(a)+len(b) > 0 {
		d.add("%s: extent blocks: ours only %s, istat only %s", where, short(a), short(b))
	}
	var xb []uint64
	if x.Xattr != 0 {
		xb = []uint64{x.Xattr}
	}
	if a, b := setDiff(v.xattr, xb); len(a)+len(b) > 0 {
		d.add("%s: xattr block: ours %v, istat %v", where, v.xattr, xb)
	}
}

var reGroupNum = regexp.MustCompile(`group (\d+)`)

// metaKey turns one of our metadata names into dumpe2fs's "CATEGORY GROUP".
func metaKey(name string) (string, bool) {
	g := "0"
	if m := reGroupNum.FindStringSubmatch(name); m != nil {
		g = m[1]
	}
	for _, c := range []struct{ substr, cat string }{
		{"block bitmap", "block-bitmap"},
		{"inode bitmap", "inode-bitmap"},
		{"inode table", "inode-table"},
		{"reserved GDT", "reserved-gdt"},
		{"group descriptors", "descriptors"},
		{"superblock", "superblock"},
	} {
		if strings.Contains(name, c.substr) {
			return c.cat + " " + g, true
		}
	}
	return "", false
}

func checkMeta(d *diffs, objs []bmap.Object, info *e2info, dfs map[uint64]*dfsInode, partOff, bs int64) {
	ours := map[string][]uint64{}
	for _, o := range objs {
		if o.Kind != bmap.KindMeta {
			continue
		}
		var blocks []uint64
		for _, e := range o.Extents {
			rel := e.Off - partOff
			if rel < 0 || e.Len <= 0 {
				d.add("metadata %q: extent [%#x,+%#x) before the partition", o.Path, e.Off, e.Len)
				continue
			}
			for b := rel / bs; b*bs < rel+e.Len; b++ {
				blocks = append(blocks, uint64(b))
			}
		}
		if o.Inode != 0 {
			x := dfs[o.Inode]
			if x == nil {
				d.add("metadata %q inode %d: no debugfs answer", o.Path, o.Inode)
				continue
			}
			if a, b := setDiff(blocks, x.Blocks()); len(a)+len(b) > 0 {
				d.add("metadata %q inode %d: ours only %s, debugfs stat only %s", o.Path, o.Inode, short(a), short(b))
			}
			continue
		}
		k, ok := metaKey(o.Path)
		if !ok {
			d.add("metadata %q: a name this test does not know: teach metaKey", o.Path)
			continue
		}
		ours[k] = append(ours[k], blocks...)
	}
	for k, want := range info.Meta {
		if a, b := setDiff(ours[k], want); len(a)+len(b) > 0 {
			d.add("%s: ours only %s, dumpe2fs only %s", k, short(a), short(b))
		}
	}
	for k, got := range ours {
		if _, ok := info.Meta[k]; !ok {
			d.add("%s: blocks %s in the map, dumpe2fs lists none", k, short(got))
		}
	}
	// the journal, when there is one, must be there
	if info.has("has_journal") && dfs[8] == nil {
		d.add("has_journal, but no metadata object for inode 8 (the journal)")
	}
}

// checkDiskStructures checks the partition-table structures the map puts
// on the disk itself (type m, device /dev/sda) against sfdisk, sgdisk and
// the bytes on disk: the MBR (or protective MBR), one EBR per logical
// partition whose first entry leads to that partition, the GPT headers and
// entry arrays where sgdisk and the headers' own fields place them.
func checkDiskStructures(t *testing.T, m *jsonMap, img string, size int64, parts []sfPart, ss int64) {
	var d diffs
	label, err := sfdiskLabel(img)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sector := func(off int64) []byte {
		b := make([]byte, ss)
		if _, err := raw.ReadAt(b, off); err != nil {
			t.Fatalf("reading %s at %#x: %v", img, off, err)
		}
		return b
	}
	got := map[string][][2]int64{}
	for _, o := range m.Objects {
		if o.Kind == bmap.KindMeta && o.Device == "/dev/sda" {
			got[o.Path] = append(got[o.Path], mergedRanges(o.Extents)...)
		}
	}
	want := map[string][][2]int64{}
	switch label {
	case "dos":
		want["MBR"] = [][2]int64{{0, 512}}
		// each logical partition's EBR: a sector with the 0x55AA signature
		// whose first entry starts the partition (relative to the EBR)
		logical := map[int64]bool{}
		for _, p := range parts {
			if p.Number >= 5 {
				logical[p.Start] = true
			}
		}
		for _, r := range got["EBR"] {
			b := sector(r[0])
			rel := int64(binary.LittleEndian.Uint32(b[446+8:]))
			start := r[0]/ss + rel
			switch {
			case r[1]-r[0] != 512:
				d.add("EBR at %#x: %d bytes, want 512", r[0], r[1]-r[0])
			case b[510] != 0x55 || b[511] != 0xaa:
				d.add("EBR at %#x: no 0x55AA signature", r[0])
			case !logical[start]:
				d.add("EBR at %#x: its first entry starts at sector %d, not a logical partition of sfdisk's", r[0], start)
			}
			delete(logical, start)
		}
		for s := range logical {
			d.add("logical partition at sector %d: no EBR in the map leads to it", s)
		}
		delete(got, "EBR")
	case "gpt":
		first, last, err := sgdiskMainTable(img)
		if err != nil {
			t.Fatal(err)
		}
		want["protective MBR"] = [][2]int64{{0, 512}}
		want["GPT header"] = [][2]int64{{ss, 2 * ss}}
		want["GPT entries"] = [][2]int64{{first * ss, (last + 1) * ss}}
		backup := size - ss
		want["GPT backup header"] = [][2]int64{{backup, size}}
		h := sector(backup)
		if string(h[:8]) != "EFI PART" {
			d.add("no GPT backup header in the disk's last sector")
		} else {
			lba := int64(binary.LittleEndian.Uint64(h[72:]))
			n := int64(binary.LittleEndian.Uint32(h[80:])) * int64(binary.LittleEndian.Uint32(h[84:]))
			want["GPT backup entries"] = [][2]int64{{lba * ss, lba*ss + (n+ss-1)/ss*ss}}
		}
	default:
		t.Fatalf("sfdisk label %q: this test knows dos and gpt", label)
	}
	for name, w := range want {
		if g := got[name]; !slices.Equal(g, w) {
			d.add("%s: map %x, want %x", name, g, w)
		}
		delete(got, name)
	}
	for name, g := range got {
		d.add("%q at %x: a disk structure this test does not know (%s table)", name, g, label)
	}
	d.report(t, filepath.Base(img)+": partition table structures vs sfdisk, sgdisk and the bytes on disk")
}

// checkShapesCovered makes sure the comparison above went through every
// shape the images were built to have (testimages/README.md): if a tool
// change made build.sh lose one, this says so instead of passing quietly.
func checkShapesCovered(t *testing.T, m *jsonMap, name string) {
	want := map[string][]string{
		"mbr-ext.img": {"data", "inline", "extent-index", "indirect", "dindirect", "tindirect", "xattr", "unwritten", "symlink", "htree-dir"},
		"gpt-ext.img": {"data", "extent-index", "indirect", "xattr", "symlink"},
		"sample.img":  {"data", "symlink"},
	}[name]
	seen := map[string]bool{}
	for _, o := range m.Objects {
		if o.Symlink {
			seen["symlink"] = true
		}
		if o.Kind == bmap.KindDir && o.Path == "/htree" && o.Size >= 32*4096 {
			seen["htree-dir"] = true
		}
		for _, e := range o.Extents {
			seen[string(e.Role)] = true
			if e.Unwritten {
				seen["unwritten"] = true
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("%s: no object with %s in the map: the image lost a shape it was built to have, or the map misses it", name, w)
		}
	}
}
