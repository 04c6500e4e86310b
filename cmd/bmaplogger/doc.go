/*
NAME

	bmaplogger - serve disk images read-only over NBD and trace which files,
	directories, metadata and partitions a guest reads while it boots

SYNOPSIS

	bmaplogger [options] IMAGE... [--run CMD]
	bmaplogger file=IMAGE [bmap=FILE] [logfile=FILE] [options]
	bmaplogger report TRACE.ndjson [-o FILE]... [--bmap FILE | --no-map] [--top N] [-q]

# DESCRIPTION

bmaplogger is an NBD server that sits in front of a virtual machine (or any
NBD client): it serves each IMAGE read-only (a raw image, an xz-compressed
image read in place, qcow2, VMDK, VHD, VHDX or VDI with their chains, an
OVA's disks as several exports, or an upstream NBD server's export named by
a URI such as nbd+unix:///?socket=PATH, which it re-serves while tracing it,
as nbdkit's nbd plugin with the log filter does), looks every
read up in the block map of the images, and prints what was read while the
guest runs:

	read m /dev/sda MBR
	read f /dev/sda1 /boot/syslinux/ldlinux.c32
	read d /dev/sda1 /boot/syslinux
	read f /dev/sda1 /boot/vmlinuz

It replaces the bmaplogger nbdkit plugin of the original virt-bmap
("nbdkit -f bmaplogger file=disk.img bmap=bmap --run '...'"), whose
parameters file=, bmap= and logfile= it accepts.

The block map is the one virt-bmap(1) writes, in its text or JSON form
(--bmap FILE; the form is recognised by its first character). Without
--bmap, bmaplogger maps the images itself at start-up, as virt-bmap does,
and keeps the map in memory, so one command traces a boot. A map read
from a file should be made from the same images: bmaplogger warns when a
disk's size in the map differs from the image's.

The console shows, for each read, the object of highest priority it
touched (f file > d directory > m filesystem metadata > l logical volume >
p partition > v whole disk; among several of the same type the one holding
the read's first byte), as the original plugin did, and leaves out a line
equal to the one printed just before it, so a file read in a thousand
requests prints one line. There is one such "previous line" for the whole
server, not one per connection as in the original (whose lines from
several connections then interleaved with the wrong ranges). A read that
touches nothing in the map prints nothing. Names are printed as the text
map writes them: a newline is \n and a backslash \\. A NBD_CMD_CACHE
(prefetch) request prints "cache" instead of "read". With --ranges every
read's bytes are shown under its line as the original printed them, START-END
in lower-case hex, END exclusive:

	read f /dev/sda1 /boot/vmlinuz
	 2a5000-2a7000 2a7000-2a9000

--json FILE writes the whole trace as NDJSON, one line per request: time,
connection, offset and length, and every object the request touched (not
only the first), with the part of the request inside each object and the
offset of that part inside the file. The first line is a header with the
format's version, the start time and the exports; the last line,
{"connections":N}, the number of connections the server accepted (those
that read nothing too, as nbdinfo's). The schema is in the documentation
of package logger.

Tracing costs the server little: a traced request is served exactly as
an untraced one (large reads with sendfile too: the trace needs the
request, not its bytes); once its reply is written, the goroutine that
wrote it looks the request up in the map and appends its trace to the
sinks' buffers, while the client reads the reply; the buffers are
written to the terminal and files by goroutines of their own, so the
server never waits for them. On 2 cores with no other work, traced
(-q --json) against untraced serving of a 1 GiB image of 20,000 small
files, medians of interleaved rounds: copies with 1 and 4 connections
0.94-0.96x (their 256 KiB reads each touch dozens of files), 4 KiB random
reads at QD1 1.0-1.1x and at QD16 about 0.9x: the lookup and the NDJSON
cost 0.2-0.7 us of CPU per read (cache misses, mostly), against the 5.5
us the server spends on it, and where the client and the server keep
both cores busy, that CPU comes off the rate. The default console and
the summary cost about as much (bench/README.md). No request is ever
left out of the trace: if a trace's file or terminal falls 64 buffers
behind (16 MiB of NDJSON, 4 MiB of console lines), the connections' next
replies wait for it. At exit
everything is written out before bmaplogger returns. Console lines and the
NDJSON file are written at least every 50 ms, so a boot can be followed
live (tail -f).

Every image is one export. Export names are the images' file names
(disk.img), or disk1, disk2... when two images have the same file name;
-e renames the first. The first image is the default export, which a
client also reaches with an empty name (nbd+unix:///?socket=...), and disk
1 of the map (/dev/sda); the second is disk 2 (/dev/sdb), and so on.
Writes, trims and zeroing requests are refused (EPERM): an image is never
written to. A raw image's holes are reported to clients as nbdkit's file
plugin reports them, and its READs of up to 64 KiB found in the page
cache are copied by the connection's reader itself (preadv2 RWF_NOWAIT);
over plain sockets, READs of 64 KiB or more go from the page cache to
the socket with sendfile(2), traced or not (the trace's dur_ns is then
the time in sendfile), for a raw image and for the data qcow2, VMDK,
VHD, VHDX and VDI images hold uncompressed (their zeros as holes,
compressed or backing-file data read into a buffer); the others go to
goroutines.

In captive mode (--run CMD) bmaplogger listens, runs CMD with /bin/sh
with the variables $uri (also $nbd), $unixsocket, $port, $exportname and
$tls set as nbdkit sets them, waits for CMD, shuts the server down, writes
out the whole trace and exits with CMD's exit status (128+N if signal N
killed it). SIGINT and SIGTERM are passed on to CMD. Without --run and
without -U or -p, nbdkit's default applies: TCP port 10809; with --run
and no -U or -p, a private Unix socket is used ("-U -"). Without --run,
bmaplogger serves until SIGINT or SIGTERM and then writes out the trace.

The console lines go to standard output, as with the original plugin;
CMD's standard output and error are bmaplogger's. Start-up messages
(the map's summary, where the server listens), warnings and errors go to
standard error, and so does the text report printed at the end of a
captive run (see REPORTS).

# REPORTS

A trace answers questions: which files did the boot read, in what order,
how much of each, how long it took, what was read that belongs to
nothing, where on the disk the reads went. --report FILE writes those
answers when bmaplogger exits (after CMD ends, or after SIGINT/SIGTERM,
once every read is traced), in the format FILE's extension names; the
option may be given more than once:

	.json   the summary: per file, directory, metadata structure,
	        partition and disk read: first and last read time, read count,
	        bytes read, distinct bytes read, share of the object read; the
	        unmapped reads (bytes in no partition, metadata, directory or
	        file: only the disk) as ranges; totals; a timeline of requests
	        and bytes in fixed time buckets, split by partition; the disk
	        layout for a map. The schema, with its "version", is in the
	        documentation of package reports.
	.txt    tables: the top files by bytes read, the first files read in
	        order, the partitions and disks, the unmapped ranges.
	.html   one self-contained page (no network access, works offline): a
	        map of the disk with partitions and files coloured and the
	        regions read highlighted, the timeline, sortable tables.

At the end of a captive run (--run) the text report is printed to
standard error unless -q, even without --report: standard output carries
the console trace (or, with --json -, the NDJSON) and CMD's output, which
the report must not corrupt.

"bmaplogger report TRACE.ndjson -o FILE" builds the same reports from an
NDJSON trace afterwards (-o may be repeated; "-o -" or no -o prints the
text report on standard output). The report needs the block map for
sizes, shares and the partitions that were not read: --bmap FILE reads
one; without it the images the trace's header names are mapped again, as
bmaplogger did when tracing, if they are still there with the size the
header gives (a relative name is looked up relative to the trace's
directory too); otherwise, or with --no-map, the report is made from the
trace alone: no sizes or shares, and each object's distinct bytes counted
from the part of each request inside it (exact unless an object's extents
leave a gap inside one request). Built against the same map, the live
report and the one made afterwards are byte for byte the same.

The reports keep their memory bounded however long the trace: one record
per object read, at most 4,096 byte ranges per object and for the
unmapped and read regions of each disk (past that the closest ranges are
merged and the count is an upper bound, marked "approx"), at most 1,024
timeline buckets (their width doubles as the trace grows). 100,000 reads
are aggregated in a few tens of milliseconds.

OPTIONS

	IMAGE, file=IMAGE        an image to serve (several: one export each).
	--bmap FILE, bmap=FILE   the block map, text or JSON (default: map the
	                         images at start-up).
	--ranges                 show each read's byte range under its line.
	--json FILE              write the NDJSON trace to FILE ("-": standard
	                         output, and no console lines there).
	--report FILE            write a report at exit, .json, .txt or .html
	                         by FILE's extension (repeatable; see REPORTS).
	--log FILE, logfile=FILE write the console lines to FILE instead of
	                         standard output.
	--no-trace               serve only: no map, no trace (not with the
	                         options above).
	-q, --quiet              no console lines on standard output, no
	                         start-up messages and no text report at the end
	                         of --run; --json, --log and --report still write.
	-U PATH, --unix PATH     listen on the Unix socket PATH; "-" makes one in
	                         a private temporary directory, removed at exit.
	-p PORT, --port PORT     listen on TCP PORT (default 10809; 0: a free
	                         port, shown in the start-up message and $port).
	-i ADDR, --ipaddr ADDR   TCP address to listen on (default localhost).
	-e NAME, --exportname NAME (also --export-name)
	                         name of the first export (default: its file
	                         name); $uri then names it.
	--tls off|on|require     offer TLS (on) or insist on it (require; $uri
	                         is then nbds://...); default off.
	--tls-certificates DIR   server-cert.pem, server-key.pem and ca-cert.pem
	                         as nbdkit lays them out (default
	                         $HOME/.pki/nbdkit, /etc/pki/nbdkit for root).
	--tls-verify-peer        clients must present a certificate signed by
	                         ca-cert.pem.
	--run CMD                captive mode (see above). When the console
	                         trace goes to standard output, the command's
	                         output and the trace lines are merged by whole
	                         lines: a trace line is held while the command
	                         is in the middle of a line (a guest's serial
	                         console under qemu -nographic) and written at
	                         its next newline, so neither cuts the other
	                         (--log FILE keeps the trace apart).
	--print-uri              print the URI on standard output once listening.
	-P FILE, --pidfile FILE  write the process ID to FILE once listening.
	-a IMAGE, --add IMAGE    an image to serve (as positional IMAGE).
	--format[=FMT]           input format of the images after it (default:
	                         detected by content).
	--key SEL:key:PASS, --key SEL:file:FILE, --keys-from-stdin, --echo-keys
	                         unlock LUKS containers as libguestfs' tools do, so
	                         that a guest that unlocks its disk itself has its
	                         reads of the ciphertext named as the files inside.
	--allow-backing PATH     let an image's chain open PATH outside its
	                         directory (repeatable).
	-v, --verbose            print every warning (default: 5 of each kind).
	-f, -r, -n, -t N         nbdkit's foreground, read-only, newstyle and
	                         threads: accepted and ignored (bmaplogger always
	                         runs so); -o (oldstyle) is refused.
	--filter=xz, --filter=log
	                         accepted with a note: both are built in.
	--dump-config            print the build's configuration (key=value).
	-V, --version            print the version and exit.

The server listens before it maps the images, so a busy port is said at
once; a client that connects meanwhile waits for the greeting.

Options of "bmaplogger report":

	TRACE                    the NDJSON trace (--json).
	-o FILE, --output FILE   write a report (.json, .txt, .html; "-": the
	                         text on standard output); repeatable; default
	                         "-o -".
	--bmap FILE              the block map the trace was made with.
	--no-map                 make the report from the trace alone.
	--top N                  rows of the text report's tables (default 20).
	-q, --quiet              no messages on standard error.

Options and images may come in any order; "--" ends the options. An
argument KEY=VALUE where KEY is a plain word is a parameter: only file,
bmap and logfile exist, so a file whose name looks like one is given as
./NAME.

EXIT STATUS

	0     served until SIGINT/SIGTERM and wrote the whole trace
	1     an image, the map, the certificates or an output file could not
	      be opened or read, the server could not listen, or the trace
	      could not be written
	1     also: a bad command line (also an unknown --report or -o
	      extension), with getopt's message and "Try 'bmaplogger --help'"
	N     with --run: CMD's exit status (1 if CMD succeeded but the trace
	      could not be written)

# EXAMPLES

Trace a boot (SYSLINUX and Linux under TCG; -snapshot because qemu
refuses a read-only export as an IDE disk):

	bmaplogger disk.img --run 'qemu-system-x86_64 -accel tcg -m 512 \
	    -snapshot -drive file="$uri",format=raw -nographic'

The original plugin's command line, with a map made by virt-bmap:

	virt-bmap -o bmap disk.img
	bmaplogger file=disk.img bmap=bmap logfile=boot.log --run 'qemu-system-x86_64 ...'

An xz image, read in place, with the full trace for reports:

	bmaplogger -q --json boot.ndjson win7.img.xz --run 'qemu-system-x86_64 -hda "$uri" ...'

Serve on TCP for a guest started elsewhere:

	bmaplogger -p 10809 -i 0.0.0.0 --tls=require --tls-certificates /etc/pki/nbd disk.img

Trace a boot, keep the trace, and write the reports:

	bmaplogger -q --json boot.ndjson --report boot.html --report boot.json \
	    disk.img --run 'qemu-system-x86_64 -accel tcg -snapshot -hda "$uri" ...'

The same reports later, from the trace (the image is mapped again):

	bmaplogger report boot.ndjson -o boot.html -o boot.txt
	bmaplogger report --bmap bmap boot.ndjson | less

Which files did a copy read?

	bmaplogger -q --json t.ndjson disk.img --run 'nbdcopy "$uri" copy.img'
	jq -r '.objects[]? | select(.type=="f") | .path' t.ndjson | sort -u

SEE ALSO

	virt-bmap(1), virt-inspector(1), nbdkit(1), nbdkit-captive(1),
	nbdkit-log-filter(1), nbdinfo(1), nbdcopy(1), qemu-system-x86_64(1)
*/
package main
