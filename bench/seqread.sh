#!/usr/bin/env bash
# bench/seqread.sh qcow2|vmdk|vhd [BUILD_DIR] — one format family's full
# sequential read side by side with qemu's own tools, in one run, on the
# same images; qcow2.sh, vmdk.sh and vhd.sh run it. See bench/README.md.
#
#   qcow2  plain, zlib-compressed, zstd-compressed
#   vmdk   monolithicSparse, streamOptimized, monolithicFlat
#   vhd    VHD dynamic and fixed, VHDX dynamic with 1 and 32 MiB blocks,
#          VHDX fixed
#
# The source disk is `qcow2read -gen` (deterministic, disk-like: zeros,
# text, records, random runs), converted by qemu-img; every image must read
# back equal to it through image.Open (imgread -cat | cmp) before anything
# is timed. Routes, interleaved RUNS times (best wall time kept, with its
# CPU, and the smallest max RSS):
#   ours      bench/imgread IMAGE: 1 MiB reads through image.Open, in-process
#   ournbd    bench/nbdserve -image in captive mode, nbdcopy to null:
#             (wall, CPU and max RSS of both processes)
#   qemu-img  qemu-img convert to the null-co driver
#   nbd       qemu-nbd -r, nbdcopy to null: (wall of nbdcopy, CPU of
#             qemu-nbd + nbdcopy, max RSS of qemu-nbd)
#
#   RUNS=3        runs per route and image
#   SIZE_MIB=256  size of the source disk
#   REBUILD=1     remake the cached source and images
set -euo pipefail

family=${1:?usage: bench/seqread.sh qcow2|vmdk|vhd [BUILD_DIR]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${2:-$root/build/bench}
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
prog=$family.sh

# kinds: the images, in table order; file[K]: the image's name in $out;
# fmt[K]: qemu's format name; opts[K]: qemu-img convert's options.
declare -A file fmt opts
case $family in
qcow2)
	kinds=(plain zlib zstd)
	for k in "${kinds[@]}"; do file[$k]=qcow2-$k.qcow2 fmt[$k]=qcow2; done
	opts=([plain]="" [zlib]="-c" [zstd]="-c -o compression_type=zstd")
	;;
vmdk)
	kinds=(sparse stream flat)
	for k in "${kinds[@]}"; do file[$k]=vmdk-$k.vmdk fmt[$k]=vmdk; done
	opts=([sparse]="-o subformat=monolithicSparse" [stream]="-o subformat=streamOptimized"
		[flat]="-o subformat=monolithicFlat")
	;;
vhd)
	kinds=(vhd-dynamic vhd-fixed vhdx-1M vhdx-32M vhdx-fixed)
	for k in "${kinds[@]}"; do file[$k]=bench-$k.img; done
	fmt=([vhd-dynamic]=vpc [vhd-fixed]=vpc [vhdx-1M]=vhdx [vhdx-32M]=vhdx [vhdx-fixed]=vhdx)
	opts=([vhd-dynamic]="-o subformat=dynamic,force_size=on" [vhd-fixed]="-o subformat=fixed,force_size=on"
		[vhdx-1M]="-o subformat=dynamic,block_size=1M" [vhdx-32M]="-o subformat=dynamic,block_size=32M"
		[vhdx-fixed]="-o subformat=fixed")
	;;
*) echo "seqread.sh: no family $family (qcow2, vmdk or vhd)" >&2; exit 2 ;;
esac

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { echo "$prog: $1 not found (Debian package $2)" >&2; exit 1; }
}
need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need cmp diffutils
need bc bc
need go golang
[ -x /usr/bin/time ] || { echo "$prog: /usr/bin/time not found (Debian package time)" >&2; exit 1; }

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

