#!/usr/bin/env bash
# bench/vmdk.sh [BUILD_DIR] — image/vmdk's full sequential read of VMDK
# images side by side with qemu's own tools, in one run, on the same
# images (monolithicSparse, streamOptimized, monolithicFlat). See
# bench/README.md.
#
#   RUNS=3        runs per route and image (best wall time kept)
#   SIZE_MIB=256  size of the source disk
#   REBUILD=1     remake the cached source and images
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/bench}
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { echo "vmdk.sh: $1 not found (Debian package $2)" >&2; exit 1; }
}
need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need cmp diffutils
need go golang
[ -x /usr/bin/time ] || { echo "vmdk.sh: /usr/bin/time not found (Debian package time)" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

reader=$out/imgread
gen=$out/qcow2read # its -gen makes the same source disk as qcow2.sh's
(cd "$root" && go build -trimpath -o "$reader" ./bench/imgread && go build -trimpath -o "$gen" ./bench/qcow2read)

kinds="sparse stream flat"
sub() {
	case $1 in
	sparse) echo monolithicSparse ;;
	stream) echo streamOptimized ;;
	flat) echo monolithicFlat ;;
	esac
}

# --- the images (cached) --------------------------------------------------
src=$out/vmdk-src.raw
stamp=$out/vmdk.stamp
want_stamp="size=$SIZE_MIB qemu=$(qemu-img --version | head -1)"
if [ "${REBUILD:-}" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
	echo "making a ${SIZE_MIB} MiB source disk and its VMDK images..."
	rm -f "$stamp"
	"$gen" -gen "$SIZE_MIB" "$src"
	for kind in $kinds; do
		rm -f "$out/vmdk-$kind"*.vmdk
		qemu-img convert -f raw -O vmdk -o subformat="$(sub "$kind")" "$src" "$out/vmdk-$kind.vmdk"
	done
	echo "$want_stamp" >"$stamp"
fi
size=$(stat -c %s "$src")

# --- check before timing: our bytes are the source's ------------------------
for kind in $kinds; do
	"$reader" -cat "$out/vmdk-$kind.vmdk" | cmp - "$src" ||
		{ echo "vmdk.sh: vmdk-$kind.vmdk reads differently from the source" >&2; exit 1; }
done
echo "check: all three images read back equal to the source (cmp)"

# --- timing ---------------------------------------------------------------
# timed FILE CMD... runs CMD under /usr/bin/time; FILE gets "wall user sys
# maxrss_kb". The wall time is taken with date +%s%N around it: /usr/bin/time
# only gives hundredths of a second.
timed() {
	local f=$1 t0 t1 u s m
	shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$f.t" "$@" >/dev/null
	t1=$(date +%s%N)
	read -r u s m <"$f.t"
	echo "$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}") $u $s $m" >"$f"
}

# nbd IMAGE FILE: qemu-nbd serves IMAGE read-only on a Unix socket, nbdcopy
# copies it to null:. FILE gets the client's wall time, the CPU time of
# both processes, and the server's max RSS.
nbd() {
	local img=$1 f=$2 sock=$work/nbd.sock
	rm -f "$sock"
	/usr/bin/time -f '0 %U %S %M' -o "$work/server.time" \
		qemu-nbd -r -e 4 -k "$sock" -f vmdk "$img" &
	server_pid=$!
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "vmdk.sh: qemu-nbd did not start" >&2; exit 1; }
	timed "$work/client.time" nbdcopy "nbd+unix:///?socket=$sock" null:
	wait "$server_pid" # qemu-nbd exits when its last client leaves
	server_pid=
	read -r cw cu cs _ <"$work/client.time"
	read -r _ su ss sm <"$work/server.time"
	echo "$cw $(echo "$cu + $su" | bc) $(echo "$cs + $ss" | bc) $sm" >"$f"
}

routes=(ours qemu-img nbd)
declare -A best
for kind in $kinds; do
	img=$out/vmdk-$kind.vmdk
	for run in $(seq "$RUNS"); do
		# Interleave the routes so that a busy moment hurts all alike.
		for route in "${routes[@]}"; do
			f=$work/$kind.$route.$run
			case $route in
			ours) timed "$f" "$reader" "$img" ;;
			qemu-img) timed "$f" qemu-img convert -n --target-image-opts -f vmdk "$img" "driver=null-co,size=$size" ;;
			nbd) nbd "$img" "$f" ;;
			esac
			read -r w u s m <"$f"
			k=$kind.$route
			if [ -z "${best[$k]:-}" ] || (($(echo "$w < ${best[$k]%% *}" | bc))); then
				best[$k]="$w $u $s"
			fi
			if [ -z "${best[$k.rss]:-}" ] || ((m < best[$k.rss])); then
				best[$k.rss]=$m
			fi
		done
	done
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE_MIB} MiB virtual disk; best of $RUNS runs"
printf '%-6s %-32s %8s %8s %12s %10s %10s\n' image route "wall s" "cpu s" "max RSS MiB" "wall/ours" "cpu/ours"
for kind in $kinds; do
	read -r ow ou os <<<"${best[$kind.ours]}"
	ocpu=$(echo "$ou + $os" | bc)
	for route in "${routes[@]}"; do
		read -r w u s <<<"${best[$kind.$route]}"
		cpu=$(echo "$u + $s" | bc)
		case $route in
		ours) name="image/vmdk (imgread)" ;;
		qemu-img) name="qemu-img convert -> null-co" ;;
		nbd) name="qemu-nbd + nbdcopy -> null:" ;;
		esac
		printf '%-6s %-32s %8.3f %8.2f %12.1f %10s %10s\n' "$kind" "$name" "$w" "$cpu" \
			"$(awk "BEGIN{print ${best[$kind.$route.rss]} / 1024}")" \
			"$(awk "BEGIN{printf \"%.2fx\", $w / $ow}")" "$(awk "BEGIN{printf \"%.2fx\", $cpu / ($ocpu + 0.005)}")"
	done
done
echo "(nbd: wall time of nbdcopy, CPU of qemu-nbd + nbdcopy, max RSS of qemu-nbd)"
