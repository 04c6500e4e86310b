// Command vmdkread is the reader side of bench/vmdk.sh: it opens an image
// through the image package (detected by content, so a VMDK goes through
// image/vmdk with its extent files and parents), reads it as a guest
// would, in sequential reads of -bs bytes, and writes the bytes to
// standard output (or discards them with -null).
//
//	vmdkread [-null] [-bs 1048576] IMAGE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/virt-bmap/virt-bmap/image"
)

func main() {
	null := flag.Bool("null", false, "discard the bytes instead of writing them to stdout")
	bs := flag.Int("bs", 1<<20, "read size in bytes")
	flag.Parse()
	if flag.NArg() != 1 || *bs <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := read(flag.Arg(0), *bs, *null); err != nil {
		fmt.Fprintln(os.Stderr, "vmdkread:", err)
		os.Exit(1)
	}
}

func read(path string, bs int, null bool) error {
	img, err := image.Open(path)
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
