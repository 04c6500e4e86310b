package ntfs

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
func isRecord(e fs.Entry) bool { return e.Kind != fs.KindMeta || strings.HasPrefix(e.Path, "$") }
