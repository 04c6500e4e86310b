#!/usr/bin/env bash
# formats.sh — every image format we read, served by our NBD server
# (bench/nbdserve -image: image.Open, then the format's package) side by
# side with qemu-nbd -r -f FMT on the same files, with the same clients:
# nbdcopy to /dev/null with 1 and 4 connections (MB/s of the virtual disk)
# and fio --ioengine=nbd 4 KiB random reads at QD1 and QD16 (IOPS).
#
# One source disk (bench/qcow2read -gen: a third random data, a third
# text-like, a third zeros, in runs of 4 KiB to 4 MiB) is converted by
# qemu-img into each format below; each image is checked first (nbdcopy of
# our export | cmp the source), then measured. REPS repetitions go round
# the two servers (the order alternates), the best of each is kept.
# Prints a table of rates and ours/qemu-nbd, the servers' CPU time per unit
# of work (from /proc/PID/stat when the client is done: every thread) and
# their peak RSS.
#
# Usage: bench/formats.sh [BUILD_DIR]
# Env: FORMATS="qcow2-zlib vmdk-stream" (default: all)  TESTS="fio QD1,fio QD16" (default: all)
#      RUNTIME=5 (fio seconds)  REPS=2  SIZE_MIB=512  REBUILD=1
#      BASE=PATH  also serve with that nbdserve binary (say, one built from an
#                 older commit) as ours-base, to measure a change before and
#                 after in one run
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
prog=formats.sh
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
export LC_ALL=C
reps=${REPS:-2}
size_mib=${SIZE_MIB:-512}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# name: qemu's format name, then qemu-img convert's output options.
all=(qcow2 qcow2-zlib qcow2-zstd vmdk-sparse vmdk-stream vmdk-flat vmdk-2gb
	vhd-dynamic vhd-fixed vhdx-1M vhdx-32M vhdx-fixed vdi-dynamic vdi-static)
declare -A spec=(
	[qcow2]="qcow2"
	[qcow2-zlib]="qcow2 -c"
	[qcow2-zstd]="qcow2 -c -o compression_type=zstd"
	[vmdk-sparse]="vmdk -o subformat=monolithicSparse"
	[vmdk-stream]="vmdk -o subformat=streamOptimized"
	[vmdk-flat]="vmdk -o subformat=monolithicFlat"
	[vmdk-2gb]="vmdk -o subformat=twoGbMaxExtentSparse"
	[vhd-dynamic]="vpc -o subformat=dynamic,force_size=on"
	[vhd-fixed]="vpc -o subformat=fixed,force_size=on"
	[vhdx-1M]="vhdx -o subformat=dynamic,block_size=1M"
	[vhdx-32M]="vhdx -o subformat=dynamic,block_size=32M"
	[vhdx-fixed]="vhdx -o subformat=fixed"
	[vdi-dynamic]="vdi"
	[vdi-static]="vdi -o static=on"
)
read -r -a formats <<<"${FORMATS:-${all[*]}}"
for f in "${formats[@]}"; do
	[ -n "${spec[$f]:-}" ] || { echo "$prog: unknown format $f (known: ${all[*]})" >&2; exit 2; }
done
tests=("${nbd_tests[@]}")
if [ -n "${TESTS:-}" ]; then
	IFS=, read -r -a tests <<<"$TESTS"
fi
servers=(ours qemu-nbd)
[ -z "${BASE:-}" ] || servers+=(ours-base)

need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need fio fio
need cmp diffutils
need python3 python3
need go golang
fio --enghelp=nbd >/dev/null 2>&1 || { echo "$prog: this fio has no nbd engine" >&2; exit 1; }

(cd "$root" && go build -o "$bdir/nbdserve" ./bench/nbdserve && go build -o "$bdir/qcow2read" ./bench/qcow2read)

# --- the images (cached, each with a stamp) ---------------------------------
fdir=$bdir/formats
mkdir -p "$fdir"
src=$fdir/src.raw
qv=$(qemu-img --version | head -1)
if [ -n "${REBUILD:-}" ] || [ ! -f "$src.stamp" ] || [ "$(cat "$src.stamp")" != "size=$size_mib" ]; then
	echo "making a $size_mib MiB source disk..." >&2
	rm -f "$src.stamp"
	"$bdir/qcow2read" -gen "$size_mib" "$src"
	echo "size=$size_mib" >"$src.stamp"
fi
for f in "${formats[@]}"; do
	d=$fdir/$f
	want="size=$size_mib $qv ${spec[$f]}"
	if [ -n "${REBUILD:-}" ] || [ ! -f "$d/stamp" ] || [ "$(cat "$d/stamp")" != "$want" ] || [ "$src" -nt "$d/stamp" ]; then
		echo "making $f..." >&2
		rm -rf "$d"
		mkdir -p "$d"
		# shellcheck disable=SC2086 # the options are words
		qemu-img convert -f raw -O ${spec[$f]} "$src" "$d/disk.img"
		echo "$want" >"$d/stamp"
	fi
