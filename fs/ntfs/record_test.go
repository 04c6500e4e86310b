package ntfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestRecordLookup: every file, directory and system file holds its own
// MFT record(s) as bmap.RoleRecord extents, at the place istat's run list
// of $MFT gives record N; and a read of one record, looked up in a block
// map of the walk, names that record's file first (f and d beat $MFT's
// m), for small files and for files larger than $MFT alike.
func TestRecordLookup(t *testing.T) {
	testutil.NeedTools(t, "istat")
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			img := filepath.Join(t.TempDir(), name+".img")
			if err := os.WriteFile(img, b, 0o644); err != nil {
				t.Fatal(err)
			}
			es, warns, err := walkAll(t, b)
			if err != nil || len(warns) > 0 {
				t.Fatalf("walk: %v, warnings %v", err, warns)
			}
			f, err := New(strings.NewReader(string(b)), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			clusterSize, rs := f.boot.clusterSize, f.boot.recordSize
			mftClusters := istatClusters(t, img, 0)[""]
			recordOff := func(n uint64) int64 {
				at := int64(n) * rs
				return mftClusters[at/clusterSize]*clusterSize + at%clusterSize
			}
			bld := bmap.NewBuilder()
			bld.AddDisk(bmap.Disk{Index: 1, Device: "/dev/sda", Size: int64(len(b))})
			for _, e := range es {
				bld.Add(bmap.Object{Disk: 1, Kind: e.Kind, Device: "/dev/sda", Path: e.Path, Inode: e.Inode, Size: e.Size, Extents: e.Extents})
			}
			m := bld.Map()
			ix := bmap.NewIndex(m)
			var mftSize int64
			for _, e := range es {
				if e.Path == "$MFT" {
					mftSize = e.Size
				}
			}
			checked, larger := 0, 0
			for _, e := range es {
				if !isRecord(e) || strings.Contains(e.Path, ":") {
					continue // streams hold no record: the file does
				}
				var recs []bmap.Extent
				for _, x := range e.Extents {
					if x.Role == bmap.RoleRecord {
						recs = append(recs, x)
					}
				}
				if len(recs) == 0 || recs[0].Off != recordOff(e.Inode) || recs[0].Len != rs {
					t.Errorf("%s (record %d): record extents %v, istat's $MFT runs put it at %#x", e.Path, e.Inode, recs, recordOff(e.Inode))
					continue
				}
				hits := ix.Lookup(1, recs[0].Off, rs)
				if e.Kind == bmap.KindMeta {
					// A system file's record is m, as $MFT's data
					// around it: the narrower wins, either way m.
					found := false
					for _, h := range hits {
						found = found || h.Object.Path == e.Path
					}
					if !found || hits[0].Object.Kind != bmap.KindMeta {
						t.Errorf("%s (record %d): a read of its record finds %v", e.Path, e.Inode, hits)
					}
				} else if len(hits) == 0 || hits[0].Object.Inode != e.Inode || hits[0].Object.Kind != e.Kind {
					first := "nothing"
					if len(hits) > 0 {
						first = string(hits[0].Object.Kind) + " " + hits[0].Object.Path
					}
					t.Errorf("%s (%c, record %d): a read of its record finds %s first", e.Path, e.Kind, e.Inode, first)
					continue
				}
				if e.Kind == bmap.KindFile && e.Size > mftSize {
					larger++
				}
				checked++
			}
			if checked < 15 {
				t.Errorf("only %d records checked", checked)
			}
			if name == "small4k" && larger == 0 {
				t.Errorf("no file larger than $MFT (%d bytes) checked", mftSize)
			}
			t.Logf("%d records looked up, %d of files larger than $MFT", checked, larger)
		})
	}
}
