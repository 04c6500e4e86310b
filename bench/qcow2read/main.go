// Command qcow2read is the reader side of bench/qcow2.sh: it reads a qcow2
// image through image/qcow2 as a guest would, in 1 MiB sequential reads,
// and writes the bytes to standard output (or discards them with -null),
// and it makes the benchmark's deterministic raw source disk.
//
//	qcow2read [-null] [-bs 1048576] IMAGE.qcow2   # read the whole disk
//	qcow2read -gen SIZE_MIB OUT.raw                # make the source disk
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/virt-bmap/virt-bmap/image/qcow2"
)

func main() {
	null := flag.Bool("null", false, "discard the bytes instead of writing them to stdout")
	bs := flag.Int("bs", 1<<20, "read size in bytes")
	gen := flag.Int("gen", 0, "make a source disk of this many MiB at the path given")
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	if *gen > 0 {
		err = generate(flag.Arg(0), int64(*gen)<<20)
	} else {
		err = read(flag.Arg(0), *bs, *null)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "qcow2read:", err)
		os.Exit(1)
	}
}

func read(path string, bs int, null bool) error {
	img, err := qcow2.Open(path)
	if err != nil {
		return err
	}
	defer img.Close()
	var w io.Writer = io.Discard
	if !null {
		bw := bufio.NewWriterSize(os.Stdout, 1<<20)
		defer bw.Flush()
		w = bw
	}
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
	return nil
}

// generate writes a disk that looks like a used one to a compressor: a
// third incompressible (random) data, a third text-like data that
// compresses about 3-5x, and a third zeros, in runs of 4 KiB to 4 MiB.
func generate(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	rng := rand.New(rand.NewPCG(2026, 11))
	words := bytes.Fields([]byte("the quick brown fox jumps over a lazy dog while the kernel " +
		"loads modules from /lib/modules and systemd starts units; usr bin sbin etc var log " +
		"0 1 2 3 4 5 6 7 8 9 error warning info debug package version installed"))
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		n := min(size-off, 4096*(1+rng.Int64N(1024)))
		b := buf[:n]
		switch rng.IntN(3) {
		case 0:
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 1:
			for i := 0; i < len(b); {
				w := words[rng.IntN(len(words))]
				i += copy(b[i:], w)
				if i < len(b) {
					b[i] = " \n"[rng.IntN(2)]
					i++
				}
			}
		case 2:
			off += n
			continue
		}
		if _, err := f.WriteAt(b, off); err != nil {
			f.Close()
			return err
		}
		off += n
	}
	return f.Close()
}
