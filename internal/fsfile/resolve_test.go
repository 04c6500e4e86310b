package fsfile

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// mapTree is a tree of paths: a directory has children, a link a target.
type mapTree map[string]string // path -> "dir", "file" or "link:TARGET"

func (m mapTree) Root() (string, error)   { return "", nil }
func (m mapTree) IsDir(n string) bool     { return n == "" || m[n] == "dir" }
func (m mapTree) IsSymlink(n string) bool { return strings.HasPrefix(m[n], "link:") }
func (m mapTree) LinkTarget(n string) (string, error) {
	return strings.TrimPrefix(m[n], "link:"), nil
}
func (m mapTree) Lookup(dir, name string) (string, error) {
	p := name
	if dir != "" {
		p = dir + "/" + name
	}
	if _, ok := m[p]; !ok {
		return "", fs.ErrNotExist
	}
	return p, nil
}

func TestResolve(t *testing.T) {
	tree := mapTree{
		"etc": "dir", "etc/os-release": "link:../usr/lib/os-release",
		"usr": "dir", "usr/lib": "dir", "usr/lib/os-release": "file",
		"bin": "link:usr/bin", "usr/bin": "dir", "usr/bin/sh": "file",
		"abs": "link:/usr/lib", "loop": "link:loop", "file": "file",
		"dangling": "link:nowhere", "up": "link:usr/..", "deep": "link:../../../usr",
	}
	for _, c := range []struct {
		name    string
		follow  bool
		want    string
		atRoot  bool
		wantErr error
	}{
		{".", true, "", true, nil},
		{"etc/os-release", true, "usr/lib/os-release", false, nil},
		{"etc/os-release", false, "etc/os-release", false, nil},
		{"bin/sh", false, "usr/bin/sh", false, nil},
		{"abs/os-release", true, "usr/lib/os-release", false, nil},
		{"up", true, "", true, nil},       // a link back to the root
		{"deep", true, "usr", false, nil}, // ".." never goes above the root
		{"usr/..", true, "", false, fs.ErrInvalid},
		{"loop", false, "loop", false, nil},
		{"loop", true, "", false, nil},                // too many links
		{"file/x", true, "", false, ErrNotDir},        // through a file
		{"dangling", true, "", false, fs.ErrNotExist}, // link to nothing
		{"missing", true, "", false, fs.ErrNotExist},
		{"/etc", true, "", false, fs.ErrInvalid},
		{strings.Repeat("./", MaxPathSteps) + "etc", true, "", false, nil}, // too many components
	} {
		got, atRoot, err := Resolve[string](tree, "open", c.name, c.follow)
		label := c.name
		if len(label) > 40 {
			label = label[:40] + "..."
		}
		switch {
		case c.want == "" && !c.atRoot:
			var pe *fs.PathError
			if err == nil || !errors.As(err, &pe) || pe.Op != "open" || pe.Path != c.name {
				t.Errorf("%s: got %q, %v; want a *fs.PathError", label, got, err)
			} else if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("%s: error %v, want %v", label, err, c.wantErr)
			}
		case err != nil || got != c.want || atRoot != c.atRoot:
			t.Errorf("%s: got %q atRoot %v, %v; want %q atRoot %v", label, got, atRoot, err, c.want, c.atRoot)
		}
	}
}
