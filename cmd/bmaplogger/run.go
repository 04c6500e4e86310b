package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/internal/cli"
	"github.com/virt-bmap/virt-bmap/internal/linemux"
	"github.com/virt-bmap/virt-bmap/internal/warncap"
	"github.com/virt-bmap/virt-bmap/logger"
	"github.com/virt-bmap/virt-bmap/nbd"
	"github.com/virt-bmap/virt-bmap/reports"
	"github.com/virt-bmap/virt-bmap/scan"
	"github.com/virt-bmap/virt-bmap/volume"
)

const usage = `usage: bmaplogger [OPTION]... IMAGE... [--run CMD]
       bmaplogger file=IMAGE [bmap=FILE] [logfile=FILE] [OPTION]...
       bmaplogger report TRACE.ndjson [-o FILE]... [--bmap FILE | --no-map]

Serves the disk images read-only over NBD and prints, for every read, the
file, directory, metadata, partition or disk it touched. Options and images
in any order, as nbdkit takes them; "--" ends the options.

Trace:
  --bmap FILE               block map (text or JSON, from virt-bmap); default:
                            map the images at start-up
  --ranges                  append each read's hex byte range to the console
  --json FILE               write every read and every object it touched as
                            NDJSON ("-" for standard output)
  --report FILE             write a report of the trace at exit: .json, .txt
                            or .html by FILE's extension (repeatable)
  --log FILE                write the console lines to FILE, not stdout
  --no-trace                serve without tracing
  -q, --quiet               no console lines, no start-up messages, no
                            text report at the end of --run
  -v, --verbose             print every warning (default: 5 of each kind)
Images:
  -a, --add IMAGE           add a disk image (also positional)
  --format[=FMT]            input format of the images after it (default: detect)
  --key SEL:key:PASS, --key SEL:file:FILE, --keys-from-stdin, --echo-keys
                            unlock LUKS containers (as libguestfs' tools)
  --allow-backing PATH      let an image's chain open PATH outside its directory
Server (nbdkit's flags):
  -U, --unix PATH           listen on a Unix socket ("-": a private one)
  -p, --port PORT           listen on TCP PORT (default 10809; 0: any free port)
  -i, --ipaddr ADDR         TCP address to listen on (default localhost)
  -e, --exportname NAME     name of the first export (default: its file name)
  --tls off|on|require      TLS (default off)
  --tls-certificates DIR    certificates (default $HOME/.pki/nbdkit or /etc/pki/nbdkit)
  --tls-verify-peer         require a client certificate signed by the CA
  --run CMD                 run CMD with $uri, $nbd, $unixsocket, $port and
                            $exportname set, then exit with its status; its
                            output and the console trace share stdout line
                            by line, never cutting each other's lines
  --print-uri               print the URI once listening
  -P, --pidfile FILE        write the process ID to FILE once listening
  -f, -r, -n, -t N          nbdkit's foreground, read-only, newstyle, threads:
                            accepted (bmaplogger always runs so)
  --filter=xz|log           accepted with a note: both are built in
  --dump-config             print the build's configuration
  -V, --version             print the version and exit

Exit status: the command's with --run; otherwise 0, or 1 for a bad command
line or an image that cannot be served.
`

// stdio is where the command writes: the trace's console and the
// captive command share stdout, as with nbdkit.
type stdio struct {
	stdout, stderr io.Writer
}

