#!/usr/bin/env bash
# bench/vhd.sh [BUILD_DIR] — image/vhd and image/vhdx full sequential reads
# side by side with qemu's own tools on the same images (VHD dynamic and
# fixed, VHDX dynamic with 1 and 32 MiB blocks, VHDX fixed). See
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
	command -v "$1" >/dev/null 2>&1 || { echo "vhd.sh: $1 not found (Debian package $2)" >&2; exit 1; }
}
need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need cmp diffutils
need go golang
[ -x /usr/bin/time ] || { echo "vhd.sh: /usr/bin/time not found (Debian package time)" >&2; exit 1; }

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
gen=$out/qcow2read
server=$out/nbdserve
(cd "$root" && go build -trimpath -o "$reader" ./bench/imgread && go build -trimpath -o "$gen" ./bench/qcow2read &&
	go build -trimpath -o "$server" ./bench/nbdserve)

kinds=(vhd-dynamic vhd-fixed vhdx-1M vhdx-32M vhdx-fixed)
declare -A fmt=([vhd-dynamic]=vpc [vhd-fixed]=vpc [vhdx-1M]=vhdx [vhdx-32M]=vhdx [vhdx-fixed]=vhdx)
declare -A opts=([vhd-dynamic]=subformat=dynamic,force_size=on [vhd-fixed]=subformat=fixed,force_size=on
	[vhdx-1M]=subformat=dynamic,block_size=1M [vhdx-32M]=subformat=dynamic,block_size=32M [vhdx-fixed]=subformat=fixed)

# --- the images (cached) --------------------------------------------------
src=$out/vhd-src.raw
stamp=$out/vhd.stamp
want_stamp="size=$SIZE_MIB qemu=$(qemu-img --version | head -1)"
if [ "${REBUILD:-}" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
	echo "making a ${SIZE_MIB} MiB source disk and its VHD and VHDX images..."
	rm -f "$stamp"
	"$gen" -gen "$SIZE_MIB" "$src"
	for k in "${kinds[@]}"; do
		qemu-img convert -f raw -O "${fmt[$k]}" -o "${opts[$k]}" "$src" "$out/bench-$k.img"
	done
	echo "$want_stamp" >"$stamp"
fi
size=$(stat -c %s "$src")

# --- check before timing: our bytes are the source's ------------------------
for k in "${kinds[@]}"; do
	"$reader" -cat "$out/bench-$k.img" | cmp - "$src" ||
		{ echo "vhd.sh: $k reads differently from the source" >&2; exit 1; }
done
echo "check: every image reads back equal to the source (cmp)"

timed() {
	local f=$1 t0 t1 u s m
	shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$f.t" "$@" >/dev/null
	t1=$(date +%s%N)
	read -r u s m <"$f.t"
	echo "$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}") $u $s $m" >"$f"
}

# nbd IMAGE FORMAT FILE: qemu-nbd serves IMAGE read-only on a Unix socket,
# nbdcopy copies it to null:.
nbd() {
	local img=$1 format=$2 f=$3 sock=$work/nbd.sock
	rm -f "$sock"
	/usr/bin/time -f '0 %U %S %M' -o "$work/server.time" \
		qemu-nbd -r -e 4 -k "$sock" -f "$format" "$img" &
	server_pid=$!
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "vhd.sh: qemu-nbd did not start" >&2; exit 1; }
	timed "$work/client.time" nbdcopy "nbd+unix:///?socket=$sock" null:
	wait "$server_pid"
	server_pid=
	read -r cw cu cs _ <"$work/client.time"
	read -r _ su ss sm <"$work/server.time"
	echo "$cw $(echo "$cu + $su" | bc) $(echo "$cs + $ss" | bc) $sm" >"$f"
}

# ournbd IMAGE FILE: our NBD server (bench/nbdserve -image, package nbd
# over image.Open) in captive mode, nbdcopy copying to null: — the same
# job as the qemu-nbd route. Wall and CPU are both processes'.
ournbd() {
	timed "$2" "$server" -image --run 'nbdcopy "$uri" null:' "$1"
}

routes=(ours ournbd qemu-img nbd)
declare -A best
for k in "${kinds[@]}"; do
	img=$out/bench-$k.img
	for run in $(seq "$RUNS"); do
		for route in "${routes[@]}"; do
			f=$work/$k.$route.$run
			case $route in
			ours) timed "$f" "$reader" "$img" ;;
			ournbd) ournbd "$img" "$f" ;;
			qemu-img) timed "$f" qemu-img convert -n --target-image-opts -f "${fmt[$k]}" "$img" "driver=null-co,size=$size" ;;
			nbd) nbd "$img" "${fmt[$k]}" "$f" ;;
			esac
			read -r w u s m <"$f"
			key=$k.$route
			if [ -z "${best[$key]:-}" ] || (($(echo "$w < ${best[$key]%% *}" | bc))); then
				best[$key]="$w $u $s"
			fi
		done
	done
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE_MIB} MiB virtual disk; best of $RUNS runs"
printf '%-12s %-30s %8s %8s %10s %10s\n' image route "wall s" "cpu s" "wall/ours" "cpu/ours"
for k in "${kinds[@]}"; do
	read -r ow ou os <<<"${best[$k.ours]}"
	ocpu=$(echo "$ou + $os" | bc)
	for route in "${routes[@]}"; do
		read -r w u s <<<"${best[$k.$route]}"
		cpu=$(echo "$u + $s" | bc)
		case $route in
		ours) name="image (imgread)" ;;
		ournbd) name="nbdserve -image + nbdcopy" ;;
		qemu-img) name="qemu-img convert -> null-co" ;;
		nbd) name="qemu-nbd + nbdcopy -> null:" ;;
		esac
		printf '%-12s %-30s %8.3f %8.2f %10s %10s\n' "$k" "$name" "$w" "$cpu" \
			"$(awk "BEGIN{printf \"%.2fx\", $w / $ow}")" "$(awk "BEGIN{printf \"%.2fx\", $cpu / ($ocpu + 0.005)}")"
	done
done
echo "(nbd: wall time of nbdcopy, CPU of qemu-nbd + nbdcopy; nbdserve: wall and CPU of server and nbdcopy)"
