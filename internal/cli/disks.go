package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"github.com/virt-bmap/virt-bmap/image"
)

// Disk is one disk named on the command line, with the input format in
// force where it was named ("" to detect it from its content).
type Disk struct {
	Path   string
	Format string
}

// Disks collects the disks of a command line as libguestfs does: -a/--add
// adds a disk, --format=FMT sets the input format of the disks added after
// it, --format (no value) or --format=auto goes back to detection.
// Positional arguments (for the tools whose disks are positional) are added
// with Add, with the format in force at the end.
type Disks struct {
	List   []Disk
	format string
	// Formats are the accepted --format values (besides auto); nil means
	// image.FormatNames().
	Formats []string
	// Legacy, when set, may claim a --format value that is not an input
	// format (virt-bmap's old --format json): it returns true if it did.
	Legacy func(value string) bool
}

// Register adds -a/--add and --format to fl.
func (d *Disks) Register(fl *pflag.FlagSet) {
	fl.VarP((*addValue)(d), "add", "a", "add a disk image (repeatable)")
	f := fl.VarPF((*formatValue)(d), "format", "", "input format of the following -a disks")
	f.NoOptDefVal = "auto"
}

// Add adds a disk named positionally.
func (d *Disks) Add(path string) { d.List = append(d.List, Disk{Path: path, Format: d.format}) }

type addValue Disks

func (v *addValue) String() string { return "" }
func (v *addValue) Type() string   { return "IMAGE" }
func (v *addValue) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty file name")
	}
	(*Disks)(v).Add(s)
	return nil
}

type formatValue Disks

func (v *formatValue) String() string { return v.format }
func (v *formatValue) Type() string   { return "FORMAT" }
func (v *formatValue) Set(s string) error {
	if s == "auto" || s == "" {
		v.format = ""
		return nil
	}
	if v.Legacy != nil && v.Legacy(s) {
		return nil
	}
	if v.Formats != nil && !slices.Contains(v.Formats, s) || v.Formats == nil && !image.IsFormatName(s) {
		formats := v.Formats
		if formats == nil {
			formats = image.FormatNames()
		}
		return fmt.Errorf("unknown input format (want auto, %s)", strings.Join(formats, ", "))
	}
	v.format = s
	return nil
}

// JoinFormat rewrites "--format VALUE" into "--format=VALUE" when VALUE is
// a format name (an input format image.IsFormatName knows, auto, or
// virt-bmap's old output forms json and text), before "--": getopt takes an
// optional argument only after "=", but scripts written for tools that
// required the argument put a space.
func JoinFormat(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if v := args[i+1:]; a == "--format" && len(v) > 0 && (image.IsFormatName(v[0]) || v[0] == "auto" || v[0] == "json" || v[0] == "text") {
			out = append(out, "--format="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// Opened is one disk of the guest, opened: an OVA gives several.
type Opened struct {
	Path string       // as named on the command line
	Img  *image.Image // closed by Close
	R    io.ReaderAt  // Img, or a tracing wrapper of it (-x)
}

// Open opens every disk of the list (image.OpenAll: an OVA's disks are
// disks of the guest) with the user's backing allowances, passing the
// images' notices to warn. With trace set, each disk's reads are printed
// there (-x), as "read diskN OFF LEN". On error, what was opened is closed.
func (d *Disks) Open(allow []string, warn func(error), trace io.Writer) ([]Opened, error) {
	var out []Opened
	var mu sync.Mutex
	for _, disk := range d.List {
		path := disk.Path
		imgs, err := image.OpenAll(path, image.Options{Format: disk.Format, AllowBacking: allow,
			Warn: func(msg string) { warn(fmt.Errorf("%s: %s", path, msg)) }})
		if err != nil {
			Close(out)
			return nil, err
		}
		for _, img := range imgs {
			var r io.ReaderAt = img
			if trace != nil {
				r = Trace(img, fmt.Sprintf("disk%d", len(out)+1), trace, &mu)
			}
			out = append(out, Opened{Path: path, Img: img, R: r})
		}
	}
	return out, nil
}

// Close closes every image of ds.
func Close(ds []Opened) {
	for _, d := range ds {
		d.Img.Close()
	}
}
