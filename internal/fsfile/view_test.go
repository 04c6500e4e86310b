package fsfile

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"
	"time"
)

// mapNodes serves mapTree through View: a node is its path; files hold
// their own path as contents.
type mapNodes struct{ mapTree }

type mapInfo struct {
	p, name string
	dir     bool
}

func (i mapInfo) Name() string       { return i.name }
func (i mapInfo) Size() int64        { return int64(len(i.p)) }
func (i mapInfo) ModTime() time.Time { return time.Time{} }
func (i mapInfo) IsDir() bool        { return i.dir }
func (i mapInfo) Sys() any           { return nil }
func (i mapInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func (m mapNodes) Named(n, name string) string { return n }
func (m mapNodes) Info(n string) fs.FileInfo {
	name := path.Base(n)
	if n == "" {
		name = "."
	}
	return mapInfo{n, name, m.IsDir(n)}
}
func (m mapNodes) List(dir string) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for p := range m.mapTree {
		if path.Dir(p) == dir || (dir == "" && !strings.Contains(p, "/")) {
			out = append(out, fs.FileInfoToDirEntry(m.Info(p)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}
func (m mapNodes) Contents(n string) (io.ReaderAt, int64, error) {
	return strings.NewReader(n), int64(len(n)), nil
}

func TestView(t *testing.T) {
	v := View[string]{Nodes: mapNodes{mapTree{
		"d": "dir", "d/f": "file", "d/g": "file", "l": "link:d/f", "e": "dir",
	}}}
	es, err := v.ReadDir(".")
	if err != nil || len(es) != 3 || es[0].Name() != "d" || !es[0].IsDir() || es[2].Name() != "l" {
		t.Errorf("ReadDir(.) = %v, %v; want d, e, l", es, err)
	}
	f, err := v.Open("d")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := f.(fs.ReadDirFile); !ok {
		t.Errorf("Open(d) is not a directory: %T", f)
	} else if es, err := d.ReadDir(-1); err != nil || len(es) != 2 {
		t.Errorf("Open(d).ReadDir = %v, %v", es, err)
	}
	f.Close()
	if got, err := v.ReadLink("l"); err != nil || got != "d/f" {
		t.Errorf("ReadLink(l) = %q, %v", got, err)
	}
	if _, err := v.ReadLink("d/f"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file: %v, want ErrInvalid", err)
	}
	if _, err := v.ReadDir("d/f"); !errors.Is(err, ErrNotDir) {
		t.Errorf("ReadDir of a file: %v, want ErrNotDir", err)
	}
	if fi, err := v.Lstat("l"); err != nil || fi.Name() != "l" {
		t.Errorf("Lstat(l) = %v, %v", fi, err)
	}
	if fi, err := v.Stat("l"); err != nil || fi.IsDir() || fi.Size() != 3 {
		t.Errorf("Stat(l) = %v, %v; want the file d/f", fi, err)
	}
	b, err := fs.ReadFile(v, "l")
	if err != nil || string(b) != "d/f" {
		t.Errorf("ReadFile(l) = %q, %v", b, err)
	}
}
