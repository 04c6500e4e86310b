package xz

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// testData returns n deterministic bytes that look like a disk: runs of
// text, of random (incompressible) bytes, of zeros, of a repeated record
// and of x86-like code with E8/E9 calls, so LZMA2 makes both compressed
// and uncompressed chunks and the BCJ filter has work.
func testData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	words := strings.Fields("the quick brown fox jumps over lazy dog kernel initrd boot grub linux windows system32 registry ext4 inode extent superblock journal")
	var b bytes.Buffer
	for b.Len() < n {
		run := 512 + rng.IntN(64<<10)
		switch rng.IntN(5) {
		case 0:
			for k := 0; k < run; {
				w := words[rng.IntN(len(words))]
				b.WriteString(w)
				b.WriteByte(" \n"[rng.IntN(8)/7])
				k += len(w) + 1
			}
		case 1:
			for k := 0; k < run; k++ {
				b.WriteByte(byte(rng.Uint32()))
			}
		case 2:
			b.Write(make([]byte, run))
		case 3:
			rec := fmt.Sprintf("record %08d: %x\n", rng.IntN(1e8), rng.Uint64())
			for k := 0; k < run; k += len(rec) {
				b.WriteString(rec)
			}
		case 4:
			for k := 0; k < run; k++ {
				if rng.IntN(16) == 0 {
					off := int32(rng.IntN(1<<16)) - 1<<15
					b.Write([]byte{0xe8, byte(off), byte(off >> 8), byte(off >> 16), byte(off >> 24)})
					k += 4
				} else {
					b.WriteByte(byte(rng.IntN(64)))
				}
			}
		}
	}
	return b.Bytes()[:n]
}

// xzFile compresses data with the xz command and the given options into
// a file in dir and returns its path.
func xzFile(t testing.TB, dir, name string, data []byte, args ...string) string {
	t.Helper()
	testutil.NeedTools(t, "xz")
	path := filepath.Join(dir, name)
	cmd := exec.Command("xz", append([]string{"-c", "-q"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", args, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// xzDecompress is the reference: `xz -dc path`.
func xzDecompress(t testing.TB, path string) []byte {
	t.Helper()
	out, err := exec.Command("xz", "-dc", path).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", path, err)
	}
	return out
}

// openFile opens path with NewReader.
func openFile(t testing.TB, path string, opt Options) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewReader(f, st.Size(), opt)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", path, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}
