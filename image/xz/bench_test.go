package xz

import (
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// benchFile makes an 8 MiB disk-like file in 256 KiB blocks once per
// benchmark.
func benchFile(b *testing.B) (string, int64) {
	b.Helper()
	data := testData(8<<20, 99)
	return xzFile(b, b.TempDir(), "bench.xz", data, "-T2", "--block-size=256KiB"), int64(len(data))
}

func openBench(b *testing.B, path string, opt Options) *Reader {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	x, err := NewReader(f, st.Size(), opt)
	if err != nil {
		b.Fatal(err)
	}
	return x
}

// seqRead reads the whole file in 256 KiB chunks with n readers taking
// chunks in order.
func seqRead(b *testing.B, x *Reader, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 256<<10)
			for {
				off := next.Add(int64(len(p))) - int64(len(p))
				if off >= x.Size() {
					return
				}
				if k, err := x.ReadAt(p, off); k == 0 {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkSeqCold: a fresh reader (empty cache) per pass: decoding speed.
func BenchmarkSeqCold(b *testing.B) {
	path, size := benchFile(b)
	for _, n := range []int{1, 4} {
		b.Run(map[int]string{1: "1reader", 4: "4readers"}[n], func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				x := openBench(b, path, Options{})
				seqRead(b, x, n)
				x.Close()
			}
		})
	}
}

// BenchmarkSeqWarm: the cache holds the file: copying speed.
func BenchmarkSeqWarm(b *testing.B) {
	path, size := benchFile(b)
	x := openBench(b, path, Options{})
	defer x.Close()
	seqRead(b, x, 1)
	b.SetBytes(size)
	for b.Loop() {
		seqRead(b, x, 4)
	}
}

// BenchmarkRandom4KCold: 4 KiB reads at random with an empty cache each
// pass of 64 reads; BenchmarkRandom4KWarm: with the file cached.
func BenchmarkRandom4KCold(b *testing.B) {
	path, size := benchFile(b)
	rng := rand.New(rand.NewPCG(1, 1))
	p := make([]byte, 4096)
	for b.Loop() {
		x := openBench(b, path, Options{ReadAhead: -1})
		for i := 0; i < 64; i++ {
			x.ReadAt(p, rng.Int64N(size/4096)*4096)
		}
		x.Close()
	}
}

func BenchmarkRandom4KWarm(b *testing.B) {
	path, size := benchFile(b)
	x := openBench(b, path, Options{})
	defer x.Close()
	seqRead(b, x, 1)
	s0 := x.Stats()
	rng := rand.New(rand.NewPCG(1, 1))
	p := make([]byte, 4096)
	for b.Loop() {
		x.ReadAt(p, rng.Int64N(size/4096)*4096)
	}
	s := x.Stats()
	b.ReportMetric(float64(s.Misses-s0.Misses), "misses")
}
