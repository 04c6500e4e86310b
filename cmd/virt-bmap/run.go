package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/scan"
	"github.com/virt-bmap/virt-bmap/volume"
)

const usage = `usage: virt-bmap [-o OUTPUT] [--format text|json] [-q] [-a IMAGE]... [IMAGE...]

Writes the block map of the disk images: for every byte range, the disk,
partition, LVM logical volume, filesystem metadata, directory or file that
owns it. The images are the disks of one guest, in order: disk 1, 2, ...

  -a IMAGE      add a disk image (repeatable; as the virt tools take them;
                given before any positional IMAGE)
  -o OUTPUT     output file (default "bmap"; "-" for standard output)
  --format FMT  text (default, as the original virt-bmap) or json
  -q            no progress line and no summary table
  --version     print the version and exit
`

// run is the whole command, testable: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("virt-bmap", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	output := fl.String("o", "bmap", "")
	format := fl.String("format", "text", "")
	quiet := fl.Bool("q", false, "")
	showVersion := fl.Bool("version", false, "")
	var added []string
	fl.Func("a", "", func(v string) error { added = append(added, v); return nil })
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "virt-bmap: %v\n%s", err, usage)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "virt-bmap", version)
		return 0
	}
	write, ok := writers[*format]
	if !ok {
		fmt.Fprintf(stderr, "virt-bmap: --format %q: want text or json\n", *format)
		return 2
	}
	images := append(added, fl.Args()...)
	if len(images) == 0 {
		fmt.Fprintf(stderr, "virt-bmap: no IMAGE given\n%s", usage)
		return 2
	}

	warn := func(err error) { fmt.Fprintf(stderr, "virt-bmap: warning: %v\n", err) }
	var prog *progress
	if !*quiet && isTerminal(stderr) {
		prog = &progress{w: stderr, start: time.Now()}
	}

	b := bmap.NewBuilder()
	sums, err := scanImages(b, images, warn, prog)
	prog.clear()
	if err != nil {
		fmt.Fprintf(stderr, "virt-bmap: %v\n", err)
		return 1
	}

	if err := writeMap(*output, stdout, func(w io.Writer) error { return write(w, b.Map()) }); err != nil {
		fmt.Fprintf(stderr, "virt-bmap: %v\n", err)
		return 1
	}
	if !*quiet {
		tableOut := stdout
		if *output == "-" {
			tableOut = stderr
		}
		if err := summaryTable(tableOut, sums); err != nil {
			fmt.Fprintf(stderr, "virt-bmap: summary: %v\n", err)
		}
	}
	return 0
}

var writers = map[string]func(io.Writer, *bmap.Map) error{
	"text": bmap.WriteText,
	"json": bmap.WriteJSON,
}

// scanImages opens every image (all stay open: an LVM volume group may
// span them) and scans them as the disks of one guest.
func scanImages(b *bmap.Builder, paths []string, warn func(error), prog *progress) ([]scan.Summary, error) {
	var disks []volume.Disk
	for i, path := range paths {
		img, err := image.OpenOptions(path, image.Options{
			Warn: func(msg string) { warn(fmt.Errorf("%s: %s", path, msg)) },
		})
		if err != nil {
			return nil, err
		}
		defer img.Close()
		disks = append(disks, volume.Disk{Index: i + 1, Image: path, R: img, Size: img.Size()})
	}
	opt := scan.Options{Warn: warn}
	if prog != nil {
		opt.Progress = prog.update
		prog.disk = strings.Join(paths, ", ")
	}
	return scan.Disks(b, disks, opt)
}

// writeMap writes a regular file through a temporary file renamed into
// place, so the output is either the complete map or untouched. Anything
// else that exists (/dev/null, a FIFO, a terminal) is written to directly:
// renaming over it would replace the device with a file.
func writeMap(output string, stdout io.Writer, write func(io.Writer) error) error {
	if output == "-" {
		return write(stdout)
	}
	if st, err := os.Stat(output); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(output, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", output, err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), output)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", output, err)
	}
	return nil
}

func summaryTable(w io.Writer, sums []scan.Summary) error {
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: []tw.Align{
			tw.AlignLeft, tw.AlignLeft, tw.AlignLeft, tw.AlignRight, tw.AlignLeft, tw.AlignLeft,
			tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft}}))
	t.Header("DEVICE", "SCHEME", "TYPE", "SIZE", "FILESYSTEM", "LABEL", "FILES", "DIRS", "MAPPED", "NOTE")
	for _, s := range sums {
		scheme := s.Scheme
		if scheme == "" {
			scheme = "-"
		}
		if err := t.Append(s.Device, scheme, s.PartType, humanSize(s.Size), s.FS, s.Label,
			strconv.Itoa(s.Files), strconv.Itoa(s.Dirs), humanSize(s.Bytes), s.Note); err != nil {
			return err
		}
	}
	return t.Render()
}

// humanSize prints bytes as ls -h and lsblk do: 1.5G, 512M, 900.
func humanSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + string(units[i])
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + string(units[i])
}
