package ext

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// TestMetaEntries checks the shape of the metadata entries of a fixture:
// one entry per structure, named per group, block aligned, RoleMeta with
// FileOff -1, inside the filesystem; and the walk order (metadata first,
// then "/").
func TestMetaEntries(t *testing.T) {
	b := loadFixture(t, fixtures[0])
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var names []string
	seenRoot := false
	err = f.Walk(func(e fs.Entry) error {
		if e.Kind != bmap.KindMeta {
			if !seenRoot && e.Path != "/" {
				t.Errorf("first non-metadata entry %q, want /", e.Path)
			}
			seenRoot = true
			return nil
		}
		if seenRoot {
			t.Errorf("metadata %q after the tree", e.Path)
		}
		names = append(names, e.Path)
		for _, x := range e.Extents {
			if x.Role != bmap.RoleMeta || x.FileOff != -1 || x.Len <= 0 || x.End() > int64(len(b)) {
				t.Errorf("%s: extent %+v", e.Path, x)
			}
		}
		return nil
	})
	must(t, err)
	want := []string{"superblock", "group descriptors", "reserved GDT blocks", "group 0 block bitmap", "group 0 inode bitmap", "group 0 inode table", "resize inode"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("metadata %q, want %q", names, want)
	}
}

// TestWalkStops checks that fn's error ends the walk and is returned.
func TestWalkStops(t *testing.T) {
	b := loadFixture(t, fixtures[0])
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	stop := errors.New("enough")
	for _, after := range []int{1, 8, 12, 20} {
		n := 0
		err := f.Walk(func(e fs.Entry) error {
			n++
			if n == after {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != after {
			t.Errorf("stop after %d: %v after %d entries", after, err, n)
		}
	}
}

// TestWalkRootNotDir: a root inode that is not a directory ends the walk
// with an error after the metadata.
func TestWalkRootNotDir(t *testing.T) {
	b := bytes.Clone(loadFixture(t, fixtures[0]))
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	off := f.inodeOff(rootIno)
	b[off+1] = 0x80 // mode: regular file
	f, err = New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var fe *diskerr.FormatError
	if err := f.Walk(func(fs.Entry) error { return nil }); !errors.As(err, &fe) {
		t.Errorf("Walk: %v, want a diskerr.FormatError", err)
	}
}
