#!/usr/bin/env bash
# inspector.sh — time virt-inspector on phony guests (testimages/guests.sh),
# raw and xz, with peak memory: GUESTS (default "debian12 fedora40 centos7
# fedora40btrfs": 1000 dpkg packages; 201 rpm packages in SQLite; 63 in
# Berkeley DB; the fedora40 tree on btrfs subvolumes, built only as root).
#
# Prints, per guest and form, the median wall time of RUNS runs (default
# 11) and the maximum resident set size (GNU time's %M). The goal of
# issue 6 is under 0.5 s for the 1000-package guest, also from xz.
#
# Then, when Debian's libguestfs-tools is installed, libguestfs' own
# virt-inspector on each raw image (it cannot read xz) as a third row,
# LG_RUNS runs (default 3: each boots a qemu appliance), with
# LIBGUESTFS_BACKEND=direct and LIBGUESTFS_BACKEND_SETTINGS=force_tcg, and
# the ratios libguestfs/ours for time and memory. GNU time's %M is the
# peak of the process and of the children it waited for, so libguestfs'
# figure includes qemu (virt-inspector forks and reaps it). When the host
# has no kernel for supermin (containers), the linux-image .deb that
# testimages/boot.sh caches in $VIRT_BMAP_CACHE is unpacked for it, as
# integration/libguestfs_test.go does; supermin also wants /lib/modules to
# exist (it may be empty). LG=0 leaves libguestfs out.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-11}
PATH=$PATH:/usr/local/go/bin:/sbin:/usr/sbin
[ -x /usr/bin/time ] || { echo "inspector.sh: /usr/bin/time not found: install the Debian package 'time'" >&2; exit 1; }
command -v bc >/dev/null || { echo "inspector.sh: bc not found: install the Debian package 'bc'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-bench-inspector.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/virt-inspector" ./cmd/virt-inspector)
bash "$root/testimages/guests.sh" "$work" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med rss
guests=()
for g in ${GUESTS:-debian12 fedora40 centos7 fedora40btrfs}; do
	if [ -f "$work/$g.skip" ]; then
		echo "skipping $g: $(cat "$work/$g.skip")" >&2
		continue
	fi
	guests+=("$g")
done

printf '%-24s %10s %12s %8s\n' image "median s" "max RSS" apps
for g in "${guests[@]}"; do
	for img in "$g.img" "$g.img.xz"; do
		: >"$work/times"
		: >"$work/rss"
		for _ in $(seq "$runs"); do
			# GNU time's %e has 10 ms steps, too coarse here: the wall
			# time is taken with date's nanoseconds around it.
			t0=$(date +%s.%N)
			/usr/bin/time -f '%M' -o "$work/t" "$work/virt-inspector" -q --xml -a "$work/$img" >"$work/out.xml"
			t1=$(date +%s.%N)
			echo "$t1 - $t0" | bc -l >>"$work/times"
			cat "$work/t" >>"$work/rss"
		done
		apps=$(grep -c '<application>' "$work/out.xml")
		med[$img]=$(median <"$work/times" | xargs printf '%.3f')
		rss[$img]=$(sort -n "$work/rss" | tail -1)
		printf '%-24s %10s %8s KiB %8s\n' "$img" "${med[$img]}" "${rss[$img]}" "$apps"
	done
done

[ "${LG:-1}" = 0 ] && exit 0
if ! command -v virt-inspector >/dev/null || ! command -v supermin >/dev/null; then
	echo "libguestfs' virt-inspector not found: install the Debian package 'libguestfs-tools' for the side-by-side row" >&2
	exit 0
fi
export LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg
if [ -z "${SUPERMIN_KERNEL:-}" ] && ! [ -e "/boot/vmlinuz-$(uname -r)" ]; then
	deb=$(ls "${VIRT_BMAP_CACHE:-$HOME/.cache/virt-bmap}"/linux-image-*-amd64_*.deb 2>/dev/null | sort | tail -1)
	[ -n "$deb" ] || { echo "no kernel for supermin: run testimages/boot.sh once to cache Debian's linux-image .deb" >&2; exit 1; }
	dpkg-deb -x "$deb" "$work/kernel"
	kver=$(basename "$(ls -d "$work"/kernel/lib/modules/*)")
	depmod -b "$work/kernel" "$kver"
	export SUPERMIN_KERNEL=$work/kernel/boot/vmlinuz-$kver SUPERMIN_MODULES=$work/kernel/lib/modules/$kver SUPERMIN_KERNEL_VERSION=$kver
fi
# Once untimed: supermin builds (or checks) its appliance cache.
virt-inspector --format=raw -a "$work/${guests[0]}.img" >/dev/null 2>"$work/lg.err" || { tail -15 "$work/lg.err" >&2; exit 1; }
declare -A lgt lgm
for g in "${guests[@]}"; do
	: >"$work/lgtimes"
	: >"$work/lgrss"
	for _ in $(seq "${LG_RUNS:-3}"); do
		/usr/bin/time -f '%e %M' -o "$work/t" virt-inspector --format=raw -a "$work/$g.img" >"$work/lg.xml" 2>"$work/lg.err"
		read -r e m <"$work/t"
		echo "$e" >>"$work/lgtimes"
		echo "$m" >>"$work/lgrss"
	done
	lgt[$g]=$(median <"$work/lgtimes")
	lgm[$g]=$(sort -n "$work/lgrss" | tail -1)
	printf '%-24s %10s %8s KiB %8s\n' "libguestfs $g.img" "${lgt[$g]}" "${lgm[$g]}" "$(grep -c '<application>' "$work/lg.xml")"
done
echo
printf '%-24s %10s %10s\n' "libguestfs / ours" time memory
for g in "${guests[@]}"; do
	for img in "$g.img" "$g.img.xz"; do
		printf '%-24s %9.0fx %9.0fx\n' "$img" "$(echo "${lgt[$g]} / ${med[$img]}" | bc -l)" "$(echo "${lgm[$g]} / ${rss[$img]}" | bc -l)"
	done
done