// run is the whole command, testable: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "report" {
		return runReport(args[1:], stdout, stderr)
	}
	cfg, err := parseArgs(args)
	if err != nil {
		return cli.Fail(stderr, "bmaplogger", err)
	}
	fail := func(format string, args ...any) int {
		return cli.Fail(stderr, "bmaplogger", cli.Usagef(format, args...))
	}
	switch {
	case cfg.help:
		fmt.Fprint(stdout, usage)
		return 0
	case cfg.version:
		fmt.Fprintln(stdout, "bmaplogger", version)
		return 0
	case cfg.dumpConfig:
		dumpConfig(stdout)
		return 0
	case len(cfg.images) == 0:
		return fail("no disk image given")
	case cfg.unix != "" && cfg.port != 0:
		return fail("-U and -p are exclusive")
	case cfg.noTrace && (cfg.bmap != "" || cfg.json != "" || cfg.log != "" || cfg.ranges || len(cfg.reports) > 0):
		return fail("--no-trace with a trace option (--bmap, --json, --log, --ranges, --report)")
	case cfg.tls == nbd.TLSOff && (cfg.tlsCerts != "" || cfg.tlsVerify):
		return fail("--tls-certificates and --tls-verify-peer need --tls=on or --tls=require")
	}
	for _, r := range cfg.reports {
		if _, err := reports.FormatOf(r); err != nil {
			return fail("--report: %v", err)
		}
	}
	for _, n := range cfg.notes {
		fmt.Fprintf(stderr, "bmaplogger: %s\n", n)
	}
	cfg.keys = cfg.keyOpts.Keys(stdin, stderr)
	status, err := serve(cfg, stdio{stdout, stderr})
	if err != nil {
		fmt.Fprintf(stderr, "bmaplogger: %v\n", err)
		if status == 0 {
			status = 1
		}
	}
	return status
}

// disk is one image being served.
type disk struct {
	path   string
	img    *image.Image
	export string
}

func serve(cfg *config, out stdio) (status int, err error) {
	say := func(format string, args ...any) {
		if !cfg.quiet {
			fmt.Fprintf(out.stderr, "bmaplogger: "+format+"\n", args...)
		}
	}
	limit := warncap.DefaultMax
	if cfg.verbose {
		limit = -1
	}
	warns := warncap.New(out.stderr, "bmaplogger: warning: ", limit)
	warn := warns.Warn

	disks, err := openDisks(cfg, warn)
	defer func() {
		for _, d := range disks {
			d.img.Close()
		}
	}()
	if err != nil {
		return 1, err
	}

	var tlsConfig *tls.Config
	if cfg.tls != nbd.TLSOff {
		dir := cfg.tlsCerts
		if dir == "" {
			dir = defaultCertDir()
		}
		if tlsConfig, err = nbd.LoadTLS(dir, cfg.tlsVerify); err != nil {
			return 1, err
		}
	}

	// Listen first, so that a busy port is said at once; clients that
	// connect while the map is built wait in the listen queue for the
	// server's greeting, which comes once the trace is ready.
	lc := nbd.ListenConfig{Unix: cfg.unix, Port: cfg.port, Addr: cfg.addr}
	if cfg.run != "" && cfg.unix == "" && cfg.port == 0 {
		lc.Unix = "-" // as nbdkit --run: a private socket
	}
	l, ep, cleanup, err := nbd.Listen(lc)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	ep.SetExport(disks[0].export, cfg.tls)
	if cfg.exportName == "" {
		// The default export is reached by the empty name too; keep
		// $uri short and as nbdkit's.
		ep.SetExport("", cfg.tls)
	}

	if cfg.pidFile != "" {
		if err := os.WriteFile(cfg.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return 1, fmt.Errorf("-P %s: %w", cfg.pidFile, err)
		}
		defer os.Remove(cfg.pidFile)
	}
	if cfg.printURI {
		fmt.Fprintln(out.stdout, ep.URI)
	}

	// In captive mode the command shares standard output with the console
	// trace: merge them by whole lines, so that a trace line never lands
	// in the middle of a line of the guest's console (qemu -nographic).
	var mux *linemux.Mux
	cmdOut := out.stdout
	if cfg.run != "" && consoleToStdout(cfg) {
		mux = linemux.New(out.stdout, "bmaplogger")
		cmdOut = mux.Command()
		out.stdout = mux.Trace()
		defer mux.Close()
	}

	// The trace: map, logger and sinks, set up before the server accepts
	// anyone so that the first read is traced.
	var lg *logger.Logger
	var agg *reports.Aggregator
	var nd *logger.NDJSON
	var closeFiles []func() error
	if !cfg.noTrace {
		lg, agg, nd, closeFiles, err = startTrace(cfg, disks, out, say, warn)
		warns.Flush()
		if err != nil {
			return 1, err
		}
	}
	finishTrace := func() error {
		if lg == nil {
			return nil
		}
		err := lg.Close()
		for _, c := range closeFiles {
			if cerr := c(); err == nil {
				err = cerr
			}
		}
		if s := lg.Stats(); s.Blocked > 0 || s.Late > 0 {
			say("trace: %s, the server waited for the trace %s, %s after shutdown not traced", nouns(int64(s.Events), "read"), nouns(int64(s.Blocked), "time"), nouns(int64(s.Late), "read"))
		}
		lg = nil
		return err
	}
	defer finishTrace()

	srv := &nbd.Server{TLSConfig: tlsConfig, TLS: cfg.tls}
	srv.Logf = func(format string, args ...any) {
		fmt.Fprintf(out.stderr, "bmaplogger: "+format+"\n", args...)
	}
	for _, d := range disks {
		srv.Exports = append(srv.Exports, nbd.Export{Name: d.export, Description: d.path, Source: d.img})
	}
	if lg != nil {
		srv.OnRead = func(r nbd.Read) { lg.Log(logger.Read(r)) }
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil && !errors.Is(err, nbd.ErrServerClosed) {
			return err
		}
		return nil
	}

	if cfg.run != "" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		status, err := nbd.RunCaptive(ctx, cfg.run, ep, cmdOut, out.stderr)
		serr := stop()
		setConns(srv, agg, nd)
		terr := finishTrace()
		if mux != nil {
			mux.Close()
		}
		rerr := writeReports(cfg, agg, out, true)
		if err != nil {
			return status, err
		}
		if serr != nil {
			return status, serr
		}
		if terr != nil {
			return status, fmt.Errorf("trace: %w", terr)
		}
		if rerr != nil {
			return status, rerr
		}
		return status, nil
	}

	say("serving %s on %s", exportList(disks), ep.URI)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case s := <-sigs:
		say("%v: shutting down", s)
		if err := stop(); err != nil {
			return 1, err
		}
	case err := <-served:
		if err != nil && !errors.Is(err, nbd.ErrServerClosed) {
			return 1, err
		}
	}
	setConns(srv, agg, nd)
	if err := finishTrace(); err != nil {
		return 1, fmt.Errorf("trace: %w", err)
	}
	if err := writeReports(cfg, agg, out, false); err != nil {
		return 1, err
	}
	return 0, nil
}

