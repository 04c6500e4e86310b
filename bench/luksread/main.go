// Command luksread is the reader side of bench/luks.sh: it unlocks a LUKS
// volume through volume/luks with the passphrase in a file, reads the
// payload in sequential reads and writes it to standard output (or
// discards it with -null).
//
//	luksread [-null] [-bs 1048576] PASSFILE IMAGE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/virt-bmap/virt-bmap/volume/luks"
)

func main() {
	null := flag.Bool("null", false, "discard the bytes instead of writing them to stdout")
	bs := flag.Int("bs", 1<<20, "read size in bytes")
	flag.Parse()
	if flag.NArg() != 2 || *bs <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := read(flag.Arg(0), flag.Arg(1), *bs, *null); err != nil {
		fmt.Fprintln(os.Stderr, "luksread:", err)
		os.Exit(1)
	}
}

func read(passFile, path string, bs int, null bool) error {
	pass, err := os.ReadFile(passFile)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h, err := luks.ReadHeader(f, st.Size())
	if err != nil {
		return err
	}
	v, err := h.Unlock(f, st.Size(), pass)
	if err != nil {
		return err
	}
	var w io.Writer = io.Discard
	if !null {
		bw := bufio.NewWriterSize(os.Stdout, 1<<20)
		defer bw.Flush()
		w = bw
	}
	buf := make([]byte, bs)
	for off := int64(0); off < v.Size(); off += int64(bs) {
		n, err := v.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}
