package wof

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// BenchmarkDecompress reads 1 MiB (half x86 code from the test binary,
// half text) compressed by wimlib in each format through a Reader, one
// chunk after another, and reports MB/s of decompressed bytes (and
// cpu-MB/s, per second of the process's user+system CPU time, which a
// loaded machine skews less) and the compression ratio. With
// WOF_BENCH_WIMLIB=N it also times wimlib's C decompressor on the same
// data (mkwof bench: N rounds over the chunks, right after ours, per
// CPU second) and reports its MB/s and our CPU speed as a fraction of
// it (x-wimlib).
func BenchmarkDecompress(b *testing.B) {
	dir := b.TempDir()
	tool := mkwof(b, dir)
	data := append(codeData(b, 1<<19), textData(1<<19, 41)...)
	in := filepath.Join(dir, "data")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		b.Fatal(err)
	}
	rounds, _ := strconv.Atoi(os.Getenv("WOF_BENCH_WIMLIB"))
	for _, fm := range formats {
		b.Run(fm.name, func(b *testing.B) {
			s := stream(b, tool, dir, fm.name, 50, data)
			r, err := NewReader(bytes.NewReader(s), int64(len(s)), int64(len(data)), fm.f)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, fm.f.ChunkSize())
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				r.cached = -1
				for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
					if _, err := r.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu := cpuTime() - cpu0
			ours := float64(len(data)) * float64(b.N) / cpu.Seconds() / 1e6
			b.ReportMetric(ours, "cpu-MB/s")
			b.ReportMetric(float64(len(s))/float64(len(data)), "ratio")
			if rounds > 0 {
				out := testutil.Run(b, "", tool, "bench", fm.name, in, strconv.Itoa(rounds))
				mbs, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(out, "MB/s")), 64)
				if err != nil {
					b.Fatalf("mkwof bench: %q", out)
				}
				b.ReportMetric(mbs, "wimlib-MB/s")
				b.ReportMetric(ours/mbs, "x-wimlib")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
