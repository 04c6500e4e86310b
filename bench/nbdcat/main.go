// Command nbdcat reads a whole NBD export with nbd/client, the way nbdcopy
// URI null: does with libnbd, for bench/nbdclient.sh: -requests requests of
// -request-size bytes in flight on one connection, the data discarded. It
// prints the bytes read and the wall time in seconds.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/virt-bmap/virt-bmap/nbd/client"
)

func main() {
	requests := flag.Int("requests", 64, "requests in flight")
	size := flag.Int64("request-size", 256<<10, "bytes per request")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: nbdcat [-requests N] [-request-size BYTES] URI")
		os.Exit(2)
	}
	c, err := client.Dial(flag.Arg(0), client.Options{CacheSize: -1, MaxInFlight: *requests})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbdcat:", err)
		os.Exit(1)
	}
	defer c.Close()
	start := time.Now()
	var next, total atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range *requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, *size)
			for {
				off := next.Add(*size) - *size
				if off >= c.Size() {
					return
				}
				n, err := c.ReadAt(buf[:min(*size, c.Size()-off)], off)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "nbdcat:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.6f\n", total.Load(), time.Since(start).Seconds())
}
