package reports

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		path string
		err  string
	}{
		{"r.json", ""},
		{"dir.d/R.JSON", ""},
		{"r.txt", ""},
		{"r.pdf", `report r.pdf: unknown report format ".pdf": want one of`},
		{"report", "report report: unknown report format (no extension)"},
		{"r.json.gz", `".gz"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f, err := FormatOf(tc.path)
			if tc.err == "" {
				if err != nil || f == nil {
					t.Fatalf("%v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrFormat) {
				t.Errorf("error %v, want ErrFormat and %q", err, tc.err)
			}
		})
	}
}

// TestWriteFile: Write gives the bytes of the format's writer, and a
// failed Write leaves no file behind.
func TestWriteFile(t *testing.T) {
	h, evs := readTrace(t, "testdata/sample.ndjson")
	s := summarise(h, evs, readMap(t, "testdata/sample.bmap.json"))
	dir := t.TempDir()
	var j, x bytes.Buffer
	if err := WriteJSON(&j, s); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&x, s, DefaultTop); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"r.json": j.Bytes(), "r.TXT": x.Bytes()} {
		p := filepath.Join(dir, name)
		if err := Write(p, s); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, %d bytes, want %d", name, err, len(got), len(want))
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v %v", name, fi.Mode(), err)
		}
	}
	if err := Write(filepath.Join(dir, "no", "r.json"), s); err == nil {
		t.Error("a missing directory: no error")
	}
	if err := Write(filepath.Join(dir, "r.pdf"), s); !errors.Is(err, ErrFormat) {
		t.Errorf("r.pdf: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("%d files left in %s, want the 2 reports", len(ents), dir)
	}
}
