// Command bmapprof profiles what virt-bmap does on one disk image: it scans
// the image as `virt-bmap -q` does (cli.Disks.Open, scan.Disks into a
// bmap.Builder), writes the map in the text or JSON form to /dev/null
// through the same writers, and saves a CPU and a heap profile for
// `go tool pprof`. bench/README.md says what the profiles showed.
//
// Usage: go run ./bench/bmapprof [-json] [-cpuprofile F] [-memprofile F] IMAGE
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/scan"
	"github.com/virt-bmap/virt-bmap/volume"
)

func main() {
	// The collector as cmd/virt-bmap sets it on a machine of 1.8 GiB or
	// more: off until the heap nears a soft limit of 900 MiB (GOGC and
	// GOMEMLIMIT in the environment win).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(900 << 20)
	}
	asJSON := flag.Bool("json", false, "write the JSON form (default: text)")
	cpu := flag.String("cpuprofile", "", "write a CPU profile to `file`")
	mem := flag.String("memprofile", "", "write a heap profile (in use at the peak: after the map is written) to `file`")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bmapprof [-json] [-cpuprofile F] [-memprofile F] IMAGE")
		os.Exit(2)
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	t0, c0 := time.Now(), cpuTime()
	var ds cli.Disks
	ds.Add(flag.Arg(0))
	opened, err := ds.Open(nil, func(error) {}, nil)
	check(err)
	var disks []volume.Disk
	for i, d := range opened {
		disks = append(disks, volume.Disk{Index: i + 1, Image: d.Path, R: d.R, Size: d.Img.Size()})
	}
	b := bmap.NewBuilder()
	_, err = scan.Disks(b, disks, scan.Options{Warn: func(error) {}})
	check(err)
	t1, c1 := time.Now(), cpuTime()
	write := bmap.WriteText
	if *asJSON {
		write = bmap.WriteJSON
	}
	check(write(io.Discard, b.Map()))
	t2, c2 := time.Now(), cpuTime()
	if *cpu != "" {
		pprof.StopCPUProfile()
	}
	if *mem != "" {
		f, err := os.Create(*mem)
		check(err)
		check(pprof.Lookup("allocs").WriteTo(f, 0))
		check(f.Close())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "bmapprof: scan %.3f s (CPU %.3f s), write %.3f s (CPU %.3f s); heap in use %d MiB, total allocated %d MiB, %d GCs\n",
		t1.Sub(t0).Seconds(), c1-c0, t2.Sub(t1).Seconds(), c2-c1, ms.HeapInuse>>20, ms.TotalAlloc>>20, ms.NumGC)
	cli.Close(opened)
}

// cpuTime is the process's user and system time in seconds: on a
// machine shared with other work, a steadier measure than the wall clock.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bmapprof:", err)
		os.Exit(1)
	}
}