// setConns tells the reports and the NDJSON trace how many connections
// the server accepted, those that read nothing included (nbdinfo), once
// the server has stopped.
func setConns(srv *nbd.Server, agg *reports.Aggregator, nd *logger.NDJSON) {
	n := srv.Connections()
	if agg != nil {
		agg.SetConnections(int64(n))
	}
	if nd != nil {
		nd.SetConnections(n)
	}
}

// writeReports writes the --report files from the aggregator, once the
// trace is complete (the logger closed), and at the end of a captive run
// prints the text report to standard error unless -q: standard output
// carries the console trace (or the NDJSON with --json -) and the
// command's own output.
func writeReports(cfg *config, agg *reports.Aggregator, out stdio, captive bool) error {
	if agg == nil {
		return nil
	}
	s := agg.Summary()
	var first error
	for _, path := range cfg.reports {
		if err := reports.Write(path, s); err != nil && first == nil {
			first = fmt.Errorf("--report: %w", err)
		}
	}
	if captive && !cfg.quiet {
		fmt.Fprintln(out.stderr)
		if err := reports.WriteText(out.stderr, s, reports.DefaultTop); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openDisks opens every image read-only and names its export.
func openDisks(cfg *config, warn func(error)) ([]disk, error) {
	var list cli.Disks
	for j, path := range cfg.images {
		list.List = append(list.List, cli.Disk{Path: path, Format: cfg.formats[j]})
	}
	opened, err := list.Open(cfg.allow, warn, nil) // an OVA's disks are one export each
	if err != nil {
		return nil, err
	}
	var disks []disk
	used := map[string]bool{}
	for i, o := range opened {
		// image.Image reports its holes (alloc.Mapper): the export's
		// block status and READ holes come from it, for every format.
		d := disk{path: o.Path, img: o.Img}
		name := filepath.Base(o.Path)
		if image.IsURI(o.Path) {
			name = "disk" + strconv.Itoa(i+1) // an upstream NBD export
		}
		if i == 0 && cfg.exportName != "" {
			name = cfg.exportName
		}
		if used[name] {
			name = "disk" + strconv.Itoa(i+1)
		}
		used[name] = true
		d.export = name
		disks = append(disks, d)
	}
	return disks, nil
}

func exportList(disks []disk) string {
	s := ""
	for i, d := range disks {
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(d.export)
		if i == 0 {
			s += " (default)"
		}
	}
	return s
}

// defaultCertDir is where nbdkit looks for certificates without
// --tls-certificates: $HOME/.pki/nbdkit for users, /etc/pki/nbdkit for
// root.
func defaultCertDir() string {
	if os.Geteuid() != 0 {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".pki", "nbdkit")
		}
	}
	return "/etc/pki/nbdkit"
}

