# bench/lib.sh — shell functions the side-by-side NBD scripts share
# (formats.sh, which vdi.sh runs). Source it after setting `prog` (the script's name,
# for messages) and `bdir` (the build directory, absolute).
#
#   need TOOL DEBIAN-PACKAGE         exit with a message naming the package
#   nbd_serve SERVER FMT IMAGE CMD   run CMD (it sees $uri) against a fresh
#                                    server: ours (bench/nbdserve -image),
#                                    ours-base ($BASE -image: another
#                                    nbdserve binary) or qemu-nbd (-r -f FMT); the server's peak
#                                    RSS (KiB) and its CPU time (user+system
#                                    clock ticks, every thread) go to
#                                    $bdir/$prog.rss
#   nbd_client TEST                  print the client command of TEST, one of
#                                    "${nbd_tests[@]}", for nbd_serve
#   nbd_rate TEST SIZE_MIB           print the rate of the last nbd_client
#                                    run, MB/s of the disk (nbdcopy) or IOPS
#                                    (fio), and the work done, MB or reads
#
# Env: RUNTIME (fio seconds, default 5).

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "$prog: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}

nbd_tests=("nbdcopy 1 conn" "nbdcopy 4 conns" "fio QD1" "fio QD16")

# nbd_serve SERVER FMT IMAGE CMD. qemu-nbd has no captive mode: it runs with
# --pid-file and -e 16 (16 shared connections) and is stopped by that pid.
# In our captive mode the command's parent ($PPID) is the server, whose
# VmHWM is read when the client is done (/usr/bin/time would count the
# client too).
nbd_serve() {
	local server=$1 fmt=$2 img=$3 rssf=$bdir/$prog.rss
	local cmd="$4; rc=\$?; echo \$(awk '/VmHWM/ { print \$2 }' /proc/\$PPID/status) \$(cut -d' ' -f14,15 /proc/\$PPID/stat) >$rssf; exit \$rc"
	case $server in
	ours) "$bdir/nbdserve" -image --run "$cmd" "$img" ;;
	ours-base) "$BASE" -image --run "$cmd" "$img" ;;
	qemu-nbd)
		local sock=$bdir/$prog-qemu-nbd.sock pidf=$bdir/$prog-qemu-nbd.pid
		rm -f "$sock" "$pidf"
		qemu-nbd -r -t -e 16 -f "$fmt" -k "$sock" --pid-file="$pidf" "$img" &
		local qpid=$! rc=0
		for _ in $(seq 200); do [ -S "$sock" ] && [ -s "$pidf" ] && break; sleep 0.05; done
		uri="nbd+unix:///?socket=$sock" sh -c "$4" || rc=$?
		echo "$(awk '/VmHWM/ { print $2 }' "/proc/$qpid/status") $(cut -d' ' -f14,15 "/proc/$qpid/stat")" >"$rssf"
		kill -TERM "$qpid"
		wait "$qpid" || true
		return $rc
		;;
	*) echo "$prog: no server $server" >&2; return 2 ;;
	esac
}

# nbd_client TEST. nbdcopy to null: (every data block is read, then
# dropped), 64 requests in flight per connection, over 1 connection or 4
# (--threads=4: nbdcopy caps the connections at its threads, which default
# to the number of cores); both servers report holes through
# base:allocation, so nbdcopy skips them alike. fio's nbd engine: 4 KiB
# random reads over the whole disk, time-based.
nbd_client() {
	local ct=$bdir/$prog.client.time fj=$bdir/$prog-fio.json
	local fio_args="--name=r --ioengine=nbd --rw=randread --bs=4k --time_based --runtime=${RUNTIME:-5} --randrepeat=1 --output-format=json"
	case $1 in
	"nbdcopy 1 conn") echo "t0=\$(date +%s%N); nbdcopy --connections=1 \"\$uri\" null:; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
	"nbdcopy 4 conns") echo "t0=\$(date +%s%N); nbdcopy --connections=4 --threads=4 \"\$uri\" null:; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
	"fio QD1") echo "fio $fio_args --iodepth=1 --uri=\"\$uri\" --output=$fj" ;;
	"fio QD16") echo "fio $fio_args --iodepth=16 --uri=\"\$uri\" --output=$fj" ;;
	*) echo "$prog: no test $1" >&2; return 2 ;;
	esac
}

nbd_rate() { # nbd_rate TEST SIZE_MIB
	case $1 in
	nbdcopy*) awk -v m="$2" 'NR==1 { printf "%.0f %.0f\n", m * 1.048576 / ($1 / 1e9), m * 1.048576 }' "$bdir/$prog.client.time" ;;
	fio*) python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"]; print("%.0f %d" % (sum(x["read"]["iops"] for x in j), sum(x["read"]["total_ios"] for x in j)))' "$bdir/$prog-fio.json" ;;
	esac
}
