package btrfs

import (
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSubvolumes compares Subvolumes and DefaultSubvolume with what the
// kernel listed when the fixtures were made (btrfs subvolume list -a -p
// -u, get-default).
func TestSubvolumes(t *testing.T) {
	for _, name := range []string{"fedora", "suse"} {
		t.Run(name, func(t *testing.T) {
			_, b := fixtureFile(t, name)
			f := openBytes(t, b)
			got, err := f.Subvolumes()
			if err != nil {
				t.Fatal(err)
			}
			want := kernelSubvols(t, name)
			if len(got) != len(want)+1 || got[0].ID != 5 || got[0].Path != "" {
				t.Fatalf("got %+v, want the top level and %+v", got, want)
			}
			for i, w := range want {
				g := got[i+1]
				if g.ID != w.id || g.ParentID != w.parent || g.Path != w.path || g.UUID != w.uuid {
					t.Errorf("subvolume %d: got %+v, kernel %+v", w.id, g, w)
				}
			}
			def, err := os.ReadFile(filepath.Join("testdata", name+".default"))
			if err != nil {
				t.Fatal(err)
			}
			var id uint64
			if _, err := fmtSscan(string(def), &id); err != nil {
				t.Fatalf("%s.default: %v", name, err)
			}
			if f.DefaultSubvolume() != id {
				t.Errorf("default subvolume %d, kernel %d", f.DefaultSubvolume(), id)
			}
		})
	}
}

// TestSubvolumeViews checks what the Fedora and openSUSE layouts need:
// the root subvolume's os-release, nested subvolumes seen as directories
// of their parent, the default subvolume behind *FS's own methods, the
// read-only flag and a snapshot's placeholder for a nested subvolume.
func TestSubvolumeViews(t *testing.T) {
	_, b := fixtureFile(t, "fedora")
	f := openBytes(t, b)
	root, err := f.Subvolume(256)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := iofs.ReadFile(root, "etc/os-release")
	if err != nil || !strings.Contains(string(rel), "ID=fedora\n") {
		t.Fatalf("root/etc/os-release: %q, %v", rel, err)
	}
	top, err := iofs.ReadFile(f, "root/etc/os-release") // default is 5
	if err != nil || string(top) != string(rel) {
		t.Errorf("top level root/etc/os-release: %q, %v", top, err)
	}
	if m, err := iofs.ReadFile(f, "root/var/lib/machines/m.txt"); err != nil || string(m) != "machine\n" {
		t.Errorf("nested subvolume through its parents: %q, %v", m, err)
	}
	if _, err := iofs.Stat(f, "snapshots/root-1/etc/motd"); err == nil {
		t.Error("motd, written after the snapshot, is in it")
	}
	es, err := iofs.ReadDir(f, "snapshots/root-1/var/lib/machines")
	if err != nil || len(es) != 0 {
		t.Errorf("snapshot's copy of a nested subvolume: %v, %v; want an empty directory", es, err)
	}
	subs, _ := f.Subvolumes()
	for _, s := range subs {
		if s.ReadOnly != (s.Path == "snapshots/root-1") {
			t.Errorf("%s: read-only %v", s.Path, s.ReadOnly)
		}
	}
	if _, err := f.Subvolume(999); err == nil {
		t.Error("subvolume 999 opened")
	}

	_, b = fixtureFile(t, "suse")
	f = openBytes(t, b)
	got, err := iofs.ReadFile(f, "etc/snapshot-only")
	if err != nil || string(got) != "only in the snapshot\n" {
		t.Errorf("default subvolume (the snapshot): %q, %v", got, err)
	}
	if f.ChecksumType() != "xxhash64" {
		t.Errorf("checksum %s", f.ChecksumType())
	}
}
