#!/usr/bin/env bash
# xz.sh — image/xz against xz-utils and nbdkit's xz filter, side by side.
#
# Builds once (cached in BUILD_DIR, default build/bench) a deterministic
# disk-like image of SIZE_MIB MiB (default 256; `xzread gen`: zeros, text,
# records, code-like and random runs) and compresses it with
# `xz -6 -T2 --block-size=1MiB` and `--block-size=4MiB`. Then, for each
# file, in one run:
#   sequential: xz -dc -T1 and -T0 to /dev/null; nbdkit --filter=xz with
#     nbdcopy to null: over 1 connection and over 4 (-C 4 -T 4; nbdcopy caps
#     the connections at its threads, which default to the cores); ours:
#     xzread seq with 1 and 4 readers (256 KiB reads, through image/xz,
#     default options: 256 MiB cache, read-ahead 4, GOMAXPROCS workers);
#   random 4 KiB reads (RAND_N of them, default 1000): nbdkit + fio's nbd
#     engine with 1 and 4 jobs (one connection each); ours: xzread rand
#     with 1 and 4 readers, default cache and a 64 MiB cache (a quarter of
#     the image, so most reads miss);
#   ours over NBD: bench/nbdserve -image (package nbd serving image/xz,
#     default options) read by the SAME clients as nbdkit's rows
#     (nbdcopy -C 1 and -C 4 -T 4 to null:, fio's nbd engine with 1 and 4
#     jobs), each right after the nbdkit row it is compared with;
# each under /usr/bin/time (wall, user, max RSS; in captive mode these
# cover the server and the client alike, for nbdkit's rows too). Our
# xzread sequential reads must give the SHA-256 of `xz -dc`, or the
# script fails. Prints a table
# with MB/s or IOPS and the ratio to the nbdkit row of the same kind.
#
# Usage: bench/xz.sh [BUILD_DIR]
# Env: SIZE_MIB=256 RAND_N=1000 REBUILD=1 ROUTES=all (ROUTES=nbd: only the
#      NBD rows, nbdkit's and ours)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
export LC_ALL=C
size_mib=${SIZE_MIB:-256}
rand_n=${RAND_N:-1000}
routes=${ROUTES:-all}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "xz.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need xz xz-utils
need nbdkit nbdkit
need nbdcopy libnbd-bin
need fio fio
need go golang
[ -x /usr/bin/time ] || { echo "xz.sh: /usr/bin/time not found: install the Debian package 'time'" >&2; exit 1; }
fio --enghelp=nbd >/dev/null 2>&1 || { echo "xz.sh: this fio has no nbd engine" >&2; exit 1; }

xzread=$bdir/xzread
nbdserve=$bdir/nbdserve
(cd "$root" && go build -o "$xzread" ./bench/xzread && go build -o "$nbdserve" ./bench/nbdserve)

