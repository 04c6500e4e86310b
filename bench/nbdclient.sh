#!/usr/bin/env bash
# nbdclient.sh — nbd/client (bench/nbdcat) against libnbd's nbdcopy,
# reading the same nbdkit export over a private Unix socket, one
# connection each, 64 requests of 256 KiB in flight (nbdcopy's defaults
# for one connection), data discarded (nbdcopy to null:). The image is
# SIZE MiB (default 1024) of AES-CTR keystream (no holes, so neither
# client can skip anything), built once in BUILD_DIR (default build/bench)
# and read once to warm the page cache. Each client runs REPS times
# (default 3) and the best is kept; both are timed from outside, process
# start and handshake included. Prints MB/s and the ratio ours/nbdcopy.
#
# Usage: bench/nbdclient.sh [BUILD_DIR]   Env: SIZE=1024 REPS=3
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin
export LC_ALL=C
size=${SIZE:-1024}
reps=${REPS:-3}
for t in nbdkit nbdcopy openssl go; do
	command -v $t >/dev/null || { echo "nbdclient.sh: $t not found (Debian: nbdkit, libnbd-bin, openssl, golang)" >&2; exit 1; }
done
(cd "$root" && go build -o "$bdir/nbdcat" ./bench/nbdcat)
img=$bdir/nbdclient-${size}m.img
if [ ! -f "$img" ]; then
	head -c $((size << 20)) /dev/zero |
		openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0 -nosalt 2>/dev/null >"$img.tmp"
	mv "$img.tmp" "$img"
fi
cat "$img" >/dev/null

best() { sort -g | head -1; }
ours=$(for _ in $(seq "$reps"); do
	nbdkit -r -U - file "$img" --run 'start=$(date +%s.%N); "'"$bdir"'/nbdcat" -requests 64 -request-size 262144 "$uri" >/dev/null; end=$(date +%s.%N); echo "$end - $start" | bc -l'
done | best)
theirs=$(for _ in $(seq "$reps"); do
	nbdkit -r -U - file "$img" --run 'start=$(date +%s.%N); nbdcopy --connections=1 --requests=64 --request-size=262144 "$uri" null:; end=$(date +%s.%N); echo "$end - $start" | bc -l'
done | best)
awk -v b=$((size << 20)) -v o="$ours" -v t="$theirs" 'BEGIN {
	printf "%-22s %10s %8s\n", "client", "MB/s", "seconds"
	printf "%-22s %10.0f %8.3f\n", "nbd/client (nbdcat)", b/o/1e6, o
	printf "%-22s %10.0f %8.3f\n", "libnbd nbdcopy", b/t/1e6, t
	printf "ratio ours/nbdcopy: %.2fx\n", t/o
}'
