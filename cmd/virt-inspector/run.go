package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/inspect"
	"github.com/virt-bmap/virt-bmap/internal/xpath"
)

const usage = `usage: virt-inspector [-a IMAGE]... [--format raw|xz|qcow2|auto] [--xml|--json|--table|-x EXPR]
                      [--no-applications] [--no-icon] [-q] [IMAGE]...
  -x EXPR, --xpath EXPR  print what the XPath 1.0 expression gives on the XML output, as
                         xmllint --xpath does; exit status 1 if it selects no node, 2 if
                         it is not valid
`

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("virt-inspector", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	format := fl.String("format", "auto", "")
	asXML := fl.Bool("xml", false, "")
	asJSON := fl.Bool("json", false, "")
	asTable := fl.Bool("table", false, "")
	noApps := fl.Bool("no-applications", false, "")
	noIcon := fl.Bool("no-icon", false, "")
	quiet := fl.Bool("q", false, "")
	showVersion := fl.Bool("version", false, "")
	var added []string
	fl.Func("a", "", func(v string) error { added = append(added, v); return nil })
	fl.Func("add", "", func(v string) error { added = append(added, v); return nil })
	var xpathSrc *string
	setXPath := func(v string) error { xpathSrc = &v; return nil }
	fl.Func("x", "", setXPath)
	fl.Func("xpath", "", setXPath)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "virt-inspector: %v\n%s", err, usage)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "virt-inspector", version)
		return 0
	}
	n := 0
	for _, b := range []bool{*asXML, *asJSON, *asTable} {
		if b {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintf(stderr, "virt-inspector: give at most one of --xml, --json, --table\n")
		return 2
	}
	var expr *xpath.Expr
	if xpathSrc != nil {
		// The query runs on the XML document: JSON has other names and
		// structure, and a table is no document at all.
		if *asJSON || *asTable {
			fmt.Fprintf(stderr, "virt-inspector: -x runs on the XML output; it cannot be combined with --json or --table (for JSON, pipe --json into jq)\n")
			return 2
		}
		var err error
		if expr, err = xpath.Compile(*xpathSrc); err != nil {
			fmt.Fprintf(stderr, "virt-inspector: -x: %v\n", err)
			return 2
		}
	}
	switch *format {
	case "auto", "raw", "xz", "qcow2":
	default:
		fmt.Fprintf(stderr, "virt-inspector: --format %q: want raw, xz, qcow2 or auto\n", *format)
		return 2
	}
	images := append(added, fl.Args()...)
	if len(images) == 0 {
		fmt.Fprintf(stderr, "virt-inspector: no IMAGE given\n%s", usage)
		return 2
	}
	warn := func(err error) {
		if !*quiet {
			fmt.Fprintf(stderr, "virt-inspector: warning: %v\n", err)
		}
	}
	var disks []inspect.Disk
	for _, p := range images {
		img, err := image.Open(p)
		if err != nil {
			fmt.Fprintf(stderr, "virt-inspector: %v\n", err)
			return 1
		}
		defer img.Close()
		if *format != "auto" && img.Format().Name != *format {
			fmt.Fprintf(stderr, "virt-inspector: %s: --format %s given, but the image is %s\n", p, *format, img.Format().Name)
			return 1
		}
		disks = append(disks, inspect.Disk{Name: p, R: img, Size: img.Size()})
	}
	res, err := inspect.InspectOptions(disks, inspect.Options{Warn: warn, NoApplications: *noApps, NoIcon: *noIcon})
	if err != nil {
		fmt.Fprintf(stderr, "virt-inspector: %v\n", err)
		return 1
	}
	if expr != nil {
		code := query(expr, res, !*noApps, stdout, stderr, *quiet)
		if len(res.OperatingSystems) == 0 {
			fmt.Fprintln(stderr, "virt-inspector: no operating system was found on the disk(s)")
			return max(code, 1)
		}
		return code
	}
	switch {
	case *asJSON:
		err = writeJSON(stdout, res)
	case *asTable:
		err = writeTable(stdout, res)
	default:
		err = writeXML(stdout, res, !*noApps)
	}
	if err != nil {
		fmt.Fprintf(stderr, "virt-inspector: %v\n", err)
		return 1
	}
	if len(res.OperatingSystems) == 0 {
		fmt.Fprintln(stderr, "virt-inspector: no operating system was found on the disk(s)")
		return 1
	}
	return 0
}

func writeJSON(w io.Writer, res *inspect.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