img=$bdir/xzbench.img
stamp=$bdir/xzbench.stamp
version="xzbench v1: xzread gen -size $size_mib -seed 1; xz -6 -T2 --block-size=1MiB and 4MiB"
if [ -n "${REBUILD:-}" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$version" ]; then
	echo "xz.sh: building the $size_mib MiB image and compressing it (a few minutes, once)" >&2
	rm -f "$stamp"
	"$xzread" gen -size "$size_mib" -seed 1 >"$img"
	for bs in 1 4; do
		xz -6 -T2 --block-size=${bs}MiB -c "$img" >"$bdir/xzbench.${bs}m.xz"
	done
	echo "$version" >"$stamp"
fi
size=$(stat -L -c %s "$img")

out=$bdir/xzbench.out
tm=$bdir/xzbench.time
rows=()
# run NAME KIND CMD...: KIND is seq (MB/s from wall time) or rand (IOPS
# from the IOPS= or "iops" the command prints).
run() {
	local name=$1 kind=$2
	shift 2
	/usr/bin/time -o "$tm" -f "%e %U %M" "$@" >"$out" 2>&1 || { echo "xz.sh: $name failed:" >&2; cat "$out" >&2; exit 1; }
	local wall user rss rate
	read -r wall user rss <"$tm"
	if [ "$kind" = seq ]; then
		rate=$(awk -v s="$size" -v w="$wall" 'BEGIN { printf "%.1f", s / w / 1e6 }')
	else
		rate=$(grep -o 'IOPS=[0-9.]*' "$out" | head -1 | cut -d= -f2 || true)
		[ -n "$rate" ] || rate=$(python3 -c 'import json,sys; print("%.0f" % sum(j["read"]["iops"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$bdir/fio.json")
	fi
	rows+=("$name|$kind|$wall|$user|$((rss / 1024))|$rate")
	if grep -q sha256= "$out"; then
		local got
		got=$(grep -o 'sha256=[0-9a-f]*' "$out" | cut -d= -f2)
		[ "$got" = "$want_sha" ] || { echo "xz.sh: $name read wrong data: sha256 $got, xz -dc gives $want_sha" >&2; exit 1; }
	fi
}

for bs in 1 4; do
	f=$bdir/xzbench.${bs}m.xz
	want_sha=$(xz -dc "$f" | sha256sum | cut -d' ' -f1)
	fio_args="--name=r --ioengine=nbd --rw=randread --bs=4k --size=$size --group_reporting --randrepeat=1 --output-format=json --output=$bdir/fio.json"
	ours_nbd=("$nbdserve" -image --run)
	[ "$routes" = nbd ] || run "${bs}M xz -dc -T1" seq xz -dc -T1 "$f"
	[ "$routes" = nbd ] || run "${bs}M xz -dc -T0" seq xz -dc -T0 "$f"
	run "${bs}M nbdkit xz, nbdcopy 1 conn" seq nbdkit -U - file "$f" --filter=xz --run 'nbdcopy -C 1 "$uri" null:'
	run "${bs}M ours nbd, nbdcopy 1 conn" seq "${ours_nbd[@]}" 'nbdcopy -C 1 "$uri" null:' "$f"
	run "${bs}M nbdkit xz, nbdcopy 4 conn" seq nbdkit -U - file "$f" --filter=xz --run 'nbdcopy -C 4 -T 4 "$uri" null:'
	run "${bs}M ours nbd, nbdcopy 4 conn" seq "${ours_nbd[@]}" 'nbdcopy -C 4 -T 4 "$uri" null:' "$f"
	[ "$routes" = nbd ] || run "${bs}M ours seq 1 reader" seq "$xzread" seq -readers 1 "$f"
	[ "$routes" = nbd ] || run "${bs}M ours seq 4 readers" seq "$xzread" seq -readers 4 "$f"
	run "${bs}M nbdkit xz, fio 1 job" rand nbdkit -U - file "$f" --filter=xz --run "fio $fio_args --number_ios=$rand_n --numjobs=1 --uri=\"\$uri\""
	run "${bs}M ours nbd, fio 1 job" rand "${ours_nbd[@]}" "fio $fio_args --number_ios=$rand_n --numjobs=1 --uri=\"\$uri\"" "$f"
	run "${bs}M nbdkit xz, fio 4 jobs" rand nbdkit -U - file "$f" --filter=xz --run "fio $fio_args --number_ios=$((rand_n / 4)) --numjobs=4 --uri=\"\$uri\""
	run "${bs}M ours nbd, fio 4 jobs" rand "${ours_nbd[@]}" "fio $fio_args --number_ios=$((rand_n / 4)) --numjobs=4 --uri=\"\$uri\"" "$f"
	[ "$routes" = nbd ] || run "${bs}M ours rand 1 reader" rand "$xzread" rand -n "$rand_n" -bs 4096 -readers 1 "$f"
	[ "$routes" = nbd ] || run "${bs}M ours rand 4 readers" rand "$xzread" rand -n "$rand_n" -bs 4096 -readers 4 "$f"
	[ "$routes" = nbd ] || run "${bs}M ours rand 4 readers, 64MiB cache" rand "$xzread" rand -n "$rand_n" -bs 4096 -readers 4 -cache 64 "$f"
done

echo "image: $size_mib MiB of disk-like data; $(nproc) CPU cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
ls -lL "$bdir"/xzbench.[14]m.xz | awk '{ print "  " $NF ": " $5 " bytes" }'
printf '%-42s %8s %8s %8s %10s %9s\n' route "wall s" "user s" "RSS MiB" "MB/s|IOPS" "vs nbdkit"
for r in "${rows[@]}"; do
	IFS='|' read -r name kind wall user rss rate <<<"$r"
	# The reference: the nbdkit row with the same block size, kind and number of readers.
	ref=
	bsz=${name%% *}
	n=1
	case $name in *"4 reader"* | *"4 conn"* | *"4 job"*) n=4 ;; esac
	for q in "${rows[@]}"; do
		IFS='|' read -r qn qk _ _ _ qr <<<"$q"
		[ "${qn%% *}" = "$bsz" ] && [ "$qk" = "$kind" ] || continue
		case $qn in *nbdkit*) ;; *) continue ;; esac
		qnn=1
		case $qn in *"4 conn"* | *"4 job"*) qnn=4 ;; esac
		[ "$qnn" = "$n" ] && ref=$qr
	done
	ratio=-
	[ -n "$ref" ] && ratio=$(awk -v a="$rate" -v b="$ref" 'BEGIN { printf "%.2fx", a / b }')
	printf '%-42s %8s %8s %8s %10s %9s\n' "$name" "$wall" "$user" "$rss" "$rate" "$ratio"
done
