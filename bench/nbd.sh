#!/usr/bin/env bash
# nbd.sh — package nbd (bench/nbdserve) against nbdkit's file plugin and
# qemu-nbd -r, side by side in one run, with the same clients.
#
# Builds once (cached in BUILD_DIR, default build/bench) a deterministic
# 2 GiB sparse-ish raw image: 16 runs of 64 MiB of AES-CTR keystream (fixed
# key, so the bytes are the same on every machine), one every 128 MiB, and
# holes between them (1 GiB data, 1 GiB holes). The image is read once to
# warm the page cache, then for each server, each in a fresh process over a
# private Unix socket:
#   nbdcopy to null: (which reads every data block and drops it), with
#     --connections=1 and with --connections=4 --threads=4 (nbdcopy caps the
#     connections at its threads, which default to the number of cores),
#     64 requests in flight per connection; and nbdcopy to a pipe (stdout
#     into /dev/null), which nbdcopy copies synchronously over one
#     connection, one request at a time, so it measures the round trip
#     (MB/s of the 2 GiB image; all three servers report the holes through
#     base:allocation, so nbdcopy skips them alike), timed in ns;
#   fio --ioengine=nbd, 4 KiB random reads, --iodepth=1 and --iodepth=16,
#     --time_based --runtime=RUNTIME (IOPS).
# The client is timed inside captive mode;
# the server's peak RSS is its VmHWM read when the client is done, and its
# CPU time (user + system) then gives the server's CPU per IO (fio) or per
# copy (nbdcopy): a figure that depends less on the other load of the
# machine than the rates do. qemu-nbd has no
# captive mode: it runs with --pid-file and -e 16 (16 shared connections)
# and is stopped by that pid. Tracing is off in ours (no OnRead hook).
# Each measurement is repeated REPS times (default 3, going round the
# servers) and the best kept. BASE=PATH adds a row "ours-base" served by
# another nbdserve binary (say, one built from an older commit), so a
# change is measured before and after in the same run.
# Prints a table: rate, ratio to nbdkit and to qemu-nbd, server max RSS,
# server CPU (the least of the repetitions).
#
# Usage: bench/nbd.sh [BUILD_DIR]   Env: RUNTIME=10 REPS=3 REBUILD=1 BASE=
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
export LC_ALL=C
runtime=${RUNTIME:-10}
reps=${REPS:-3}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "nbd.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need nbdkit nbdkit
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need fio fio
need openssl openssl
need go golang
fio --enghelp=nbd >/dev/null 2>&1 || { echo "nbd.sh: this fio has no nbd engine" >&2; exit 1; }

(cd "$root" && go build -o "$bdir/nbdserve" ./bench/nbdserve)

img=$bdir/nbd-2g.img
if [ ! -f "$img" ] || [ -n "${REBUILD:-}" ]; then
	echo "building $img" >&2
	rm -f "$img"
	truncate -s 2G "$img"
	openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 </dev/zero 2>/dev/null |
		head -c $((64 << 20)) >"$bdir/nbd-run.bin" || true # openssl dies of SIGPIPE
	[ "$(stat -c %s "$bdir/nbd-run.bin")" -eq $((64 << 20)) ] || { echo "nbd.sh: openssl gave no keystream" >&2; exit 1; }
	for i in $(seq 0 15); do
		dd if="$bdir/nbd-run.bin" of="$img" bs=1M seek=$((i * 128)) conv=notrunc status=none
	done
	rm -f "$bdir/nbd-run.bin"
fi
cat "$img" >/dev/null # warm the page cache for every server alike

ct=$bdir/nbd.client.time
st=$bdir/nbd.server.time
sock=$bdir/qemu-nbd.sock
pidf=$bdir/qemu-nbd.pid

# srvstat PID: the server's peak RSS (VmHWM, KiB) and CPU time (user +
# system, clock ticks) so far: of PID and of the processes of its process
# group with the same name, since nbdkit --run serves from a child of the
# process that runs the command (largest RSS, summed CPU).
srvstat=$bdir/nbd-srvstat.sh
cat >"$srvstat" <<'EOF'
comm=$(cat /proc/$1/comm) g=$(ps -o pgid= -p "$1" | tr -d ' ')
for p in $(ps -e -o pid=,pgid=,comm= | awk -v g="$g" -v c="$comm" '$2 == g && $3 == c { print $1 }'); do
	echo "$(awk '/VmHWM/ { print $2 }' /proc/$p/status) $(cut -d' ' -f14,15 /proc/$p/stat)"
done | awk '$1 > m { m = $1 } { t += $2 + $3 } END { print m + 0, t + 0 }'
EOF

