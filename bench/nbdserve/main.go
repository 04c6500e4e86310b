// Command nbdserve serves one file read-only over NBD with package nbd,
// tracing off, for bench/nbd.sh: the same job as `nbdkit file` and
// `qemu-nbd -r`. With -image the file is opened through image.Open
// (raw, qcow2 or xz, detected), for bench/xz.sh: the job of
// `nbdkit file --filter=xz`.
//
//	nbdserve [-U PATH|-] [-p PORT] [-image] [-cpuprofile FILE] [--run CMD] FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/nbd"
)

func main() {
	unix := flag.String("U", "-", "Unix socket path, or - for a private temporary one")
	port := flag.Int("p", 0, "TCP port instead of a Unix socket")
	run := flag.String("run", "", "captive mode: run this command, then exit with its status")
	inflight := flag.Int("inflight", 0, "requests in flight per connection (0: default)")
	img := flag.Bool("image", false, "open FILE with image.Open (raw, qcow2, xz) instead of as a raw file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the serving to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: nbdserve [-U PATH|-] [-p PORT] [-image] [--run CMD] FILE")
		os.Exit(2)
	}
	var src nbd.Source
	var err error
	if *img {
		src, err = image.Open(flag.Arg(0))
	} else {
		src, err = nbd.OpenFile(flag.Arg(0))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbdserve:", err)
		os.Exit(1)
	}
	cfg := nbd.ListenConfig{Unix: *unix}
	if *port != 0 {
		cfg = nbd.ListenConfig{Port: *port}
	}
	l, ep, cleanup, err := nbd.Listen(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbdserve:", err)
		os.Exit(1)
	}
	defer cleanup()
	s := &nbd.Server{
		Exports:     []nbd.Export{{Source: src}},
		MaxInFlight: *inflight,
		Logf:        func(format string, args ...any) { fmt.Fprintf(os.Stderr, "nbdserve: "+format+"\n", args...) },
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nbdserve:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile() // when serving until killed, use --run
	}
	go s.Serve(l)
	if *run == "" {
		fmt.Println(ep.URI)
		select {}
	}
	status, err := nbd.RunCaptive(context.Background(), *run, ep, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbdserve:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.Shutdown(ctx)
	cancel()
	cleanup()
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	os.Exit(status)
}
