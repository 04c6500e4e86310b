// Command xzdecode is the Go half of bench/xzdecode.sh: it decodes every
// block of an xz file on one core (GOMAXPROCS=1), with image/xz (our
// LZMA2 decoder, image/xz/lzma2) or with github.com/ulikunitz/xz (the
// library image/xz used before), and throws the data away, as
// `xz -T1 -dc FILE > /dev/null` does.
//
//	xzdecode [-impl ours|ulikunitz] [-sum] [-cpuprofile FILE] FILE.xz
//
// ours: image/xz.NewReader with one worker and no read-ahead, read in
// order in 1 MiB reads: each block is decoded whole into its cache
// buffer and its check verified, as xz does. ulikunitz: its xz.Reader
// (which verifies the checks too) copied to io.Discard. It prints one
// line, impl=... bytes=... seconds=... MB/s=..., and sha256=... with -sum
// so the script can check the data against xz -dc.
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	ulxz "github.com/ulikunitz/xz"

	"github.com/virt-bmap/virt-bmap/image/xz"
)

func main() {
	impl := flag.String("impl", "ours", "ours or ulikunitz")
	sum := flag.Bool("sum", false, "print the SHA-256 of the data")
	prof := flag.String("cpuprofile", "", "write a CPU profile here")
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: xzdecode [-impl ours|ulikunitz] [-sum] FILE.xz")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fail(err)
	}
	var w io.Writer = io.Discard
	var h hash.Hash
	if *sum {
		h = sha256.New()
		w = h
	}
	if *prof != "" {
		pf, err := os.Create(*prof)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	var n int64
	switch *impl {
	case "ours":
		x, err := xz.NewReader(f, st.Size(), xz.Options{Workers: 1, ReadAhead: -1})
		if err != nil {
			fail(err)
		}
		buf := make([]byte, 1<<20)
		for n < x.Size() {
			k, err := x.ReadAt(buf, n)
			if k == 0 && err != nil {
				fail(err)
			}
			w.Write(buf[:k])
			n += int64(k)
		}
		x.Close()
	case "ulikunitz":
		data, err := io.ReadAll(f)
		if err != nil {
			fail(err)
		}
		r, err := ulxz.NewReader(bytes.NewReader(data))
		if err != nil {
			fail(err)
		}
		if n, err = io.Copy(w, r); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown -impl %q", *impl))
	}
	sec := time.Since(start).Seconds()
	fmt.Printf("impl=%s bytes=%d seconds=%.3f MB/s=%.1f", *impl, n, sec, float64(n)/sec/1e6)
	if h != nil {
		fmt.Printf(" sha256=%x", h.Sum(nil))
	}
	fmt.Println()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "xzdecode:", err)
	os.Exit(1)
}
