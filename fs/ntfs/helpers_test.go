package ntfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fixtures are the volumes testdata/mkfixtures.sh makes.
var fixtures = []string{"small", "small4k"}

// fixture returns a fixture's bytes.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	return testutil.Gunzip(t, filepath.Join("testdata", name+".img.gz"))
}

// walkAll walks a volume and returns copies of every entry and the
// warnings.
func walkAll(t testing.TB, b []byte) ([]fs.Entry, []error, error) {
	t.Helper()
	f, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	var warns []error
	f.SetWarn(func(err error) { warns = append(warns, err) })
	var es []fs.Entry
	err = f.Walk(func(e fs.Entry) error {
		e.Extents = slices.Clone(e.Extents)
		es = append(es, e)
		return nil
	})
	return es, warns, err
}

func byPath(es []fs.Entry) map[string]fs.Entry {
	m := make(map[string]fs.Entry, len(es))
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

// isRecord reports whether an entry is a file record's: a file,
// directory or stream, or a system file ("$MFT", "$Extend/$Quota:$Q"),
// not the boot sectors.
func isRecord(e fs.Entry) bool { return e.Kind != bmap.KindMeta || strings.HasPrefix(e.Path, "$") }

// buildImage makes an NTFS volume of the given sectors and cluster size
// with mkntfs and fills it from a manifest (lines of TAB-separated
// fields) with testimages/ntfs/mkntfstree.c, compiled against libntfs-3g;
// it skips the test when a tool is missing. It returns the image's path
// and bytes.
func buildImage(t *testing.T, sectors, cluster int64, manifest [][]string) (string, []byte) {
	t.Helper()
	testutil.NeedTools(t, "mkntfs", "gcc", "fls", "istat")
	if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
		t.Skip("libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'")
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "mkntfstree")
	testutil.Run(t, "", "gcc", "-O2", "-Wall", "-o", tool, filepath.Join("..", "..", "testimages", "ntfs", "mkntfstree.c"), "-lntfs-3g")
	img := filepath.Join(dir, "vol.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, sectors*512); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "", "mkntfs", "-F", "-Q", "-T", "-q", "-c", strconv.FormatInt(cluster, 10), "-s", "512", "-p", "0", "-H", "255", "-S", "63", img, strconv.FormatInt(sectors, 10))
	var in strings.Builder
	for _, l := range manifest {
		in.WriteString(strings.Join(l, "\t") + "\n")
	}
	testutil.Run(t, in.String(), tool, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return img, b
}
