#!/usr/bin/env bash
# bmaplogger.sh — bmaplogger tracing to NDJSON against nbdkit's log filter,
# side by side, same clients, one run.
#
# Builds once (cached in BUILD_DIR, default build/bench) a raw disk image
# of SIZE_MIB MiB (default 1024): an MBR with one ext4 partition made by
# mkfs.ext4 -d from a generated tree of FILES files (default 20,000; 1 to
# 64 KiB of generated text, 100 directories; 640 MiB) plus four files of
# SIZE_MIB/32 MiB, and
# its JSON map (virt-bmap --json). Then for each route, in captive
# mode (the client runs under the server's --run):
#   nbdkit:   nbdkit -U - --filter=log file IMAGE logfile=LOG
#   ours:     bmaplogger -q --bmap MAP --json TRACE IMAGE   (tracing on)
#   ours-off: bmaplogger --no-trace IMAGE                   (for scale)
#   ours-base: $BASE -q --bmap MAP --json TRACE IMAGE       (only with
#             BASE=PATH: another bmaplogger binary, say one built from an
#             older commit, traced, to measure a change in the same run)
#   ours-con: bmaplogger --bmap MAP IMAGE                   (only with
#             CONSOLE=1: the default mode, a console line per read that
#             names another object than the last, through the --run
#             command's line merger to a file, and the run's summary)
#   base-con: $BASE --bmap MAP IMAGE                        (CONSOLE=1 and BASE)
# and for each client:
#   nbdcopy -C 1 "$uri" null:   and  nbdcopy -C 4 -T 4 "$uri" null:   (MB/s,
#     COPIES times in a row, default 4: one copy of the default image
#     takes a quarter of a second, too short to time;
#     nbdcopy caps the connections at its threads, which default to the
#     cores: without -T 4 "4 connections" were 2 on this 2-core machine)
#   fio --ioengine=nbd 4 KiB random reads, QD1 and QD16, RUNTIME seconds
#     each, fixed seed (IOPS)
# The client is timed on its own (server start-up and map loading are not
# in the rate); after it, the command prints the server's peak RSS
# (VmHWM) and the CPU time (utime+stime) it used while the client ran.
# Every run's
# trace is checked: ours must hold one NDJSON event per request fio made
# (fio's total_ios) and, for nbdcopy, cover every data range of the
# image (lseek SEEK_DATA/SEEK_HOLE: the server reports holes, which
# nbdcopy skips), or the script
# fails. Prints a table with MB/s or IOPS, the ratios to the nbdkit row
# and to the ours-off row of the same client (the second is the cost of
# tracing), the server's CPU seconds, its CPU per request (on a machine
# whose cores other jobs share, a steadier measure of that cost than the
# rates) and peak RSS.
#
# Each client goes round the servers RUNS times (default 1), the servers
# interleaved, and the table gives the medians over the rounds.
#
# Usage: bench/bmaplogger.sh [BUILD_DIR]
# Env:   SIZE_MIB=1024 FILES=20000 RUNTIME=8 RUNS=1 BASE= REBUILD=1 (FILES x 32 KiB +
#        SIZE_MIB/8 must fit in SIZE_MIB)
#        CLIENTS="1 2 3 4" (which clients: 1 and 2 the nbdcopy copies,
#        3 and 4 fio QD1 and QD16) HOG=0 (busy loops running alongside)
#        CONSOLE=0 (1: the ours-con route, and base-con with BASE)
#        COPIES=4 (nbdcopy copies per run)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
size_mib=${SIZE_MIB:-1024}
nfiles=${FILES:-20000}
runtime=${RUNTIME:-8}
runs=${RUNS:-1}
copies=${COPIES:-4}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "bmaplogger.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need nbdkit nbdkit
need nbdcopy libnbd-bin
need fio fio
need mkfs.ext4 e2fsprogs
need sfdisk fdisk
need python3 python3
need go golang
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bmaplogger.sh: this fio has no nbd engine" >&2; exit 1; }
nbdkit --dump-plugin file >/dev/null 2>&1 || { echo "bmaplogger.sh: nbdkit has no file plugin" >&2; exit 1; }