done

# --- check before timing: our export is the source ------------------------
for f in "${formats[@]}"; do
	d=$fdir/$f
	"$bdir/nbdserve" -image --run 'nbdcopy "$uri" -' "$d/disk.img" | cmp - "$src" ||
		{ echo "$prog: $f served differently from the source" >&2; exit 1; }
	cat "$d"/* >/dev/null # warm the page cache for both servers alike
done
echo "check: ${formats[*]} served equal to the source (cmp)" >&2

# --- the runs --------------------------------------------------------------
declare -A rate rss cpu
hz=$(getconf CLK_TCK)
for f in "${formats[@]}"; do
	img=$fdir/$f/disk.img
	qfmt=${spec[$f]%% *}
	for t in "${tests[@]}"; do
		cmd=$(nbd_client "$t")
		for s in "${servers[@]}"; do rate[$f,$t,$s]=0 rss[$f,$t,$s]=0 cpu[$f,$t,$s]=; done
		for rep in $(seq "$reps"); do
			order=("${servers[@]}")
			((rep % 2)) || order=($(printf '%s\n' "${servers[@]}" | tac))
			for s in "${order[@]}"; do
				nbd_serve "$s" "$qfmt" "$img" "$cmd" >"$bdir/$prog.out" 2>&1 ||
					{ echo "$prog: $s, $f, $t failed:" >&2; cat "$bdir/$prog.out" >&2; exit 1; }
				read -r r work <<<"$(nbd_rate "$t" "$size_mib")"
				read -r m ut st <"$bdir/$prog.rss"
				# The server's CPU time per unit of work (µs per MB or per
				# read): a busy machine slows the rates, much less this.
				c=$(awk -v u="$ut" -v s="$st" -v hz="$hz" -v w="$work" 'BEGIN { printf "%.2f", (u + s) / hz * 1e6 / w }')
				((r > rate[$f,$t,$s])) && rate[$f,$t,$s]=$r
				((m > rss[$f,$t,$s])) && rss[$f,$t,$s]=$m
				if [ -z "${cpu[$f,$t,$s]}" ] || awk -v a="$c" -v b="${cpu[$f,$t,$s]}" 'BEGIN { exit !(a < b) }'; then
					cpu[$f,$t,$s]=$c
				fi
			done
		done
		for s in "${servers[@]}"; do echo "$f, $t, $s: ${rate[$f,$t,$s]} (${cpu[$f,$t,$s]} µs CPU)"; done >&2
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $size_mib MiB disk; best of $reps; fio ${RUNTIME:-5} s"
printf '%-12s %-16s %9s %9s %9s %9s %9s %9s %11s\n' format test ours qemu-nbd ratio "CPU ours" "CPU qemu" "CPU ratio" "RSS MiB"
for f in "${formats[@]}"; do
	for t in "${tests[@]}"; do
		printf '%-12s %-16s %9s %9s %9s %9s %9s %9s %11s\n' "$f" "$t" "${rate[$f,$t,ours]}" "${rate[$f,$t,qemu-nbd]}" \
			"$(ratio "${rate[$f,$t,ours]}" "${rate[$f,$t,qemu-nbd]}")" "${cpu[$f,$t,ours]}" "${cpu[$f,$t,qemu-nbd]}" \
			"$(ratio "${cpu[$f,$t,qemu-nbd]}" "${cpu[$f,$t,ours]}")" \
			"$((${rss[$f,$t,ours]} / 1024))/$((${rss[$f,$t,qemu-nbd]} / 1024))"
	done
done
echo "(rates: nbdcopy MB/s of the virtual disk, fio IOPS; ratio: ours/qemu-nbd, above 1x ours is faster;"
echo " CPU: the server's CPU time, µs per MB (nbdcopy) or per read (fio), and qemu-nbd's over ours;"
echo " RSS: the servers' peak, ours/qemu-nbd)"
echo
# summary OTHER: ours/OTHER rate (and OTHER's CPU per unit of work over
# ours), a line a format, a column a test
summary() {
	local o=$1 f t
	printf '%-12s' format
	for t in "${tests[@]}"; do printf ' %17s' "$t"; done
	echo
	for f in "${formats[@]}"; do
		printf '%-12s' "$f"
		for t in "${tests[@]}"; do
			printf ' %17s' "$(ratio "${rate[$f,$t,ours]}" "${rate[$f,$t,$o]}") ($(ratio "${cpu[$f,$t,$o]}" "${cpu[$f,$t,ours]}"))"
		done
		echo
	done
}
echo "ours/qemu-nbd rate (and CPU per unit of work, qemu-nbd/ours), one line a format:"
summary qemu-nbd
if [ -n "${BASE:-}" ]; then
	echo
	echo "ours/ours-base ($BASE) rate (and CPU per unit of work, base/ours):"
	summary ours-base
fi
