package wof

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// formats are the four WOF formats with mkwof's names for them.
var formats = []struct {
	name string
	f    Format
}{
	{"xpress4k", Xpress4K},
	{"lzx", LZX},
	{"xpress8k", Xpress8K},
	{"xpress16k", Xpress16K},
}

// mkwof compiles testimages/ntfs/mkwof.c (wimlib's compressors and
// decompressors, libntfs-3g) into dir and returns its path; it skips
// the test when a tool or library is missing.
func mkwof(t testing.TB, dir string) string {
	t.Helper()
	testutil.NeedTools(t, "gcc")
	for h, pkg := range map[string]string{"/usr/include/wimlib.h": "libwim-dev", "/usr/include/ntfs-3g/volume.h": "ntfs-3g-dev"} {
		if _, err := os.Stat(h); err != nil {
			t.Skipf("%s missing: install the Debian package %q", h, pkg)
		}
	}
	tool := filepath.Join(dir, "mkwof")
	src := filepath.Join(repoRoot(t), "testimages", "ntfs", "mkwof.c")
	testutil.Run(t, "", "gcc", "-O2", "-Wall", "-o", tool, src, "-lntfs-3g", "-lwim")
	return tool
}

// repoRoot finds the module's root from the test's directory.
func repoRoot(t testing.TB) string {
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(d, "go.mod")) {
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found")
		}
		d = p
	}
	return d
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// textData returns n bytes of text that compresses: words picked by a
// xorshift generator, lines of varying length.
func textData(n int, seed uint64) []byte {
	words := strings.Fields("the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part")
	b := make([]byte, 0, n+16)
	x := seed*2654435761 + 1
	col := 0
	for len(b) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		w := words[x%uint64(len(words))]
		b = append(b, w...)
		col += len(w) + 1
		if col > 60+int(x>>60) {
			b = append(b, '\n')
			col = 0
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// randomData returns n bytes that do not compress.
func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

// codeData returns n bytes of x86-64 machine code (with E8 calls, which
// LZX translates): the start of the running test binary's text.
func codeData(t testing.TB, n int) []byte {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < n+4096 {
		t.Skipf("test binary of %d bytes", len(b))
	}
	return b[4096 : 4096+n]
}

// stream compresses data with mkwof (wimlib) and returns the
// WofCompressedData stream.
func stream(t testing.TB, tool, dir, format string, level int, data []byte) []byte {
	t.Helper()
	in := filepath.Join(dir, "in")
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "", tool, "stream", format, strconv.Itoa(level), in, out)
	s, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
