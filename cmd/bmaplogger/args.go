package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/nbd"
	"github.com/virt-bmap/virt-bmap/volume"
)

// config is the parsed command line.
type config struct {
	images     []string
	bmap       string
	ranges     bool
	json       string
	reports    []string // --report FILE, repeatable
	log        string
	noTrace    bool
	quiet      bool
	unix       string
	port       int
	addr       string
	tls        nbd.TLSMode
	tlsCerts   string
	tlsVerify  bool
	run        string
	exportName string
	keys       volume.Keys // --key, --keys-from-stdin
	version    bool
	help       bool
}

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// listFlag is a repeatable string option.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

func (f *listFlag) Set(s string) error {
	if s == "" {
		return errors.New("empty file name")
	}
	*f = append(*f, s)
	return nil
}

type tlsFlag struct{ mode *nbd.TLSMode }

func (f tlsFlag) String() string {
	if f.mode == nil {
		return "off"
	}
	return f.mode.String()
}

func (f tlsFlag) Set(s string) error {
	switch s {
	case "off", "false", "no":
		*f.mode = nbd.TLSOff
	case "on", "true", "yes":
		*f.mode = nbd.TLSOn
	case "require":
		*f.mode = nbd.TLSRequire
	default:
		return fmt.Errorf("want off, on or require")
	}
	return nil
}

// parseArgs reads the command line. Options and images may come in any
// order (flag stops at the first non-option: parsing restarts after each
// one); "--" ends the options. The original plugin's key=value parameters
// (file=, bmap=, logfile=) are accepted as well.
func parseArgs(args []string) (*config, error) {
	c := &config{}
	fl := flag.NewFlagSet("bmaplogger", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&c.bmap, "bmap", "", "")
	fl.BoolVar(&c.ranges, "ranges", false, "")
	fl.StringVar(&c.json, "json", "", "")
	fl.Var((*listFlag)(&c.reports), "report", "")
	fl.StringVar(&c.log, "log", "", "")
	fl.BoolVar(&c.noTrace, "no-trace", false, "")
	fl.BoolVar(&c.quiet, "q", false, "")
	fl.BoolVar(&c.quiet, "quiet", false, "")
	fl.StringVar(&c.unix, "U", "", "")
	fl.StringVar(&c.unix, "unix", "", "")
	port := ""
	fl.StringVar(&port, "p", "", "")
	fl.StringVar(&port, "port", "", "")
	fl.StringVar(&c.addr, "i", "", "")
	fl.StringVar(&c.addr, "ipaddr", "", "")
	fl.Var(tlsFlag{&c.tls}, "tls", "")
	fl.StringVar(&c.tlsCerts, "tls-certificates", "", "")
	fl.BoolVar(&c.tlsVerify, "tls-verify-peer", false, "")
	fl.StringVar(&c.run, "run", "", "")
	fl.StringVar(&c.exportName, "e", "", "")
	fl.StringVar(&c.exportName, "export-name", "", "")
	fl.BoolVar(&c.version, "version", false, "")
	fl.BoolVar(&c.version, "V", false, "")
	// nbdkit's -f (foreground) and -r (read-only), as the original's
	// command line used them: bmaplogger always does both.
	fl.Bool("f", false, "")
	fl.Bool("foreground", false, "")
	fl.Bool("r", false, "")
	fl.Bool("readonly", false, "")

	var pos []string
	for len(args) > 0 {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help = true
				return c, nil
			}
			return nil, usagef("%v", err)
		}
		rest := fl.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...) // "--" ends the options
			break
		}
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
		args = rest
	}
	for _, a := range pos {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case ok && k == "file":
			c.images = append(c.images, v)
		case ok && k == "bmap":
			c.bmap = v
		case ok && k == "logfile":
			c.log = v
		case ok && !strings.ContainsAny(k, "/.") && k != "" && isKey(k):
			return nil, usagef("unknown parameter %q (the original plugin's are file=, bmap=, logfile=)", a)
		default:
			c.images = append(c.images, a)
		}
	}
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, usagef("-p %q: want a TCP port number", port)
		}
		c.port = p
		if p == 0 {
			c.port = -1 // "any free port"
		}
	}
	return c, nil
}

// isKey says whether k looks like a parameter name (letters, digits, '-',
// '_'), not part of a file name.
func isKey(k string) bool {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
