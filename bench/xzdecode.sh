#!/usr/bin/env bash
# xzdecode.sh — single-core xz decoding: ours (image/xz with image/xz/lzma2)
# against liblzma (`xz -T1 -dc`) and github.com/ulikunitz/xz, side by side.
#
# Builds once (cached in BUILD_DIR, default build/bench) a file of
# realistic disk-image content: the first SIZE_MIB MiB (default 128) of a
# tar of /usr/lib (ELF libraries, Python, Perl, data files), compressed
# with `xz -6 -T2 --block-size=1MiB`. FILE=some.xz uses that file instead.
# Then, in ROUNDS (default 5) interleaved rounds, each of:
#   xz -T1 -dc FILE > /dev/null
#   bench/xzdecode -impl ours FILE        (GOMAXPROCS=1, every block decoded
#                                          whole and its check verified)
#   bench/xzdecode -impl ulikunitz FILE   (GOMAXPROCS=1)
# under /usr/bin/time (wall and CPU = user + sys). Ours and ulikunitz must
# give the SHA-256 of `xz -dc`, checked once first. Prints the median
# wall and CPU seconds of each, MB/s, and the throughput ratios ours/xz and
# ours/ulikunitz, from CPU time (the fair measure on a shared machine,
# where wall time includes waiting for a core) and from wall time.
#
# Usage: bench/xzdecode.sh [BUILD_DIR]
# Env: SIZE_MIB=128 ROUNDS=5 FILE= REBUILD=1
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin
export LC_ALL=C
size_mib=${SIZE_MIB:-128}
rounds=${ROUNDS:-5}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "xzdecode.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need xz xz-utils
need go golang
need tar tar
[ -x /usr/bin/time ] || { echo "xzdecode.sh: /usr/bin/time not found: install the Debian package 'time'" >&2; exit 1; }

dec=$bdir/xzdecode
(cd "$root" && go build -o "$dec" ./bench/xzdecode)

file=${FILE:-}
if [ -z "$file" ]; then
	file=$bdir/usrlib.${size_mib}m.xz
	stamp=$bdir/usrlib.stamp
	version="usrlib v1: tar -C /usr/lib | head -c ${size_mib}MiB; xz -6 -T2 --block-size=1MiB"
	if [ -n "${REBUILD:-}" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$version" ] || [ ! -f "$file" ]; then
		echo "xzdecode.sh: making $file (a minute or two, once)" >&2
		rm -f "$stamp"
		(tar -cf - -C /usr/lib . 2>/dev/null || true) | head -c $((size_mib << 20)) |
			xz -6 -T2 --block-size=1MiB -c >"$file"
		echo "$version" >"$stamp"
	fi
fi
size=$(xz -dc "$file" | wc -c)
want=$(xz -dc "$file" | sha256sum | cut -d' ' -f1)
for impl in ours ulikunitz; do
	got=$("$dec" -impl $impl -sum "$file" | grep -o 'sha256=[0-9a-f]*' | cut -d= -f2)
	[ "$got" = "$want" ] || { echo "xzdecode.sh: $impl decodes to sha256 $got, xz -dc to $want" >&2; exit 1; }
done
echo "file: $file ($(stat -L -c %s "$file") bytes, $size uncompressed, $(xz -l "$file" | awk 'NR==2 {print $2}') blocks); $rounds rounds" >&2

tm=$bdir/xzdecode.time
declare -A wall cpu
# one NAME CMD...: run once, append wall and cpu seconds.
one() {
	local name=$1
	shift
	/usr/bin/time -o "$tm" -f "%e %U %S" "$@" >/dev/null
	local w u s
	read -r w u s <"$tm"
	wall[$name]+="$w "
	cpu[$name]+="$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') "
}
for r in $(seq "$rounds"); do
	one xz xz -T1 -dc "$file"
	one ours env GOMAXPROCS=1 "$dec" -impl ours "$file"
	one ulikunitz env GOMAXPROCS=1 "$dec" -impl ulikunitz "$file"
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A mw mc
printf '%-10s %9s %9s %11s %11s\n' decoder wall_s cpu_s MB/s_wall MB/s_cpu
for n in xz ours ulikunitz; do
	mw[$n]=$(echo "${wall[$n]}" | median)
	mc[$n]=$(echo "${cpu[$n]}" | median)
	awk -v n="$n" -v w="${mw[$n]}" -v c="${mc[$n]}" -v s="$size" \
		'BEGIN { printf "%-10s %9.2f %9.2f %11.1f %11.1f\n", n, w, c, s / w / 1e6, s / c / 1e6 }'
done
awk -v xw="${mw[xz]}" -v xc="${mc[xz]}" -v ow="${mw[ours]}" -v oc="${mc[ours]}" -v uw="${mw[ulikunitz]}" -v uc="${mc[ulikunitz]}" 'BEGIN {
	printf "ours/xz        throughput: %.2fx (CPU time), %.2fx (wall)\n", xc / oc, xw / ow
	printf "ours/ulikunitz throughput: %.2fx (CPU time), %.2fx (wall)\n", uc / oc, uw / ow
}'
