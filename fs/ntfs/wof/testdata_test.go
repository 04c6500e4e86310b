package wof

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// testdataStreams are the WofCompressedData streams in testdata/,
// made by wimlib (mkwof stream) from the data below; WOF_UPDATE_TESTDATA=1
// remakes them. They seed the fuzz targets and let TestTestdata run
// where wimlib is not installed.
var testdataStreams = []struct {
	file   string
	format string
	f      Format
	level  int
	data   func() []byte
}{
	{"xpress4k.wof", "xpress4k", Xpress4K, 50, func() []byte { return textData(6000, 21) }},
	{"xpress8k.wof", "xpress8k", Xpress8K, 50, func() []byte { return append(textData(5000, 22), randomData(5000, 23)...) }},
	{"xpress16k.wof", "xpress16k", Xpress16K, 100, func() []byte { return textData(17000, 24) }},
	{"lzx.wof", "lzx", LZX, 100, func() []byte { return textData(12000, 25) }},
}

func TestTestdata(t *testing.T) {
	var tool, dir string
	if os.Getenv("WOF_UPDATE_TESTDATA") != "" {
		dir = t.TempDir()
		tool = mkwof(t, dir)
	}
	for _, c := range testdataStreams {
		t.Run(c.file, func(t *testing.T) {
			p := filepath.Join("testdata", c.file)
			if tool != "" {
				if err := os.WriteFile(p, stream(t, tool, dir, c.format, c.level, c.data()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, s, c.data(), c.f)
		})
	}
}

// readTestdata returns testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstChunk returns the compressed first chunk of a testdata stream of
// a file of size bytes, and its decompressed size.
func firstChunk(t testing.TB, name string, f Format, size int) ([]byte, int) {
	s := readTestdata(t, name)
	cs := f.ChunkSize()
	n := (size + cs - 1) / cs
	table := 4 * (n - 1)
	end := len(s)
	if n > 1 {
		end = table + int(uint32(s[0])|uint32(s[1])<<8|uint32(s[2])<<16|uint32(s[3])<<24)
	}
	return bytes.Clone(s[table:end]), min(cs, size)
}