// startTrace loads or builds the map and starts the logger with its
// sinks, and the reports' aggregator when --report is given or a captive
// run ends with the text report. closeFiles close the files the sinks
// write, after the logger.
func startTrace(cfg *config, disks []disk, out stdio, say func(string, ...any), warn func(error)) (*logger.Logger, *reports.Aggregator, *logger.NDJSON, []func() error, error) {
	start := time.Now()
	m, err := loadMap(cfg, disks, say, warn)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ix := bmap.NewIndex(m)
	if n := ix.Truncated(); n > 0 {
		warn(fmt.Errorf("block map: %d segments covered by too many objects: only the highest-priority ones are traced", n))
	}

	var sinks []logger.Sink
	var closeFiles []func() error
	fail := func(err error) (*logger.Logger, *reports.Aggregator, *logger.NDJSON, []func() error, error) {
		for _, c := range closeFiles {
			c()
		}
		return nil, nil, nil, nil, err
	}
	create := func(path string) (*os.File, error) {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		closeFiles = append(closeFiles, f.Close)
		return f, nil
	}

	consoleTo := out.stdout
	switch {
	case cfg.log != "":
		f, err := create(cfg.log)
		if err != nil {
			return fail(fmt.Errorf("--log: %w", err))
		}
		consoleTo = f
	case cfg.quiet || cfg.json == "-":
		consoleTo = nil
	}
	if consoleTo != nil {
		sinks = append(sinks, logger.NewConsole(consoleTo, cfg.ranges))
	}

	exports := map[string]int{"": 1}
	h := logger.Header{Start: start}
	for i, d := range disks {
		dev := ""
		if i < len(m.Disks) {
			dev = m.Disks[i].Device
		}
		abs, err := filepath.Abs(d.path)
		if err != nil {
			abs = d.path
		}
		h.Exports = append(h.Exports, logger.ExportEntry{Name: d.export, Disk: i + 1, Device: dev, Image: abs, Size: d.img.Size()})
	}
	var nd *logger.NDJSON
	if cfg.json != "" {
		var w io.Writer = out.stdout
		if cfg.json != "-" {
			f, err := create(cfg.json)
			if err != nil {
				return fail(fmt.Errorf("--json: %w", err))
			}
			w = f
		}
		var err error
		nd, err = logger.NewNDJSON(w, h)
		if err != nil {
			return fail(fmt.Errorf("--json %s: %w", cfg.json, err))
		}
		nd.SetMap(m)
		sinks = append(sinks, nd)
	}
	var agg *reports.Aggregator
	if len(cfg.reports) > 0 || (cfg.run != "" && !cfg.quiet) {
		agg = reports.NewAggregator(m, reports.Options{Start: start, Exports: h.Exports})
		sinks = append(sinks, agg)
	}
	for i, d := range disks {
		exports[d.export] = i + 1
	}
	lg := logger.New(ix, logger.Options{Exports: exports, Start: start}, sinks...)
	return lg, agg, nd, closeFiles, nil
}

