package btrfs

import (
	"testing"
)

// TestRestoreFixtures compares every subvolume of the kernel-made
// fixtures, file by file, with what btrfs restore copies out.
func TestRestoreFixtures(t *testing.T) {
	for _, name := range []string{"fedora", "suse"} {
		t.Run(name, func(t *testing.T) {
			img, b := fixtureFile(t, name)
			f := openBytes(t, b)
			subs := kernelSubvols(t, name)
			total := 0
			for _, id := range restoreRoots(t, img) {
				sv, err := f.Subvolume(id)
				if err != nil {
					t.Fatalf("subvolume %d: %v", id, err)
				}
				nested := nestedIn(subs, id)
				want := restoreTree(t, img, id)
				got, empty := ourTree(t, sv)
				prune(want, nested)
				prune(got, nested)
				for _, p := range empty {
					if _, ok := got[p]; ok {
						prune(want, []string{p})
						want[p] = treeEntry{kind: "d"}
					}
				}
				t.Logf("subvolume %d: %d paths (nested subvolumes %q compared on their own)", id, len(want), nested)
				compareTrees(t, want, got)
				total += len(want)
			}
			if total < 20 {
				t.Errorf("restore wrote %d paths in all", total)
			}
		})
	}
}

// TestRestoreMkfs does the same on images mkfs.btrfs --rootdir builds
// with each node size, metadata profile and checksum.
func TestRestoreMkfs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []string
	}{
		{"default-16k-dup", nil},
		{"single", []string{"-m", "single"}},
		{"4k-nodes", []string{"-n", "4096", "-s", "4096"}},
		{"sha256", []string{"--csum", "sha256"}},
		{"xxhash", []string{"--csum", "xxhash"}},
		{"mixed", []string{"-M"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mkfs(t, tc.opts...)
			b, err := readFile(img)
			if err != nil {
				t.Fatal(err)
			}
			f := openBytes(t, b)
			got, _ := ourTree(t, f)
			want := restoreTree(t, img, 5)
			if len(want) < 600 {
				t.Fatalf("restore wrote %d paths", len(want))
			}
			compareTrees(t, want, got)
		})
	}
}
