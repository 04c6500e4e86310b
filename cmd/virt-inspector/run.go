package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/inspect"
	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/internal/warncap"
	"github.com/virt-bmap/virt-bmap/internal/xpath"
)

const usage = `virt-inspector: display information about a virtual machine
usage: virt-inspector [OPTION]... -a IMAGE [-a IMAGE]...
       virt-inspector --xpath QUERY < inspector.xml

Options (as libguestfs' virt-inspector; options and images in any order):
  -a, --add IMAGE        add a disk image (repeatable; also positional)
  --blocksize[=512|4096] sector size of the disks added after it (accepted:
                         the partition tables say it)
  -c, --connect URI      libvirt URI (not supported: use -a)
  -d, --domain GUEST     disks of a libvirt guest (not supported: use -a)
  --echo-keys            echo passphrases typed at the prompt
  --format[=raw|..]      input format of the disks added after it (auto or
                         no value: detect)
  --key SEL:key:PASS     unlock a LUKS container (SEL: /dev/sdXN, UUID, all);
  --key SEL:file:FILE      also SEL:file:FILE (repeatable)
  --keys-from-stdin      read one passphrase per encrypted device from stdin
  --no-applications      do not list the installed applications
  --no-icon              do not include the guest's icon
  -v, --verbose          print every warning
  -V, --version          print the version and exit
  -x                     trace every read of the disks on standard error
  --xpath QUERY          print what the XPath 1.0 query selects in the XML,
                         as xmllint --xpath does (the XML is read from
                         standard input when no disk is given); exit status
                         1 if it selects no node, 2 if it is not valid
Also:
  --xml (default), --json, --table   the output form
  --allow-backing PATH   let an image's chain open PATH outside its directory
  -q, --quiet            no warnings
  -h, --help             print this help and exit

Exit status: 0 an operating system was found; 1 bad command line, an image
that cannot be read, or no operating system found; 4 operating systems were
found, but part of the disks could not be read (see standard error).
`

const prog = "virt-inspector"

type options struct {
	disks    cli.Disks
	keys     cli.KeyOptions
	allow    []string
	xml      bool
	json     bool
	table    bool
	noApps   bool
	noIcon   bool
	quiet    bool
	verbose  bool
	trace    bool
	version  bool
	xpath    string
	hasXPath bool
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	fl := cli.NewFlagSet(prog)
	o.disks.Register(fl)
	bs := fl.VarPF(blocksizeValue{}, "blocksize", "", "")
	bs.NoOptDefVal = "512"
	var connect, domain string
	fl.StringVarP(&connect, "connect", "c", "", "")
	fl.StringVarP(&domain, "domain", "d", "", "")
	o.keys.Register(fl)
	fl.StringArrayVar(&o.allow, "allow-backing", nil, "")
	fl.BoolVar(&o.xml, "xml", false, "")
	fl.BoolVar(&o.json, "json", false, "")
	fl.BoolVar(&o.table, "table", false, "")
	fl.BoolVar(&o.noApps, "no-applications", false, "")
	fl.BoolVar(&o.noIcon, "no-icon", false, "")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "")
	fl.BoolVarP(&o.trace, "trace", "x", false, "")
	fl.BoolVarP(&o.version, "version", "V", false, "")
	fl.StringVar(&o.xpath, "xpath", "", "")
	if err := cli.Parse(fl, cli.JoinFormat(args)); err != nil {
		return nil, err
	}
	o.hasXPath = fl.Changed("xpath")
	for _, a := range fl.Args() {
		o.disks.Add(a)
	}
	switch {
	case connect != "" || domain != "":
		return nil, cli.Usagef("libvirt domains are not supported (-c, -d); give the guest's disks with -a")
	}
	n := 0
	for _, b := range []bool{o.xml, o.json, o.table} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, cli.Usagef("give at most one of --xml, --json, --table")
	}
	if o.hasXPath && (o.json || o.table) {
		return nil, cli.Usagef("--xpath runs on the XML output; it cannot be combined with --json or --table (for JSON, pipe --json into jq)")
	}
	return o, nil
}

// blocksizeValue accepts libguestfs' --blocksize: 512 or 4096.
type blocksizeValue struct{}

func (blocksizeValue) String() string { return "" }
func (blocksizeValue) Type() string   { return "SIZE" }
func (blocksizeValue) Set(s string) error {
	if s != "512" && s != "4096" {
		return fmt.Errorf("want 512 or 4096")
	}
	return nil
}

// Exit statuses.
const (
	statusOK      = 0
	statusError   = 1
	statusDamaged = 4
)

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, cli.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return statusOK
	}
	if err != nil {
		return cli.Fail(stderr, prog, err)
	}
	if o.version {
		fmt.Fprintln(stdout, prog, version)
		return statusOK
	}
	var expr *xpath.Expr
	if o.hasXPath {
		if expr, err = xpath.Compile(o.xpath); err != nil {
			fmt.Fprintf(stderr, "%s: --xpath: %v\n", prog, err)
			return 2
		}
		if len(o.disks.List) == 0 {
			// libguestfs: virt-inspector -a d.img | virt-inspector --xpath //hostname
			return queryStdin(expr, stdin, stdout, stderr, o.quiet)
		}
	}
	if len(o.disks.List) == 0 {
		return cli.Fail(stderr, prog, cli.Usagef("no disk image given (-a IMAGE)"))
	}
	limit := warncap.DefaultMax
	if o.verbose {
		limit = -1
	}
	var out io.Writer = stderr
	if o.quiet {
		out = io.Discard
	}
	warns := warncap.New(out, prog+": warning: ", limit)
	var trace io.Writer
	if o.trace {
		trace = stderr
	}
	opened, err := o.disks.Open(o.allow, warns.Warn, trace)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return statusError
	}
	defer cli.Close(opened)
	var disks []inspect.Disk
	for _, d := range opened {
		disks = append(disks, inspect.Disk{Name: d.Path, R: d.R, Size: d.Img.Size()})
	}
	res, err := inspect.InspectOptions(disks, inspect.Options{Warn: warns.Warn, NoApplications: o.noApps,
		NoIcon: o.noIcon, Keys: o.keys.Keys(stdin, stderr)})
	warns.Flush()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return statusError
	}
	status := statusOK
	if expr != nil {
		status = query(expr, res, !o.noApps, stdout, stderr, o.quiet)
	} else {
		switch {
		case o.json:
			err = writeJSON(stdout, res)
		case o.table:
			err = writeTable(stdout, res)
		default:
			err = writeXML(stdout, res, !o.noApps)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return statusError
		}
	}
	if len(res.OperatingSystems) == 0 {
		// What could not be read may be where the OS is: a LUKS volume
		// without its key is the usual case, so it is said here too.
		if len(res.Problems) > 0 {
			fmt.Fprintf(stderr, "%s: no operating system was found on the disk(s); these devices could not be read:\n", prog)
			printProblems(stderr, res.Problems)
		} else {
			fmt.Fprintf(stderr, "%s: no operating system was found on the disk(s)\n", prog)
		}
		return max(status, statusError)
	}
	if len(res.Problems) > 0 {
		// Said even with -q, as virt-bmap does.
		fmt.Fprintf(stderr, "%s: part of the disks could not be read; the facts come from the rest:\n", prog)
		printProblems(stderr, res.Problems)
		if status == statusOK {
			return statusDamaged
		}
	}
	return status
}

func printProblems(w io.Writer, problems []inspect.Problem) {
	for _, p := range problems {
		fmt.Fprintf(w, "  %s: %s\n", p.Device, p.Reason)
	}
}

func writeJSON(w io.Writer, res *inspect.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