// loadMap reads --bmap, or maps the images (as virt-bmap does) when none
// is given.
func loadMap(cfg *config, disks []disk, say func(string, ...any), warn func(error)) (*bmap.Map, error) {
	if cfg.bmap != "" {
		f, err := os.Open(cfg.bmap)
		if err != nil {
			return nil, fmt.Errorf("--bmap: %w", err)
		}
		defer f.Close()
		m, err := bmap.Read(f)
		if err != nil {
			return nil, fmt.Errorf("--bmap %s: %w", cfg.bmap, err)
		}
		checkMap(m, disks, warn)
		return m, nil
	}
	t0 := time.Now()
	b := bmap.NewBuilder()
	var files, dirs, parts int
	// All disks at once: a volume group may span them, and a read on the
	// second disk of a file in a spanning LV must name the file.
	in := make([]volume.Disk, len(disks))
	for i, d := range disks {
		in[i] = volume.Disk{Index: i + 1, Image: d.path, R: d.img, Size: d.img.Size()}
	}
	sums, err := scan.Disks(b, in, scan.Options{Warn: warn, Keys: cfg.keys})
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	var bad []string
	for _, s := range sums {
		files += s.Files
		dirs += s.Dirs
		if s.Scheme != "" {
			parts++
		}
		if u := s.Unmapped(); u != "" {
			bad = append(bad, u)
		}
	}
	if len(bad) > 0 {
		// Said even with -q: reads there are traced as the partition only.
		warn(fmt.Errorf("serving anyway; %s not fully mapped (their reads are traced by partition only): %s", nouns(int64(len(bad)), "volume"), strings.Join(bad, "; ")))
	}
	m := b.Map()
	say("mapped %s (%s, %s, %s) on %s in %.2fs", nouns(int64(len(m.Objects)), "object"), nouns(int64(files), "file"), nouns(int64(dirs), "directory"), nouns(int64(parts), "partition"), nouns(int64(len(disks)), "disk"), time.Since(t0).Seconds())
	return m, nil
}

// checkMap warns when a map does not look like the map of the images:
// tracing against the wrong map names the wrong files.
func checkMap(m *bmap.Map, disks []disk, warn func(error)) {
	for i, d := range disks {
		var md *bmap.Disk
		for j := range m.Disks {
			if m.Disks[j].Index == i+1 {
				md = &m.Disks[j]
			}
		}
		switch {
		case md == nil:
			found := false
			for _, o := range m.Objects {
				if o.Disk == i+1 {
					found = true
					break
				}
			}
			if !found {
				warn(fmt.Errorf("--bmap has nothing on disk %d (%s): its reads are not traced", i+1, d.path))
			}
		case md.Size != 0 && md.Size != d.img.Size():
			warn(fmt.Errorf("--bmap disk %d is %d bytes, %s is %d bytes: is the map made from this image?", i+1, md.Size, d.path, d.img.Size()))
		}
	}
}

// dumpConfig prints the build's configuration as nbdkit --dump-config
// does: key=value lines.
func dumpConfig(w io.Writer) {
	exe, _ := os.Executable()
	fmt.Fprintf(w, "binary=%s\n", exe)
	fmt.Fprintf(w, "version=%s\n", version)
	fmt.Fprintf(w, "version_major=0\n")
	fmt.Fprintf(w, "root_tls_certificates_dir=/etc/pki/nbdkit\n")
	fmt.Fprintf(w, "formats=%s\n", strings.Join(image.FormatNames(), ","))
}

// consoleToStdout reports whether the console trace goes to standard
// output (and nothing else of ours does: --json - turns it off).
func consoleToStdout(cfg *config) bool {
	return !cfg.noTrace && !cfg.quiet && cfg.log == "" && cfg.json != "-"
}

// nouns is "1 file", "2 files", "1 directory", "2 directories".
func nouns(n int64, noun string) string {
	switch {
	case n == 1:
		return fmt.Sprintf("1 %s", noun)
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
