package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/nbd"
	"github.com/virt-bmap/virt-bmap/volume"
)

// config is the parsed command line.
type config struct {
	images     []string
	formats    []string // input format of each image ("" to detect), positional as libguestfs'
	bmap       string
	ranges     bool
	json       string
	reports    []string // --report FILE, repeatable
	log        string
	noTrace    bool
	quiet      bool
	verbose    bool
	unix       string
	port       int
	addr       string
	tls        nbd.TLSMode
	tlsCerts   string
	tlsVerify  bool
	run        string
	exportName string
	printURI   bool
	pidFile    string
	threads    int
	keys       volume.Keys // --key, --keys-from-stdin
	keyOpts    cli.KeyOptions
	allow      []string // --allow-backing
	dumpConfig bool
	notes      []string // said at start: --filter explanations
	version    bool
	help       bool
}

type tlsFlag struct{ mode *nbd.TLSMode }

func (f tlsFlag) String() string {
	if f.mode == nil {
		return "off"
	}
	return f.mode.String()
}

func (f tlsFlag) Type() string { return "MODE" }

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

// filterValue explains nbdkit's --filter: what the filters nbdkit users
// put before the bmaplogger plugin do is built in.
type filterValue struct{ notes *[]string }

func (f filterValue) String() string { return "" }
func (f filterValue) Type() string   { return "FILTER" }
func (f filterValue) Set(s string) error {
	switch s {
	case "xz":
		*f.notes = append(*f.notes, "--filter=xz: not needed, xz images are read directly (random access, nothing unpacked)")
	case "log":
		*f.notes = append(*f.notes, "--filter=log: not needed, the trace is built in (--json FILE logs every request)")
	case "readahead", "cache", "cow":
		*f.notes = append(*f.notes, "--filter="+s+": not needed, ignored")
	default:
		return fmt.Errorf("nbdkit filters are not supported by bmaplogger (xz and log are built in)")
	}
	return nil
}

// parseArgs reads the command line as nbdkit and getopt_long do: options
// and images in any order, "--" ends the options. The original plugin's
// key=value parameters (file=, bmap=, logfile=) are accepted as well.
func parseArgs(args []string) (*config, error) {
	c := &config{}
	fl := cli.NewFlagSet("bmaplogger")
	var disks cli.Disks
	disks.Register(fl)
	fl.StringVar(&c.bmap, "bmap", "", "")
	fl.BoolVar(&c.ranges, "ranges", false, "")
	fl.StringVar(&c.json, "json", "", "")
	fl.StringArrayVar(&c.reports, "report", nil, "")
	fl.StringVar(&c.log, "log", "", "")
	fl.BoolVar(&c.noTrace, "no-trace", false, "")
	fl.BoolVarP(&c.quiet, "quiet", "q", false, "")
	fl.BoolVarP(&c.verbose, "verbose", "v", false, "")
	fl.StringVarP(&c.unix, "unix", "U", "", "")
	port := ""
	fl.StringVarP(&port, "port", "p", "", "")
	fl.StringVarP(&c.addr, "ipaddr", "i", "", "")
	fl.Var(tlsFlag{&c.tls}, "tls", "")
	fl.StringVar(&c.tlsCerts, "tls-certificates", "", "")
	fl.BoolVar(&c.tlsVerify, "tls-verify-peer", false, "")
	fl.StringVar(&c.run, "run", "", "")
	fl.StringVarP(&c.exportName, "exportname", "e", "", "")
	fl.StringVar(&c.exportName, "export-name", "", "")
	fl.BoolVar(&c.printURI, "print-uri", false, "")
	fl.StringVarP(&c.pidFile, "pidfile", "P", "", "")
	fl.IntVarP(&c.threads, "threads", "t", 0, "")
	c.keyOpts.Register(fl)
	fl.StringArrayVar(&c.allow, "allow-backing", nil, "")
	fl.BoolVar(&c.dumpConfig, "dump-config", false, "")
	fl.BoolVarP(&c.version, "version", "V", false, "")
	var notes []string
	fl.Var(filterValue{&notes}, "filter", "")
	// nbdkit's -f (foreground), -r (read-only) and -n (newstyle), as the
	// original's command lines used them: bmaplogger always does all three.
	fl.BoolP("foreground", "f", false, "")
	fl.BoolP("readonly", "r", false, "")
	fl.BoolP("newstyle", "n", false, "")
	oldstyle := fl.BoolP("oldstyle", "o", false, "")
	if err := cli.Parse(fl, cli.JoinFormat(args)); err != nil {
		if errors.Is(err, cli.ErrHelp) {
			c.help = true
			return c, nil
		}
		return nil, err
	}
	if *oldstyle {
		return nil, cli.Usagef("-o/--oldstyle: the oldstyle NBD protocol is not served (every client since 2012 speaks newstyle)")
	}
	c.notes = notes
	for _, a := range fl.Args() {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case ok && k == "file":
			disks.Add(v)
		case ok && k == "bmap":
			c.bmap = v
		case ok && k == "logfile":
			c.log = v
		case ok && !strings.ContainsAny(k, "/.") && k != "" && isKey(k):
			return nil, cli.Usagef("unknown parameter %q (the original plugin's are file=, bmap=, logfile=)", a)
		default:
			disks.Add(a)
		}
	}
	for _, d := range disks.List {
		c.images = append(c.images, d.Path)
		c.formats = append(c.formats, d.Format)
	}
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, cli.Usagef("-p %q: want a TCP port number", port)
		}
		c.port = p
		if p == 0 {
			c.port = -1 // "any free port"
		}
	}
	if c.threads < 0 {
		return nil, cli.Usagef("-t %d: want a number of threads >= 0", c.threads)
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
