package cli

import (
	"fmt"
	"slices"
	"strings"

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
	formats := v.Formats
	if formats == nil {
		formats = image.FormatNames()
	}
	if !slices.Contains(formats, s) {
		return fmt.Errorf("unknown input format (want auto, %s)", strings.Join(formats, ", "))
	}
	v.format = s
	return nil
}

// knownFormats are the values "--format VALUE" (with a space) is read
// with: getopt takes an optional argument only after "=", but scripts
// written for tools that required the argument put a space; a value that
// is a format name is taken as the argument.
var knownFormats = map[string]bool{
	"auto": true, "raw": true, "xz": true, "qcow2": true, "vmdk": true, "vpc": true, "vhd": true,
	"vhdx": true, "vdi": true, "ova": true, "json": true, "text": true,
}

// JoinFormat rewrites "--format VALUE" into "--format=VALUE" when VALUE is
// a format name (see knownFormats), before "--".
func JoinFormat(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "--format" && i+1 < len(args) && knownFormats[args[i+1]] {
			out = append(out, "--format="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}
