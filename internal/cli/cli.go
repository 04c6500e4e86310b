// Package cli is what the three commands share on their command lines, so
// that they take options as libguestfs' virt tools, the original virt-bmap
// and nbdkit do (GNU getopt_long): options anywhere among the arguments,
// "--" to end them, --opt=value and --opt value, bundled short options,
// and GNU-style messages with exit status 1 for a bad command line:
//
//	virt-bmap: unrecognized option '--foo'
//	Try 'virt-bmap --help' for more information.
//
// Parsing is github.com/spf13/pflag's; this package only turns its errors
// into getopt's wording, and holds the options whose meaning is shared:
// the disks with libguestfs' positional --format (Disks), the LUKS keys
// (KeyOptions) and -x, which traces what is read (Trace).
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// UsageStatus is the exit status for a bad command line, as the virt
// tools and nbdkit use.
const UsageStatus = 1

// NewFlagSet returns a flag set that parses as getopt_long does and
// prints nothing itself.
func NewFlagSet(prog string) *pflag.FlagSet {
	fl := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.SetInterspersed(true)
	fl.SortFlags = false
	fl.Usage = func() {}
	return fl
}

// ErrHelp is returned by Parse for -h or --help.
var ErrHelp = pflag.ErrHelp

// UsageError is a bad command line, worded as getopt words it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// Parse parses args. It returns ErrHelp for --help, or a *UsageError.
func Parse(fl *pflag.FlagSet, args []string) error {
	err := fl.Parse(args)
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return err
	}
	var ne *pflag.NotExistError
	var vr *pflag.ValueRequiredError
	var iv *pflag.InvalidValueError
	var is *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &ne):
		if s := ne.GetSpecifiedShortnames(); s != "" {
			return Usagef("invalid option -- '%s'", ne.GetSpecifiedName())
		}
		return Usagef("unrecognized option '--%s'", ne.GetSpecifiedName())
	case errors.As(err, &vr):
		if vr.GetSpecifiedShortnames() != "" {
			return Usagef("option requires an argument -- '%s'", vr.GetSpecifiedName())
		}
		return Usagef("option '--%s' requires an argument", vr.GetSpecifiedName())
	case errors.As(err, &iv):
		name := "--" + iv.GetFlag().Name
		msg := err.Error()
		if u := errors.Unwrap(iv); u != nil {
			msg = u.Error()
		}
		if iv.GetFlag().Value.Type() == "KEY" { // never echo a secret
			return Usagef("%s: %s", name, msg)
		}
		return Usagef("%s %q: %s", name, iv.GetValue(), msg)
	case errors.As(err, &is):
		return Usagef("bad option syntax '%s'", is.GetSpecifiedFlag())
	}
	msg := err.Error()
	// pflag's own wording for a value given to a boolean, among others.
	if strings.Contains(msg, "bool flag") {
		return Usagef("%s", msg)
	}
	return Usagef("%s", msg)
}

// Fail prints a usage error as getopt's callers do and returns
// UsageStatus.
func Fail(stderr io.Writer, prog string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nTry '%s --help' for more information.\n", prog, err, prog)
	return UsageStatus
}