# serve SERVER CMD: run CMD (which sees $uri) against a fresh SERVER and
# write the server's srvstat into $st. /usr/bin/time cannot give it in
# captive mode: it covers the client child too. In captive mode the
# command's parent ($PPID) is the server (or, for nbdkit, its parent).
serve() {
	local server=$1 cmd="$2; rc=\$?; sh $srvstat \$PPID >$st; exit \$rc"
	case $server in
	ours) "$bdir/nbdserve" --run "$cmd" "$img" ;;
	ours-base) "$BASE" --run "$cmd" "$img" ;;
	nbdkit) nbdkit -U - file "$img" --run "$cmd" ;;
	qemu-nbd)
		rm -f "$sock" "$pidf"
		qemu-nbd -r -t -e 16 -f raw -k "$sock" --pid-file="$pidf" "$img" &
		local qpid=$!
		for _ in $(seq 200); do [ -S "$sock" ] && [ -s "$pidf" ] && break; sleep 0.05; done
		local rc=0
		uri="nbd+unix:///?socket=$sock" sh -c "$2" || rc=$?
		sh "$srvstat" "$qpid" >"$st"
		kill -TERM "$qpid"
		wait "$qpid" || true
		return $rc
		;;
	esac
}

declare -A rate rss cpu
tests=("nbdcopy 1 conn" "nbdcopy 4 conns" "nbdcopy pipe" "fio QD1" "fio QD16")
servers=(ours nbdkit qemu-nbd)
[ -z "${BASE:-}" ] || servers+=(ours-base)
fio_args="--name=r --ioengine=nbd --rw=randread --bs=4k --time_based --runtime=$runtime --randrepeat=1 --output-format=json"

for t in "${tests[@]}"; do
	for s in "${servers[@]}"; do
		rate[$t,$s]=0 rss[$t,$s]=0 cpu[$t,$s]=
	done
	# Repetitions go round the servers, so a busy moment of the machine
	# hits every server alike.
	for _ in $(seq "$reps"); do
		for s in "${servers[@]}"; do
			case $t in
			"nbdcopy 1 conn") cmd="t0=\$(date +%s%N); nbdcopy --connections=1 \"\$uri\" null:; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
			"nbdcopy 4 conns") cmd="t0=\$(date +%s%N); nbdcopy --connections=4 --threads=4 \"\$uri\" null:; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
			"nbdcopy pipe") cmd="t0=\$(date +%s%N); nbdcopy \"\$uri\" - >/dev/null; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
			"fio QD1") cmd="fio $fio_args --iodepth=1 --uri=\"\$uri\" --output=$bdir/fio.json" ;;
			"fio QD16") cmd="fio $fio_args --iodepth=16 --uri=\"\$uri\" --output=$bdir/fio.json" ;;
			esac
			serve "$s" "$cmd" >"$bdir/nbd.out" 2>&1 || { echo "nbd.sh: $s, $t failed:" >&2; cat "$bdir/nbd.out" >&2; exit 1; }
			case $t in
			nbdcopy*) r=$(awk 'NR==1 { printf "%.0f", 2048 / ($1 / 1e9) }' "$ct") ;;
			fio*) r=$(python3 -c 'import json,sys; print("%.0f" % sum(j["read"]["iops"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$bdir/fio.json") ;;
			esac
			read -r m ticks <"$st"
			# Server CPU: microseconds per IO (fio), seconds per copy
			# (nbdcopy); the least of the repetitions.
			case $t in
			nbdcopy*) c=$(awk -v t="$ticks" 'BEGIN { printf "%.2f", t / 100 }') ;;
			fio*) c=$(awk -v t="$ticks" -v r="$r" -v s="$runtime" 'BEGIN { printf "%.2f", t * 1e4 / (r * s) }') ;;
			esac
			[ "$r" -gt "${rate[$t,$s]}" ] && rate[$t,$s]=$r
			[ "$m" -gt "${rss[$t,$s]}" ] && rss[$t,$s]=$m
			if [ -z "${cpu[$t,$s]}" ] || awk -v a="$c" -v b="${cpu[$t,$s]}" 'BEGIN { exit !(a < b) }'; then cpu[$t,$s]=$c; fi
		done
	done
	for s in "${servers[@]}"; do
		echo "$t, $s: ${rate[$t,$s]} (max RSS $((${rss[$t,$s]} / 1024)) MiB, server CPU ${cpu[$t,$s]})" >&2
	done
done

printf '\n%-16s %-9s %12s %10s %12s %14s %12s\n' test server "MB/s|IOPS" "/nbdkit" "/qemu-nbd" "server RSS MiB" "server CPU"
for t in "${tests[@]}"; do
	case $t in nbdcopy*) unit=s ;; fio*) unit=us/IO ;; esac
	for s in "${servers[@]}"; do
		printf '%-16s %-9s %12s %10s %12s %14s %12s\n' "$t" "$s" "${rate[$t,$s]}" \
			"$(awk -v a="${rate[$t,$s]}" -v b="${rate[$t,nbdkit]}" 'BEGIN { printf "%.2fx", a / b }')" \
			"$(awk -v a="${rate[$t,$s]}" -v b="${rate[$t,qemu-nbd]}" 'BEGIN { printf "%.2fx", a / b }')" \
			"$((${rss[$t,$s]} / 1024))" "${cpu[$t,$s]} $unit"
	done
done