# --- the images (cached) --------------------------------------------------
src=$out/$family-src.raw
stamp=$out/$family.stamp
want_stamp="size=$SIZE_MIB qemu=$(qemu-img --version | head -1)"
if [ "${REBUILD:-}" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
	echo "making a ${SIZE_MIB} MiB source disk and its $family images..."
	rm -f "$stamp"
	"$gen" -gen "$SIZE_MIB" "$src"
	for k in "${kinds[@]}"; do
		rm -f "$out/${file[$k]}" "$out/${file[$k]%.*}"-*.vmdk # a flat VMDK's extent file
		# shellcheck disable=SC2086 # opts[$k] is words
		qemu-img convert -f raw -O "${fmt[$k]}" ${opts[$k]} "$src" "$out/${file[$k]}"
	done
	echo "$want_stamp" >"$stamp"
fi
size=$(stat -c %s "$src")

# --- check before timing: our bytes are the source's ------------------------
for k in "${kinds[@]}"; do
	"$reader" -cat "$out/${file[$k]}" | cmp - "$src" ||
		{ echo "$prog: ${file[$k]} reads differently from the source" >&2; exit 1; }
done
echo "check: every image reads back equal to the source (cmp)"

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

# qemunbd IMAGE FORMAT FILE: qemu-nbd serves IMAGE read-only on a Unix
# socket, nbdcopy copies it to null:. FILE gets the client's wall time, the
# CPU time of both processes, and the server's max RSS.
qemunbd() {
	local img=$1 format=$2 f=$3 sock=$work/nbd.sock cw cu cs su ss sm
	rm -f "$sock"
	/usr/bin/time -f '0 %U %S %M' -o "$work/server.time" \
		qemu-nbd -r -e 4 -k "$sock" -f "$format" "$img" &
	server_pid=$!
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	[ -S "$sock" ] || { echo "$prog: qemu-nbd did not start" >&2; exit 1; }
	timed "$work/client.time" nbdcopy "nbd+unix:///?socket=$sock" null:
	wait "$server_pid" # qemu-nbd exits when its last client leaves
	server_pid=
	read -r cw cu cs _ <"$work/client.time"
	read -r _ su ss sm <"$work/server.time"
	echo "$cw $(echo "$cu + $su" | bc) $(echo "$cs + $ss" | bc) $sm" >"$f"
}

routes=(ours ournbd qemu-img nbd)
declare -A best
for k in "${kinds[@]}"; do
	img=$out/${file[$k]}
	for run in $(seq "$RUNS"); do
		# Interleave the routes so that a busy moment hurts all alike.
		for route in "${routes[@]}"; do
			f=$work/$k.$route.$run
			case $route in
			ours) timed "$f" "$reader" "$img" ;;
			ournbd) timed "$f" "$server" -image --run 'nbdcopy "$uri" null:' "$img" ;;
			qemu-img) timed "$f" qemu-img convert -n --target-image-opts -f "${fmt[$k]}" "$img" "driver=null-co,size=$size" ;;
			nbd) qemunbd "$img" "${fmt[$k]}" "$f" ;;
			esac
			read -r w u s m <"$f"
			key=$k.$route
			if [ -z "${best[$key]:-}" ] || (($(echo "$w < ${best[$key]%% *}" | bc))); then
				best[$key]="$w $u $s"
			fi
			if [ -z "${best[$key.rss]:-}" ] || ((m < best[$key.rss])); then
				best[$key.rss]=$m
			fi
		done
	done
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE_MIB} MiB virtual disk; best of $RUNS runs"
printf '%-12s %-30s %8s %8s %12s %10s %10s\n' image route "wall s" "cpu s" "max RSS MiB" "wall/ours" "cpu/ours"
for k in "${kinds[@]}"; do
	read -r ow ou os <<<"${best[$k.ours]}"
	ocpu=$(echo "$ou + $os" | bc)
	for route in "${routes[@]}"; do
		read -r w u s <<<"${best[$k.$route]}"
		cpu=$(echo "$u + $s" | bc)
		case $route in
		ours) name="image.Open (imgread)" ;;
		ournbd) name="nbdserve -image + nbdcopy" ;;
		qemu-img) name="qemu-img convert -> null-co" ;;
		nbd) name="qemu-nbd + nbdcopy -> null:" ;;
		esac
		printf '%-12s %-30s %8.3f %8.2f %12.1f %10s %10s\n' "$k" "$name" "$w" "$cpu" \
			"$(awk "BEGIN{print ${best[$k.$route.rss]} / 1024}")" \
			"$(awk "BEGIN{printf \"%.2fx\", $w / $ow}")" "$(awk "BEGIN{printf \"%.2fx\", $cpu / ($ocpu + 0.005)}")"
	done
done
echo "(ournbd: wall, CPU and max RSS of nbdserve + nbdcopy; nbd: wall of nbdcopy, CPU of qemu-nbd + nbdcopy, max RSS of qemu-nbd)"
