package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/internal/warncap"
	"github.com/virt-bmap/virt-bmap/scan"
	"github.com/virt-bmap/virt-bmap/volume"
)

const usage = `usage: virt-bmap [OPTION]... [-a] IMAGE...

Writes the block map of the disk images: for every byte range, the disk,
partition, LVM logical volume, filesystem metadata, directory or file that
owns it. The images are the disks of one guest, in order: disk 1, 2, ...
Options and images may come in any order; "--" ends the options.

  -a, --add IMAGE        add a disk image (repeatable; also positional)
      --format[=FMT]     input format of the disks added after it (raw, xz,
                         qcow2, ...; auto or no value: detect, the default)
  -o, --output FILE      output file (default "bmap"; "-" for standard output);
                         a name ending in .json selects the JSON form
      --json             write the JSON form (objects with all their extents,
                         and a status per filesystem)
      --text             write the text form of the original virt-bmap (default)
      --key SEL:key:PASS unlock a LUKS container (SEL: /dev/sdXN, UUID, or all);
      --key SEL:file:F     also SEL:file:FILE (repeatable)
      --keys-from-stdin  read one passphrase per encrypted device from stdin
      --echo-keys        echo passphrases typed at the prompt
      --allow-backing PATH  let an image's chain open PATH (a backing or parent
                         file outside the image's directory; repeatable)
  -q, --quiet            no progress line and no summary table (problems are
                         still summed up on standard error)
  -v, --verbose          print every warning (default: the first 5 of each kind)
  -x                     trace every read of the images on standard error
  -V, --version          print the version and exit
  -h, --help             print this help and exit

Exit status: 0 when everything was mapped; 4 when the map was written but
part of the disks could not be mapped (a damaged, unknown or locked
filesystem: see the summary on standard error); 1 for a bad command line or
when no map could be made.
`

// Exit statuses.
const (
	statusOK       = 0
	statusError    = 1
	statusUnmapped = 4
)

type options struct {
	disks   cli.Disks
	output  string
	json    bool
	text    bool
	legacy  string // --format json|text, the old spelling of the output form
	keys    cli.KeyOptions
	allow   []string
	quiet   bool
	verbose bool
	trace   bool
	version bool
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	fl := cli.NewFlagSet("virt-bmap")
	o.disks.Register(fl)
	o.disks.Legacy = func(v string) bool {
		if v == "json" || v == "text" {
			o.legacy = v
			return true
		}
		return false
	}
	fl.StringVarP(&o.output, "output", "o", "bmap", "")
	fl.BoolVar(&o.json, "json", false, "")
	fl.BoolVar(&o.text, "text", false, "")
	o.keys.Register(fl)
	fl.StringArrayVar(&o.allow, "allow-backing", nil, "")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "")
	fl.BoolVarP(&o.trace, "trace", "x", false, "")
	fl.BoolVarP(&o.version, "version", "V", false, "")
	if err := cli.Parse(fl, cli.JoinFormat(args)); err != nil {
		return nil, err
	}
	for _, a := range fl.Args() {
		o.disks.Add(a)
	}
	if o.json && o.text {
		return nil, cli.Usagef("--json and --text are exclusive")
	}
	return o, nil
}

// form decides the output form: --json/--text, then the old --format
// json|text, then -o's extension.
func (o *options) form() string {
	switch {
	case o.json:
		return "json"
	case o.text:
		return "text"
	case o.legacy != "":
		return o.legacy
	case strings.HasSuffix(strings.ToLower(o.output), ".json"):
		return "json"
	}
	return "text"
}

// run is the whole command, testable: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, cli.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return statusOK
	}
	if err != nil {
		return cli.Fail(stderr, "virt-bmap", err)
	}
	if o.version {
		fmt.Fprintln(stdout, "virt-bmap", version)
		return statusOK
	}
	if len(o.disks.List) == 0 {
		return cli.Fail(stderr, "virt-bmap", cli.Usagef("no disk image given"))
	}
	if o.legacy != "" {
		fmt.Fprintf(stderr, "virt-bmap: warning: --format %s names the output form; --format is the input format now (as in the original virt-bmap and libguestfs): use --%s\n", o.legacy, o.legacy)
	}
	max := warncap.DefaultMax
	if o.verbose {
		max = -1
	}
	warns := warncap.New(stderr, "virt-bmap: warning: ", max)
	var prog *progress
	if !o.quiet && isTerminal(stderr) {
		prog = &progress{w: stderr, start: time.Now()}
	}
	b := bmap.NewBuilder()
	sums, err := scanImages(b, o, stdin, stderr, warns.Warn, prog)
	prog.clear()
	warns.Flush()
	if err != nil {
		fmt.Fprintf(stderr, "virt-bmap: %v\n", err)
		return statusError
	}
	write := writers[o.form()]
	if err := writeMap(o.output, stdout, func(w io.Writer) error { return write(w, b.Map()) }); err != nil {
		fmt.Fprintf(stderr, "virt-bmap: %v\n", err)
		return statusError
	}
	if !o.quiet {
		tableOut := stdout
		if o.output == "-" {
			tableOut = stderr
		}
		if err := summaryTable(tableOut, sums); err != nil {
			fmt.Fprintf(stderr, "virt-bmap: summary: %v\n", err)
		}
	}
	if unmappedSummary(stderr, sums) {
		return statusUnmapped
	}
	return statusOK
}

// unmappedSummary says on w, even with -q, which devices were not fully
// mapped and why, and reports whether there were any.
func unmappedSummary(w io.Writer, sums []scan.Summary) bool {
	var bad []scan.Summary
	for _, s := range sums {
		if s.Status.Unmapped() {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		return false
	}
	fmt.Fprintf(w, "virt-bmap: %d of %d volumes not fully mapped:\n", len(bad), len(sums))
	for _, s := range bad {
		fmt.Fprintf(w, "  %s\n", s.Unmapped())
	}
	return true
}

var writers = map[string]func(io.Writer, *bmap.Map) error{
	"text": bmap.WriteText,
	"json": bmap.WriteJSON,
}

// scanImages opens every image (all stay open: an LVM volume group may
// span them) and scans them as the disks of one guest.
func scanImages(b *bmap.Builder, o *options, stdin io.Reader, stderr io.Writer, warn func(error), prog *progress) ([]scan.Summary, error) {
	var trace io.Writer
	if o.trace {
		trace = stderr
	}
	opened, err := o.disks.Open(o.allow, warn, trace)
	if err != nil {
		return nil, err
	}
	defer cli.Close(opened)
	var disks []volume.Disk
	var paths []string
	for i, d := range opened {
		disks = append(disks, volume.Disk{Index: i + 1, Image: d.Path, R: d.R, Size: d.Img.Size()})
		if !slices.Contains(paths, d.Path) {
			paths = append(paths, d.Path)
		}
	}
	opt := scan.Options{Warn: warn, Keys: o.keys.Keys(stdin, stderr)}
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
		// Name the path given, not the temporary file's pattern.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot create %s: %w", output, err)
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
