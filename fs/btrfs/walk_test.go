package btrfs

import (
	"bufio"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// The walk is checked against btrfs inspect-internal dump-tree: every
// tree's blocks, and every file's EXTENT_DATA items, mapped to disk
// through the chunk items dump-tree prints.

type dumpChunk struct {
	logical, length uint64
	stripes         []uint64
}

var (
	reChunk   = regexp.MustCompile(`key \(FIRST_CHUNK_TREE CHUNK_ITEM (\d+)\)`)
	reLength  = regexp.MustCompile(`^\s+length (\d+) owner`)
	reStripe  = regexp.MustCompile(`^\s+stripe \d+ devid \d+ offset (\d+)`)
	reBlock   = regexp.MustCompile(`^(leaf|node) (\d+) (items|level)`)
	reExtent  = regexp.MustCompile(`item \d+ key \((\d+) EXTENT_DATA (\d+)\) itemoff (\d+) itemsize \d+`)
	reType    = regexp.MustCompile(`generation \d+ type (\d)`)
	reDisk    = regexp.MustCompile(`(?:extent|prealloc) data disk byte (\d+) nr (\d+)`)
	reOffset  = regexp.MustCompile(`(?:extent|prealloc) data offset (\d+) nr (\d+)`)
	reComp    = regexp.MustCompile(`extent compression (\d)`)
	reInline  = regexp.MustCompile(`inline extent data size (\d+)`)
	treeIDFor = map[string]string{"root tree": "1", "chunk tree": "3", "extent tree": "2", "dev tree": "4", "csum tree": "7", "uuid tree": "9", "free space tree": "10", "data reloc tree": "data_reloc", "block group tree": "11", "quota tree": "8"}
)

func atou(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }

func dumpChunks(t testing.TB, img string) []dumpChunk {
	var out []dumpChunk
	sc := bufio.NewScanner(strings.NewReader(testutil.Run(t, "", "btrfs", "inspect-internal", "dump-tree", "-t", "chunk", img)))
	for sc.Scan() {
		l := sc.Text()
		if m := reChunk.FindStringSubmatch(l); m != nil {
			out = append(out, dumpChunk{logical: atou(m[1])})
		} else if m := reLength.FindStringSubmatch(l); m != nil && len(out) > 0 {
			out[len(out)-1].length = atou(m[1])
		} else if m := reStripe.FindStringSubmatch(l); m != nil && len(out) > 0 {
			out[len(out)-1].stripes = append(out[len(out)-1].stripes, atou(m[1]))
		}
	}
	return out
}

func physOf(t testing.TB, cs []dumpChunk, logical uint64) []int64 {
	for _, c := range cs {
		if logical >= c.logical && logical < c.logical+c.length {
			var out []int64
			for _, s := range c.stripes {
				out = append(out, int64(s+logical-c.logical))
			}
			return out
		}
	}
	t.Fatalf("dump-tree: logical %d in no chunk", logical)
	return nil
}

// dumpTree returns the physical offsets of tree id's blocks and the data
// extents dump-tree shows for each inode.
func dumpTree(t testing.TB, img, id string, cs []dumpChunk, nodeSize int64) (blocks []int64, files map[uint64][]bmap.Extent) {
	files = map[uint64][]bmap.Extent{}
	sc := bufio.NewScanner(strings.NewReader(testutil.Run(t, "", "btrfs", "inspect-internal", "dump-tree", "-t", id, img)))
	sc.Buffer(nil, 1<<20)
	var leaf, ino, fileOff, itemOff uint64
	var typ, comp int
	var disk, diskNr uint64
	inExt := false
	for sc.Scan() {
		l := sc.Text()
		if m := reBlock.FindStringSubmatch(l); m != nil {
			if !strings.Contains(l, "flags") {
				leaf = atou(m[2])
				blocks = append(blocks, physOf(t, cs, leaf)...)
			}
			continue
		}
		if m := reExtent.FindStringSubmatch(l); m != nil {
			ino, fileOff, itemOff, inExt = atou(m[1]), atou(m[2]), atou(m[3]), true
			continue
		}
		if strings.Contains(l, " key (") {
			inExt = false
		}
		if !inExt {
			continue
		}
		if m := reType.FindStringSubmatch(l); m != nil {
			typ, _ = strconv.Atoi(m[1])
		} else if m := reInline.FindStringSubmatch(l); m != nil {
			n := atou(m[1])
			for _, p := range physOf(t, cs, leaf+headerSize+itemOff+fileExtentHdr) {
				files[ino] = append(files[ino], bmap.Extent{Off: p, Len: int64(n), FileOff: int64(fileOff), Role: bmap.RoleInline})
			}
		} else if m := reDisk.FindStringSubmatch(l); m != nil {
			disk, diskNr = atou(m[1]), atou(m[2])
		} else if m := reOffset.FindStringSubmatch(l); m != nil {
			off, nr := atou(m[1]), atou(m[2])
			if disk == 0 {
				continue
			}
			// A regular extent's compression line follows: read
			// ahead. A prealloc extent has none.
			comp = 0
			if typ == 1 {
				if !sc.Scan() {
					break
				}
				if m := reComp.FindStringSubmatch(sc.Text()); m != nil {
					comp, _ = strconv.Atoi(m[1])
				}
			}
			start, n := disk+off, nr
			if comp != 0 {
				start, n = disk, diskNr
			}
			for _, p := range physOf(t, cs, start) {
				files[ino] = append(files[ino], bmap.Extent{Off: p, Len: int64(n), FileOff: int64(fileOff), Role: bmap.RoleData, Unwritten: typ == 2})
			}
		}
	}
	for k := range files {
		slices.SortStableFunc(files[k], func(a, b bmap.Extent) int { return int(min(max(a.FileOff-b.FileOff, -1), 1)) })
	}
	slices.Sort(blocks)
	return blocks, files
}

func TestWalkDumpTree(t *testing.T) {
	type img struct {
		name string
		path string
		b    []byte
	}
	var imgs []img
	for _, n := range []string{"fedora", "suse"} {
		p, b := fixtureFile(t, n)
		imgs = append(imgs, img{n, p, b})
	}
	for _, o := range [][]string{nil, {"-n", "4096", "-m", "single"}} {
		p := mkfs(t, o...)
		b, err := readFile(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img{"mkfs" + strings.Join(o, ""), p, b})
	}
	for _, im := range imgs {
		t.Run(im.name, func(t *testing.T) {
			f := openBytes(t, im.b)
			var warns []error
			f.SetWarn(func(err error) { warns = append(warns, err) })
			var entries []fs.Entry
			err := f.Walk(func(e fs.Entry) error {
				e.Extents = slices.Clone(e.Extents)
				entries = append(entries, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warns {
				t.Errorf("warning: %v", w)
			}
			cs := dumpChunks(t, im.path)
			subs, err := f.Subvolumes()
			if err != nil {
				t.Fatal(err)
			}
			files := map[uint64]map[uint64][]bmap.Extent{}
			ns := int64(f.NodeSize())
			trees, checkedFiles := 0, 0
			for _, e := range entries {
				switch {
				case e.Kind == bmap.KindMeta && (strings.HasPrefix(e.Path, "fs tree ") || treeIDFor[e.Path] != ""):
					id := treeIDFor[e.Path]
					if id == "" {
						id = strings.TrimPrefix(e.Path, "fs tree ")
					}
					want, _ := dumpTree(t, im.path, id, cs, ns)
					var got []int64
					for _, x := range e.Extents {
						if x.Len != ns {
							t.Errorf("%s: block of %d bytes", e.Path, x.Len)
						}
						got = append(got, x.Off)
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("%s: blocks %v, dump-tree %v", e.Path, got, want)
					}
					trees++
				case e.Kind == bmap.KindFile:
					// The subvolume holding the path: the longest
					// subvolume path that prefixes it.
					sub, best := uint64(5), -1
					for _, s := range subs {
						if s.Path != "" && strings.HasPrefix(e.Path, "/"+s.Path+"/") && len(s.Path) > best {
							sub, best = s.ID, len(s.Path)
						}
					}
					if files[sub] == nil {
						_, files[sub] = dumpTree(t, im.path, strconv.FormatUint(sub, 10), cs, ns)
					}
					want := files[sub][e.Inode]
					if !slices.Equal(e.Extents, want) && !(len(e.Extents) == 0 && len(want) == 0) {
						t.Errorf("%s (subvolume %d inode %d): extents\n%v\ndump-tree\n%v", e.Path, sub, e.Inode, e.Extents, want)
					}
					checkedFiles++
				}
			}
			if trees < 5 || checkedFiles < 15 {
				t.Errorf("checked %d trees and %d files", trees, checkedFiles)
			}
			t.Logf("%d trees and %d files checked", trees, checkedFiles)
		})
	}
}