bl=$bdir/bmaplogger
vb=$bdir/virt-bmap
(cd "$root" && go build -o "$bl" ./cmd/bmaplogger && go build -o "$vb" ./cmd/virt-bmap)

img=$bdir/blbench.img
map=$bdir/blbench.json
stamp=$bdir/blbench.stamp
version="blbench v1: $size_mib MiB, $nfiles files, ext4 -d, 4 x $((size_mib / 32)) MiB"
if [ -n "${REBUILD:-}" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$version" ] || [ ! -f "$map" ]; then
	echo "bmaplogger.sh: building the $size_mib MiB image ($nfiles files; once)" >&2
	rm -f "$stamp"
	tree=$(mktemp -d "${TMPDIR:-/tmp}/blbench.XXXXXX")
	python3 - "$tree" "$nfiles" "$size_mib" <<'EOF'
import os, random, sys
root, n, size_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
words = [("w%d" % i).encode() for i in range(500)]
for i in range(n):
    d = os.path.join(root, "usr/lib/d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(1, 64) * 1024 - rnd.randint(0, 1000)
    line = b" ".join(rnd.choice(words) for _ in range(12)) + b"\n"
    with open(os.path.join(d, "f%05d.so" % i), "wb") as f:
        f.write((line * (size // len(line) + 1))[:size])
os.makedirs(os.path.join(root, "big"), exist_ok=True)
for i in range(4):
    with open(os.path.join(root, "big/blob%d" % i), "wb") as f:
        f.write(bytes(rnd.getrandbits(8) for _ in range(65536)) * (size_mib // 32 * 16))
EOF
	rm -f "$img"
	truncate -s "${size_mib}M" "$img"
	echo 'label: dos
label-id: 0x1234abcd
start=2048, type=83' | sfdisk -q "$img"
	fsimg=$bdir/blbench.fs
	rm -f "$fsimg"
	mkfs.ext4 -q -F -U 6f1b2c3d-0000-4000-8000-00000000b1b1 -E root_owner=0:0,hash_seed=6f1b2c3d-0000-4000-8000-00000000b1b2 -d "$tree" "$fsimg" $((size_mib * 1024 - 1024))k
	dd if="$fsimg" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
	rm -rf "$tree" "$fsimg"
	"$vb" -q --json -o "$map" "$img"
	echo "$version" >"$stamp"
fi
size=$(stat -c %s "$img")

work=$(mktemp -d "${TMPDIR:-/tmp}/blbench-run.XXXXXX")
hogs=()
trap 'rm -rf "$work"; [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null' EXIT
# HOG=N: N busy loops at the same priority run through every test, to
# measure on a machine whose cores are not idle (a host with other work).
for _ in $(seq "${HOG:-0}"); do
	sh -c 'while :; do :; done' &
	hogs+=($!)
done
rows=()

# The client part of every --run: time the client alone, then report the
# server's peak RSS and the CPU ticks it used while the client ran (map
# loading and start-up left out). The server is bmaplogger itself ($PPID);
# nbdkit --run runs the command in its parent process and serves from a
# forked child, the sibling of this shell.
probe='srv=$PPID; c=$(pgrep -P $PPID -x nbdkit || true); [ -z "$c" ] || srv=$c;
t0=$(awk "{ print \$14 + \$15 }" /proc/$srv/stat);
s=$(date +%s.%N); CLIENT; e=$(date +%s.%N);
echo "wall=$(awk -v s=$s -v e=$e "BEGIN { print e - s }")";
echo "rss_kib=$(awk "/VmHWM/ { print \$2 }" /proc/$srv/status)";
echo "cpu_ticks=$(awk -v t0=$t0 "{ print \$14 + \$15 - t0 }" /proc/$srv/stat)"'

# run SERVER CLIENT-NAME KIND CLIENT
run() {
	local server=$1 cname=$2 kind=$3 client=$4
	local cmd=${probe/CLIENT/$client}
	local out=$work/out trace=$work/trace.ndjson log=$work/nbdkit.log
	rm -f "$trace" "$log" "$work/fio.json"
	case $server in
	nbdkit) nbdkit -U - --filter=log file "$img" logfile="$log" --run "$cmd" >"$out" 2>&1 ;;
	ours) "$bl" -q --bmap "$map" --json "$trace" "$img" --run "$cmd" >"$out" 2>&1 ;;
	ours-base) "$BASE" -q --bmap "$map" --json "$trace" "$img" --run "$cmd" >"$out" 2>&1 ;;
	ours-off) "$bl" -q --no-trace "$img" --run "$cmd" >"$out" 2>&1 ;;
	ours-con) "$bl" --bmap "$map" "$img" --run "$cmd" >"$out" 2>&1 ;;
	base-con) "$BASE" --bmap "$map" "$img" --run "$cmd" >"$out" 2>&1 ;;
	esac || { echo "bmaplogger.sh: $server $cname failed:" >&2; cat "$out" >&2; exit 1; }
	local wall rss ticks rate ios=-
	wall=$(sed -n 's/^wall=//p' "$out")
	rss=$(sed -n 's/^rss_kib=//p' "$out")
	ticks=$(sed -n 's/^cpu_ticks=//p' "$out")
	if [ "$kind" = seq ]; then
		rate=$(awk -v s="$size" -v c="$copies" -v w="$wall" 'BEGIN { printf "%.0f", s * c / w / 1e6 }')
	else
		rate=$(python3 -c 'import json,sys; print("%.0f" % sum(j["read"]["iops"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$work/fio.json")
		ios=$(python3 -c 'import json,sys; print(sum(j["read"]["total_ios"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$work/fio.json")
	fi
	local events=-
	if [ "$server" = ours ] || [ "$server" = ours-base ]; then
		# every line but the header and the {"connections":N} last line
		events=$(grep -vc '^{"connections":' "$trace" || true)
		events=$((events - 1))
		if [ "$kind" = rand ]; then
			local ios
			ios=$(python3 -c 'import json,sys; print(sum(j["read"]["total_ios"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$work/fio.json")
			[ "$events" -eq "$ios" ] || { echo "bmaplogger.sh: $cname: $events trace events for $ios fio requests" >&2; exit 1; }
		else
			# nbdcopy skips the holes the server reports: the trace
			# must cover every data range lseek(SEEK_DATA) finds.
			python3 - "$trace" "$img" <<'EOF' || exit 1
import json, os, sys
spans = []
with open(sys.argv[1]) as f:
    next(f)
    for line in f:
        e = json.loads(line)
        if "connections" in e:  # the trace's last line
            continue
        spans.append((e["off"], e["off"] + e["len"]))
spans.sort()
covered = []
for a, b in spans:
    if covered and a <= covered[-1][1]:
        covered[-1][1] = max(covered[-1][1], b)
    else:
        covered.append([a, b])
fd = os.open(sys.argv[2], os.O_RDONLY)
size, pos, i = os.fstat(fd).st_size, 0, 0
while pos < size:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    # [d, h) is data: one covered span must hold it whole.
    while i < len(covered) and covered[i][1] <= d:
        i += 1
    if i == len(covered) or covered[i][0] > d or covered[i][1] < h:
        sys.exit("bmaplogger.sh: nbdcopy trace misses data in %d-%d" % (d, h))
    pos = h
EOF
		fi
	elif [ "$server" = ours-con ] || [ "$server" = base-con ]; then
		# The console prints a line only when a read names another
		# object than the one before: no count to check, but lines.
		events=$(grep -c '^read ' "$out" || true)
		[ "$events" -gt 0 ] || { echo "bmaplogger.sh: $server $cname: no console lines" >&2; cat "$out" >&2; exit 1; }
	elif [ "$server" = nbdkit ]; then
		events=$(grep -c ' Read id=' "$log" || true) # not the "...Read id=N return" lines
	fi
	rows+=("$server|$cname|$kind|$wall|$(awk -v t="$ticks" 'BEGIN { printf "%.2f", t / 100 }')|$((rss / 1024))|$rate|$events|$ios|$round")
}

fio_base="fio --name=r --ioengine=nbd --uri=\"\$uri\" --rw=randread --bs=4k --size=$size --randrepeat=1 --randseed=7 --time_based --runtime=$runtime --group_reporting --output-format=json --output=$work/fio.json"
servers=(nbdkit ours ours-off)
[ -z "${BASE:-}" ] || servers+=(ours-base)
[ "${CONSOLE:-0}" = 0 ] || servers+=(ours-con)
[ "${CONSOLE:-0}" = 0 ] || [ -z "${BASE:-}" ] || servers+=(base-con)
# Each client goes round the servers RUNS times (a busy moment of the
# machine hits all alike), each round starting one server further along
# (so that no server always follows the same one); the table gives
# medians over the rounds.
for client in ${CLIENTS:-1 2 3 4}; do
	for round in $(seq "$runs"); do
		n=${#servers[@]}
		for i in $(seq 0 $((n - 1))); do
			server=${servers[$(((i + round - 1) % n))]}
			case $client in
			1) run "$server" "nbdcopy 1 conn" seq "for _ in \$(seq $copies); do nbdcopy -C 1 \"\$uri\" null: || exit 1; done" ;;
			2) run "$server" "nbdcopy 4 conn" seq "for _ in \$(seq $copies); do nbdcopy -C 4 -T 4 \"\$uri\" null: || exit 1; done" ;;
			3) run "$server" "fio 4k rand QD1" rand "$fio_base --iodepth=1" ;;
			4) run "$server" "fio 4k rand QD16" rand "$fio_base --iodepth=16" ;;
			esac
		done
	done
done
echo "image: $size_mib MiB, ext4, $nfiles files + 4 x $((size_mib / 32)) MiB; map $(stat -c %s "$map") bytes JSON; $(nproc) CPU cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $runs run(s) each; ${HOG:-0} busy loop(s) alongside"
# Medians over the runs, as the issue that set the goals measures: a
# best-of-N keeps the luckiest run of each server, which on a shared
# machine says more about the machine than about the server.
# vs nbdkit, vs off: the median over the rounds of the rate over nbdkit's,
# or the untraced server's (the cost of tracing), in the same round;
# (lo-hi) their range. cpu us/req: the server's CPU time while the
# client ran over the requests it served (fio's count; for nbdcopy, which
# makes the same requests of every server, nbdkit's log's), median.
# requests: the last round's NDJSON events (ours), log entries (nbdkit),
# console lines (the -con routes).
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics as st, sys
rows = [l.rstrip("\n").split("|") for l in sys.stdin if l.strip()]
order, by = [], {}
for server, cname, kind, wall, cpu, rss, rate, events, ios, rnd in rows:
    k = (server, cname)
    if k not in by:
        order.append(k)
        by[k] = {}
    by[k][rnd] = dict(wall=float(wall), cpu=float(cpu), rss=int(rss), rate=float(rate), events=events, ios=ios)
def paired(k, ref):
    if ref not in by:
        return None
    rs = [by[k][r]["rate"] / by[ref][r]["rate"] for r in by[k] if r in by[ref]]
    return rs or None
def fmt(rs):
    if not rs:
        return "-"
    if len(rs) == 1:
        return "%.2fx" % rs[0]
    return "%.2fx (%.2f-%.2f)" % (st.median(rs), min(rs), max(rs))
print("%-9s %-17s %7s %10s %22s %22s %9s %10s %8s %9s" % ("server", "client", "wall s", "MB/s|IOPS", "vs nbdkit", "vs off", "srv cpu s", "cpu us/req", "RSS MiB", "requests"))
servers = []
for s, _ in order:
    if s not in servers:
        servers.append(s)
for s in servers:
    for k in order:
        if k[0] != s:
            continue
        runs = by[k]
        perreq = []
        for r, v in runs.items():
            n = v["ios"]
            if n == "-":
                n = by.get(("nbdkit", k[1]), {}).get(r, {}).get("events", "-")
            if n not in ("-", "") and int(n) > 0:
                perreq.append(v["cpu"] * 1e6 / int(n))
        last = runs[max(runs, key=int)]
        print("%-9s %-17s %7.2f %10.0f %22s %22s %9.2f %10s %8d %9s" % (s, k[1],
            st.median(v["wall"] for v in runs.values()), st.median(v["rate"] for v in runs.values()),
            fmt(paired(k, ("nbdkit", k[1]))), fmt(paired(k, ("ours-off", k[1]))),
            st.median(v["cpu"] for v in runs.values()),
            "%.2f" % st.median(perreq) if perreq else "-",
            max(v["rss"] for v in runs.values()), last["events"]))
'
