// Command xzread is the Go half of bench/xz.sh: it makes the benchmark's
// deterministic disk-like data and times reads through image/xz.
//
//	xzread gen -size 256 > image                 # MiB of disk-like data on stdout
//	xzread seq [-readers N] [-bs BYTES] FILE.xz  # read everything, N readers
//	xzread rand [-n N] [-bs 4096] [-readers N] [-seed S] FILE.xz
//
// seq: N goroutines take -bs chunks in order from a shared counter (what
// nbdcopy does with N connections) until the whole image is read. rand:
// N goroutines read -n random -bs blocks in all, aligned to -bs. Both
// print one line of key=value results (seconds, MB/s or IOPS, the
// reader's stats) on stdout, and the SHA-256 of the data for seq, so the
// script can check it against xz -dc.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/virt-bmap/virt-bmap/image/xz"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: xzread gen|seq|rand [options] [FILE]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fl := flag.NewFlagSet(mode, flag.ExitOnError)
	sizeMiB := fl.Int("size", 256, "gen: MiB of data")
	readers := fl.Int("readers", 1, "concurrent readers")
	bs := fl.Int("bs", 256<<10, "bytes per read")
	n := fl.Int("n", 5000, "rand: number of reads")
	seed := fl.Uint64("seed", 1, "random seed")
	cacheMiB := fl.Int64("cache", 0, "cache size in MiB (0: default)")
	ra := fl.Int("readahead", 0, "read-ahead blocks (0: default, <0: off)")
	workers := fl.Int("workers", 0, "decoders (0: GOMAXPROCS)")
	cpuprof := fl.String("cpuprofile", "", "write a CPU profile")
	fl.Parse(os.Args[2:])
	if mode == "gen" {
		gen(os.Stdout, int64(*sizeMiB)<<20, *seed)
		return
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "xzread: one FILE.xz expected")
		os.Exit(2)
	}
	f, err := os.Open(fl.Arg(0))
	check(err)
	st, err := f.Stat()
	check(err)
	x, err := xz.NewReader(f, st.Size(), xz.Options{CacheSize: *cacheMiB << 20, ReadAhead: *ra, Workers: *workers,
		Warn: func(m string) { fmt.Fprintln(os.Stderr, m) }})
	check(err)
	if *cpuprof != "" {
		pf, err := os.Create(*cpuprof)
		check(err)
		check(pprof.StartCPUProfile(pf))
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	switch mode {
	case "seq":
		sum := seq(x, *readers, *bs)
		d := time.Since(start).Seconds()
		fmt.Printf("mode=seq readers=%d bs=%d seconds=%.3f MBps=%.1f sha256=%x %s\n",
			*readers, *bs, d, float64(x.Size())/d/1e6, sum, stats(x))
	case "rand":
		rnd(x, *readers, *bs, *n, *seed)
		d := time.Since(start).Seconds()
		fmt.Printf("mode=rand readers=%d bs=%d reads=%d seconds=%.3f IOPS=%.0f %s\n",
			*readers, *bs, *n, d, float64(*n)/d, stats(x))
	default:
		fmt.Fprintln(os.Stderr, "xzread: unknown mode", mode)
		os.Exit(2)
	}
	check(x.Close())
}

func stats(x *xz.Reader) string {
	s := x.Stats()
	return fmt.Sprintf("blocks=%d hits=%d misses=%d waits=%d decoded=%d readahead=%d readahead_used=%d",
		x.Blocks(), s.Hits, s.Misses, s.Waits, s.BlocksDecoded, s.ReadAhead, s.ReadAheadUsed)
}

// seq reads the whole image in bs chunks taken in order by n readers and
// returns the SHA-256 of the image (chunks are hashed in order).
func seq(x *xz.Reader, n, bs int) []byte {
	size := x.Size()
	chunks := (size + int64(bs) - 1) / int64(bs)
	var next atomic.Int64
	// Chunks are handed to the hasher in order through a small window.
	type res struct {
		i int64
		b []byte
	}
	out := make(chan res, 4*n)
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= chunks {
					return
				}
				b := make([]byte, min(int64(bs), size-i*int64(bs)))
				if k, err := x.ReadAt(b, i*int64(bs)); k != len(b) {
					check(fmt.Errorf("read at %d: %d bytes, %v", i*int64(bs), k, err))
				}
				out <- res{i, b}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	h := sha256.New()
	pending := map[int64][]byte{}
	want := int64(0)
	for r := range out {
		pending[r.i] = r.b
		for b, ok := pending[want]; ok; b, ok = pending[want] {
			h.Write(b)
			delete(pending, want)
			want++
		}
	}
	return h.Sum(nil)
}

func rnd(x *xz.Reader, n, bs, reads int, seed uint64) {
	slots := x.Size() / int64(bs)
	var done atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			b := make([]byte, bs)
			for done.Add(1) <= int64(reads) {
				off := rng.Int64N(slots) * int64(bs)
				if k, err := x.ReadAt(b, off); k != bs {
					check(fmt.Errorf("read at %d: %d bytes, %v", off, k, err))
				}
			}
		}()
	}
	wg.Wait()
}

// gen writes size bytes that look like a used disk: a deterministic mix of
// zeros (unused space), text (configuration, logs, sources), structured
// records (databases, metadata), machine-code-like bytes and random bytes
// (already-compressed files), in runs of 4 KiB to 1 MiB.
func gen(w io.Writer, size int64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	words := []string{"the", "kernel", "module", "boot", "system", "file", "error", "user", "root", "linux",
		"windows", "service", "config", "daemon", "network", "device", "mount", "return", "value", "static",
		"int", "struct", "if", "for", "while", "else", "printf", "include", "define", "data", "2026-11-03"}
	buf := make([]byte, 0, 1<<20)
	var written int64
	for written < size {
		run := 4096 << rng.IntN(9) // 4 KiB to 1 MiB
		buf = buf[:0]
		switch k := rng.IntN(100); {
		case k < 30: // zeros
			buf = append(buf, make([]byte, run)...)
		case k < 55: // text
			for len(buf) < run {
				buf = append(buf, words[rng.IntN(len(words))]...)
				if rng.IntN(9) == 0 {
					buf = append(buf, '\n')
				} else {
					buf = append(buf, ' ')
				}
			}
		case k < 70: // records
			for len(buf) < run {
				buf = fmt.Appendf(buf, "%06d|%-12s|%08x|%d\n", rng.IntN(1e6), words[rng.IntN(len(words))], rng.Uint32(), rng.IntN(100))
			}
		case k < 85: // code-like
			for len(buf) < run {
				if rng.IntN(12) == 0 {
					d := uint32(rng.IntN(1<<20)) - 1<<19
					buf = append(buf, 0xe8, byte(d), byte(d>>8), byte(d>>16), byte(d>>24))
				} else {
					buf = append(buf, byte(rng.IntN(48)), 0x89, byte(rng.IntN(8)))
				}
			}
		default: // random
			for len(buf) < run {
				v := rng.Uint64()
				buf = append(buf, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
			}
		}
		buf = buf[:min(int64(run), size-written)]
		_, err := w.Write(buf)
		check(err)
		written += int64(len(buf))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "xzread:", err)
		os.Exit(1)
	}
}
