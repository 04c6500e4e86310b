// Command imgread reads an image through image.Open the way formats.sh's
// clients do, without the NBD layer, to profile a format package:
// sequential reads of -bs bytes by -j readers taking the next block from a
// shared counter (as nbdcopy's connections do), or, with -rand N, N random
// -bs reads at aligned offsets by -j readers (fio's randread). It prints
// the rate, and writes a CPU profile with -cpuprofile. With -cat it
// writes the guest's bytes to standard output instead, in order (one
// reader), for a check such as `imgread -cat IMG | cmp - SOURCE`: the
// reader side of bench/vhd.sh and bench/vmdk.sh.
//
//	imgread [-j 1] [-bs 1048576] [-rand N] [-cpuprofile FILE] IMAGE
//	imgread -cat [-bs 1048576] IMAGE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/virt-bmap/virt-bmap/image"
)

func main() {
	jobs := flag.Int("j", 1, "concurrent readers")
	bs := flag.Int("bs", 0, "read size (default 1 MiB sequential, 4 KiB random)")
	nrand := flag.Int("rand", 0, "random reads instead of one sequential pass")
	prof := flag.String("cpuprofile", "", "write a CPU profile")
	cat := flag.Bool("cat", false, "write the guest's bytes to standard output, in order")
	flag.Parse()
	if flag.NArg() != 1 || *bs < 0 || (*cat && (*nrand > 0 || *jobs != 1)) {
		flag.Usage()
		os.Exit(2)
	}
	if *bs == 0 {
		*bs = 1 << 20
		if *nrand > 0 {
			*bs = 4096
		}
	}
	img, err := image.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "imgread:", err)
		os.Exit(1)
	}
	defer img.Close()
	if *cat {
		if err := catImage(img, *bs); err != nil {
			fmt.Fprintln(os.Stderr, "imgread:", err)
			os.Exit(1)
		}
		return
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imgread:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	size, b := img.Size(), int64(*bs)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	t0 := time.Now()
	for j := range *jobs {
		wg.Go(func() {
			buf := make([]byte, b)
			rng := rand.New(rand.NewPCG(uint64(j), 7))
			for {
				i := next.Add(1) - 1
				var off int64
				if *nrand > 0 {
					if i >= int64(*nrand) {
						return
					}
					off = rng.Int64N(size/b) * b
				} else if off = i * b; off >= size {
					return
				}
				if _, err := img.ReadAt(buf, off); err != nil && err != io.EOF {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	if err, _ := failed.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "imgread:", err)
		os.Exit(1)
	}
	if *nrand > 0 {
		fmt.Printf("%d random %d-byte reads, %d readers: %.3f s, %.0f IOPS\n", *nrand, b, *jobs, d.Seconds(), float64(*nrand)/d.Seconds())
	} else {
		fmt.Printf("%d bytes in %d-byte reads, %d readers: %.3f s, %.0f MB/s\n", size, b, *jobs, d.Seconds(), float64(size)/1e6/d.Seconds())
	}
}

// catImage writes img's bytes to standard output in reads of bs bytes.
func catImage(img *image.Image, bs int) error {
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	buf := make([]byte, bs)
	for off := int64(0); off < img.Size(); off += int64(bs) {
		n, err := img.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
	}
	return w.Flush()
}
