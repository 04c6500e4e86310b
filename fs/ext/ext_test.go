package ext

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
)

// eofAtEnd is an io.ReaderAt that returns io.EOF with a full buffer when
// a read ends exactly at the end of its data, as the interface allows.
type eofAtEnd struct{ b []byte }

func (r eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) || off+int64(n) == int64(len(r.b)) {
		return n, io.EOF
	}
	return n, nil
}

func walkString(t *testing.T, r io.ReaderAt, size int64) string {
	t.Helper()
	f, err := New(r, size)
	must(t, err)
	var out bytes.Buffer
	f.SetWarn(func(err error) { fmt.Fprintln(&out, "warning:", err) })
	must(t, f.Walk(func(e fs.Entry) error {
		fmt.Fprintf(&out, "%+v\n", e)
		return nil
	}))
	return out.String()
}

func TestReaderAtEOF(t *testing.T) {
	for _, name := range fixtures {
		b := loadFixture(t, name)
		want := walkString(t, bytes.NewReader(b), int64(len(b)))
		if got := walkString(t, eofAtEnd{b}, int64(len(b))); got != want {
			t.Errorf("%s: walk through a reader returning io.EOF at the end differs", name)
		}
	}
}
