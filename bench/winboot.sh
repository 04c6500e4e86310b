#!/usr/bin/env bash
# winboot.sh — the Windows-shaped boots of testimages/winboot.sh (UEFI/GPT
# and BIOS/MBR, Linux from NTFS) timed through bmaplogger against nbdkit's
# log filter, interleaved, same qemu command line (TCG, virtio, read-only).
#
# Builds once (cached in BUILD_DIR/winboot, default build/bench) the two
# disks, and bmaplogger. Then RUNS times (default 3), for each disk, in
# alternating order:
#   nbdkit:  nbdkit -r -U - --filter=log file IMAGE logfile=LOG --run QEMU
#   ours:    bmaplogger -q --json TRACE IMAGE --run QEMU
# timing the whole captive run (server start, the map built at start-up
# for ours, the boot, the exit). Each run must print the guest's
# VIRT-BMAP-WINBOOT-OK line and exit 0, or the script fails; ours' trace
# must hold an event per request nbdkit logged, within 1 % (a boot does
# not read exactly the same each time). Prints, per disk, the median
# wall time of each route and the ratio ours/nbdkit.
#
# Usage: bench/winboot.sh [BUILD_DIR]
# Env:   RUNS=3 REBUILD=1
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
runs=${RUNS:-3}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "winboot.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need nbdkit nbdkit
need qemu-system-x86_64 qemu-system-x86
need go golang

img=$bdir/winboot
if [ -n "${REBUILD:-}" ] || [ ! -f "$img/uefi.img" ] || [ ! -f "$img/bios.img" ]; then
	bash "$root/testimages/winboot.sh" "$img"
fi
bin=$bdir/bmaplogger
(cd "$root" && go build -o "$bin" ./cmd/bmaplogger)

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-winboot-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

qemu_for() { # qemu_for DISK: the qemu command line, $uri left to the server
	local q="qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -nic none"
	if [ "$1" = uefi ]; then
		q="$q -drive if=pflash,format=raw,unit=0,readonly=on,file=$img/code.fd -drive if=pflash,format=raw,unit=1,file=$work/vars.fd"
	fi
	echo "$q -drive file=\$uri,format=raw,if=virtio,readonly=on"
}

now() { date +%s.%N; }

# run ROUTE DISK: one boot; prints the wall seconds and the request count.
run() {
	local route=$1 disk=$2 q t0 t1 n
	q=$(qemu_for "$disk")
	cp "$img/vars.fd" "$work/vars.fd"
	rm -f "$work/log" "$work/trace.ndjson"
	t0=$(now)
	case $route in
	nbdkit) nbdkit -r -U - --filter=log file "$img/$disk.img" logfile="$work/log" --run "$q" >"$work/out" 2>&1 ;;
	ours) "$bin" -q --json "$work/trace.ndjson" "$img/$disk.img" --run "$q" >"$work/out" 2>&1 ;;
	esac || {
		tail -20 "$work/out" >&2
		echo "winboot.sh: $route $disk: exit status $?" >&2
		exit 1
	}
	t1=$(now)
	grep -q VIRT-BMAP-WINBOOT-OK "$work/out" || {
		tail -20 "$work/out" >&2
		echo "winboot.sh: $route $disk: the guest did not finish its boot" >&2
		exit 1
	}
	case $route in
	nbdkit) n=$(grep -c " Read id=.*offset=" "$work/log" || true) ;; # "Read id=N offset=..." (and a "...Read id=N return" line)
	ours) n=$(($(wc -l <"$work/trace.ndjson") - 1)) ;;
	esac
	echo "$(echo "$t1 - $t0" | bc -l) $n"
}

need bc bc
declare -A times=() reqs=()
for i in $(seq 1 "$runs"); do
	for disk in uefi bios; do
		if [ $((i % 2)) = 1 ]; then order="nbdkit ours"; else order="ours nbdkit"; fi
		for route in $order; do
			read -r s n < <(run "$route" "$disk")
			times[$route.$disk]="${times[$route.$disk]:-} $s"
			reqs[$route.$disk]=$n
			printf 'run %d %-6s %-4s %6.1f s %6d requests\n' "$i" "$route" "$disk" "$s" "$n" >&2
		done
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '%-5s %12s %12s %7s %16s %16s\n' disk "nbdkit (s)" "ours (s)" ratio "nbdkit requests" "ours requests"
for disk in uefi bios; do
	a=$(echo "${times[nbdkit.$disk]}" | median)
	b=$(echo "${times[ours.$disk]}" | median)
	printf '%-5s %12.1f %12.1f %7.3f %16s %16s\n' "$disk" "$a" "$b" "$(echo "$b / $a" | bc -l)" "${reqs[nbdkit.$disk]}" "${reqs[ours.$disk]}"
	na=${reqs[nbdkit.$disk]} nb=${reqs[ours.$disk]}
	if [ $((nb * 100)) -lt $((na * 99)) ] || [ $((nb * 100)) -gt $((na * 101)) ]; then
		echo "winboot.sh: $disk: ours traced $nb requests, nbdkit logged $na" >&2
		exit 1
	fi
done
