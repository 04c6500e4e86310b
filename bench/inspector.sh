#!/usr/bin/env bash
# inspector.sh — time virt-inspector on the 1000-package phony Debian guest
# (testimages/guests.sh), raw and xz, with peak memory.
#
# Prints, per form, the median wall time of RUNS runs (default 11) and the
# maximum resident set size (GNU time's %M). The goal of issue 6 is under
# 0.5 s for this guest, also from xz.
#
# libguestfs' virt-inspector side by side is for later: it needs Debian's
# libguestfs-tools (and LIBGUESTFS_BACKEND=direct, force_tcg here), which
# is not installed yet. When it is, add it as a third row and print ratios.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-11}
PATH=$PATH:/usr/local/go/bin:/sbin:/usr/sbin
[ -x /usr/bin/time ] || { echo "inspector.sh: /usr/bin/time not found: install the Debian package 'time'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-bench-inspector.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/virt-inspector" ./cmd/virt-inspector)
bash "$root/testimages/guests.sh" "$work" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-22s %10s %10s %8s\n' image "median s" "max RSS" apps
for img in debian12.img debian12.img.xz; do
	: >"$work/times"
	: >"$work/rss"
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %M' -o "$work/t" "$work/virt-inspector" -q --xml -a "$work/$img" >"$work/out.xml"
		read -r e m <"$work/t"
		echo "$e" >>"$work/times"
		echo "$m" >>"$work/rss"
	done
	apps=$(grep -c '<application>' "$work/out.xml")
	printf '%-22s %10s %8s KiB %8s\n' "$img" "$(median <"$work/times")" "$(sort -n "$work/rss" | tail -1)" "$apps"
done
