package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/logger"
	"github.com/virt-bmap/virt-bmap/reports"
	"github.com/virt-bmap/virt-bmap/scan"
	"github.com/virt-bmap/virt-bmap/volume"
)

const reportUsage = `usage: bmaplogger report TRACE.ndjson [-o FILE]... [--bmap FILE | --no-map] [-q]

Builds the reports of an NDJSON trace (bmaplogger --json): .json, .txt or
.html by each FILE's extension; without -o, the text report on standard
output.

  -o, --output FILE   write a report (repeatable; "-": text on standard output)
  --bmap FILE         the block map the trace was made with (text or JSON)
  --no-map            no map: sizes, shares and unread partitions unknown
  --top N             rows of the text report's file tables (default 20)
  -q                  no messages on standard error
`

// reportConfig is the report subcommand's command line.
type reportConfig struct {
	trace   string
	outputs []string
	bmap    string
	noMap   bool
	top     int
	quiet   bool
	help    bool
}

func parseReportArgs(args []string) (*reportConfig, error) {
	c := &reportConfig{}
	fl := cli.NewFlagSet("bmaplogger report")
	fl.StringArrayVarP(&c.outputs, "output", "o", nil, "")
	fl.StringVar(&c.bmap, "bmap", "", "")
	fl.BoolVar(&c.noMap, "no-map", false, "")
	fl.IntVar(&c.top, "top", reports.DefaultTop, "")
	fl.BoolVarP(&c.quiet, "quiet", "q", false, "")
	if err := cli.Parse(fl, args); err != nil {
		if errors.Is(err, cli.ErrHelp) {
			c.help = true
			return c, nil
		}
		return nil, err
	}
	pos := fl.Args()
	switch {
	case len(pos) == 0:
		return nil, cli.Usagef("report: no TRACE given")
	case len(pos) > 1:
		return nil, cli.Usagef("report: one TRACE, not %d", len(pos))
	case c.bmap != "" && c.noMap:
		return nil, cli.Usagef("report: --bmap and --no-map are exclusive")
	}
	c.trace = pos[0]
	for _, o := range c.outputs {
		if o == "-" {
			continue
		}
		if _, err := reports.FormatOf(o); err != nil {
			return nil, cli.Usagef("report: -o: %v", err)
		}
	}
	return c, nil
}

// runReport is "bmaplogger report".
func runReport(args []string, stdout, stderr io.Writer) int {
	c, err := parseReportArgs(args)
	if err != nil {
		return cli.Fail(stderr, "bmaplogger report", err)
	}
	if c.help {
		fmt.Fprint(stdout, reportUsage)
		return 0
	}
	if err := report(c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bmaplogger: report: %v\n", err)
		return 1
	}
	return 0
}

// report reads the trace twice: the header first (to find the map), then
// every event into the aggregator; the trace is never held in memory.
func report(c *reportConfig, stdout, stderr io.Writer) error {
	say := func(format string, args ...any) {
		if !c.quiet {
			fmt.Fprintf(stderr, "bmaplogger: report: "+format+"\n", args...)
		}
	}
	f, err := os.Open(c.trace)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := logger.ReadNDJSON(f, func(*logger.JSONEvent) error { return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("%s: %w", c.trace, err)
	}
	var m *bmap.Map
	if !c.noMap {
		if m, err = reportMap(c, h, say); err != nil {
			return err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	agg := reports.NewAggregator(m, reports.Options{Start: h.Start, Exports: h.Exports})
	// The whole trace this time: its last line may be the connections.
	h, err = logger.ReadNDJSON(f, func(ev *logger.JSONEvent) error {
		agg.AddJSON(ev)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", c.trace, err)
	}
	agg.SetConnections(int64(h.Connections))
	s := agg.Summary()
	if len(c.outputs) == 0 {
		c.outputs = []string{"-"}
	}
	for _, o := range c.outputs {
		if o == "-" {
			err = reports.WriteText(stdout, s, c.top)
		} else {
			err = reports.Write(o, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var errStop = errors.New("stop")

// reportMap reads --bmap, or maps the images the trace's header names
// (as the live trace did without --bmap), when they are still there with
// the size the header gives; otherwise the report is made without a map.
func reportMap(c *reportConfig, h *logger.Header, say func(string, ...any)) (*bmap.Map, error) {
	if c.bmap != "" {
		f, err := os.Open(c.bmap)
		if err != nil {
			return nil, fmt.Errorf("--bmap: %w", err)
		}
		defer f.Close()
		m, err := bmap.Read(f)
		if err != nil {
			return nil, fmt.Errorf("--bmap %s: %w", c.bmap, err)
		}
		return m, nil
	}
	if len(h.Exports) == 0 {
		say("the trace names no image: no map (sizes and shares unknown; --bmap gives one)")
		return nil, nil
	}
	var in []volume.Disk
	defer func() {
		for _, d := range in {
			d.R.(*image.Image).Close()
		}
	}()
	for _, e := range h.Exports {
		path := e.Image
		if path != "" && !filepath.IsAbs(path) && !image.IsURI(path) {
			// A relative path is relative to the trace's directory.
			if _, err := os.Stat(path); err != nil {
				path = filepath.Join(filepath.Dir(c.trace), path)
			}
		}
		img, err := image.Open(path)
		if err != nil {
			say("image %q of export %q: %v: no map (sizes and shares unknown; --bmap gives one)", e.Image, e.Name, err)
			return nil, nil
		}
		if img.Size() != e.Size {
			img.Close()
			say("image %s is %d bytes, the trace says %d: not the traced image; no map (--bmap gives one)", path, img.Size(), e.Size)
			return nil, nil
		}
		in = append(in, volume.Disk{Index: e.Disk, Image: path, R: img, Size: img.Size()})
	}
	// All disks at once, as the trace was made: a VG may span them.
	b := bmap.NewBuilder()
	if _, err := scan.Disks(b, in, scan.Options{Warn: func(err error) { say("warning: %v", err) }}); err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return b.Map(), nil
}
