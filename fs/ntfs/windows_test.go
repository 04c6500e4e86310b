package ntfs

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// windowsManifest is a volume shaped as Windows makes them, as far as
// libntfs-3g can: a program hard-linked from System32, Windows and a
// WinSxS component directory (non-resident), a resident hard-linked
// file, a name with a DOS 8.3 alias, and system-compressed (WOF) files,
// one whose WofCompressedData is resident.
var windowsManifest = [][]string{
	{"dir", "/Windows"},
	{"dir", "/Windows/System32"},
	{"dir", "/Windows/WinSxS"},
	{"dir", "/Windows/WinSxS/amd64_notepad_31bf3856ad364e35"},
	{"file", "/Windows/System32/notepad.exe", "200000", "1"},
	{"link", "/Windows/System32/notepad.exe", "/Windows/notepad.exe"},
	{"link", "/Windows/System32/notepad.exe", "/Windows/WinSxS/amd64_notepad_31bf3856ad364e35/notepad.exe"},
	{"file", "/Windows/System32/small.ini", "100", "2"},
	{"link", "/Windows/System32/small.ini", "/Windows/small.ini"},
	{"file", "/Program Files Long", "10", "3"},
	{"dosname", "/Program Files Long", "PROGRA~1"},
	{"wof", "/Windows/System32/wof.dll", "300000", "120000", "4"},
	{"wof", "/Windows/System32/tiny.dll", "5000", "200", "5"},
}

// TestWindowsShapes builds the volume above and checks it against The
// Sleuth Kit: every name fls -r -p lists is an entry of ours with fls'
// record number (every name of a hard-linked file, each with the same
// extents; no DOS alias), and the clusters of each entry are istat's
// for that record; a system-compressed file maps its WofCompressedData
// stream's clusters (istat) as its data, with no stream entry of its own.
func TestWindowsShapes(t *testing.T) {
	img, b := buildImage(t, 4096, 1024, windowsManifest)
	es, warns, err := walkAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	ours := byPath(es)
	fls := testutil.Run(t, "", "fls", "-r", "-p", img)
	byInode := map[uint64][]string{}
	for _, line := range strings.Split(fls, "\n") {
		typ, rest, ok := strings.Cut(line, " ")
		if !ok || (typ != "r/r" && typ != "d/d") {
			continue
		}
		addr, name, _ := strings.Cut(rest, ":\t")
		if strings.HasPrefix(name, "$") || strings.Contains(name, ":") {
			continue
		}
		recS, _, _ := strings.Cut(addr, "-")
		n, err := strconv.ParseUint(recS, 10, 64)
		if err != nil {
			t.Fatalf("fls line %q", line)
		}
		byInode[n] = append(byInode[n], "/"+name)
		e, ok := ours["/"+name]
		if !ok {
			t.Errorf("/%s (fls: record %d): not in the walk", name, n)
			continue
		}
		if e.Inode != n {
			t.Errorf("/%s: record %d, fls %d", name, e.Inode, n)
		}
	}
	links := 0
	for n, names := range byInode {
		if len(names) < 2 {
			continue
		}
		links++
		first := ours[names[0]]
		want := istatClusters(t, img, n)[""]
		for _, p := range names {
			e := ours[p]
			if !slices.Equal(e.Extents, first.Extents) || e.Size != first.Size {
				t.Errorf("%s and %s (record %d): different extents %v, %v", p, names[0], n, e.Extents, first.Extents)
			}
			if got := clustersOf(e, 1024); !slices.Equal(got, want) {
				t.Errorf("%s: clusters %v, istat %v", p, short(got), short(want))
			}
		}
	}
	if links < 2 {
		t.Errorf("fls lists %d hard-linked files, want 2", links)
	}
	if n := len(byInode[ours["/Windows/notepad.exe"].Inode]); n != 3 {
		t.Errorf("notepad.exe: %d names in fls, want 3", n)
	}
	for _, e := range es {
		if strings.Contains(e.Path, "~") {
			t.Errorf("%s: a DOS 8.3 alias reported", e.Path)
		}
	}
	for _, p := range []string{"/Windows/System32/wof.dll", "/Windows/System32/tiny.dll"} {
		e, ok := ours[p]
		if !ok {
			t.Errorf("%s: not in the walk", p)
			continue
		}
		if _, ok := ours[p+":"+wofStream]; ok {
			t.Errorf("%s: WofCompressedData reported as a stream of its own", p)
		}
		is := istatClusters(t, img, e.Inode)
		if len(is[""]) != 0 {
			t.Errorf("%s: istat gives the unnamed $DATA clusters %v, want all hole", p, short(is[""]))
		}
		if got, want := clustersOf(e, 1024), is[wofStream]; !slices.Equal(got, want) {
			t.Errorf("%s: clusters %v, istat's WofCompressedData %v", p, short(got), short(want))
		}
		want, _ := strconv.ParseInt(map[string]string{"/Windows/System32/wof.dll": "300000", "/Windows/System32/tiny.dll": "5000"}[p], 10, 64)
		if e.Size != want {
			t.Errorf("%s: size %d, want the unnamed $DATA's %d", p, e.Size, want)
		}
		data, inline := 0, 0
		for _, x := range e.Extents {
			switch x.Role {
			case bmap.RoleData:
				data++
			case bmap.RoleInline:
				inline++
				rec := e.Extents[0]
				if x.Len != 200 || x.Off < rec.Off || x.End() > rec.End() {
					t.Errorf("%s: inline extent %+v, want the 200 bytes of WofCompressedData in the record %+v", p, x, rec)
				}
			}
		}
		if strings.HasSuffix(p, "wof.dll") && data == 0 || strings.HasSuffix(p, "tiny.dll") && inline != 1 {
			t.Errorf("%s: %d data and %d inline extents: %+v", p, data, inline, e.Extents)
		}
	}
}

// clustersOf returns the clusters of an entry's data and metadata
// extents, sorted.
func clustersOf(e fs.Entry, cs int64) []int64 {
	var got []int64
	for _, x := range e.Extents {
		if x.Role != bmap.RoleData && x.Role != bmap.RoleMeta {
			continue
		}
		for c := x.Off / cs; c < x.End()/cs; c++ {
			got = append(got, c)
		}
	}
	slices.Sort(got)
	return got
}
