#!/usr/bin/env bash
# ntfs20k.sh — virt-bmap against The Sleuth Kit on an NTFS disk of 20,000+ files.
#
# Builds once (cached in build/bench/) a disk image with one 512 MiB NTFS
# partition (mkntfs -Q, 4 KiB clusters) populated without mounting by
# testimages/ntfs/mkntfstree.c (libntfs-3g): 100 directories x 205 files of
# 0-12 KiB (20,500; the small ones resident in their MFT record), two
# named streams a directory, a fragmented file with an $ATTRIBUTE_LIST,
# sparse and compressed files; then times, pinned to one core (taskset -c 0):
#   ours: virt-bmap -q --text and --json, best wall time of 3
#         runs under /usr/bin/time -v (wall, user, max RSS);
#   TSK:  fls -r -p, then istat for every record fls lists, serially. If that
#         would take more than MAX_TSK_SECONDS (default 600), a random sample
#         of 2,000 istat calls is timed and the total extrapolated (said so).
# and prints a table and PASS/FAIL for the goals: >= 20x faster than the TSK
# route, < 200 MiB max RSS.
#
# Usage: bench/ntfs20k.sh [BUILD_DIR]     (default: build/bench)
# Env:   VIRT_BMAP=path/to/virt-bmap (default: built from ./cmd/virt-bmap)
#        MAX_TSK_SECONDS=600  REBUILD=1 (rebuild the image)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/sbin:/usr/sbin:/usr/local/go/bin
export LC_ALL=C TZ=UTC
max_tsk=${MAX_TSK_SECONDS:-600}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "ntfs20k: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
need mkntfs ntfs-3g
need gcc gcc
[ -f /usr/include/ntfs-3g/volume.h ] || {
	echo "ntfs20k: libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'" >&2
	exit 1
}
need sfdisk fdisk
need fls sleuthkit
need istat sleuthkit
need taskset util-linux
need shuf coreutils
if [ ! -x /usr/bin/time ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "ntfs20k: installing the Debian package 'time' for /usr/bin/time" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
[ -x /usr/bin/time ] || {
	echo "ntfs20k: /usr/bin/time not found: install the Debian package 'time'" >&2
	exit 1
}

img=$bdir/ntfs20k.img
part_start=2048 # sectors
part_sectors=$((512 * 2048))
stamp=$bdir/ntfs20k.stamp
version="ntfs20k v1: 100x205 files 0-12KiB, streams, fragmented, sparse, compressed; 512 MiB NTFS at 1 MiB"

# --- the image (cached) -------------------------------------------------------
work= # global: the EXIT trap removes it
build_image() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/ntfs20k.XXXXXX")
	trap 'rm -rf "$work"' EXIT # also when a step fails
	echo "ntfs20k: building $img (once; cached)..." >&2
	gcc -O2 -Wall -o "$work/mkntfstree" "$root/testimages/ntfs/mkntfstree.c" -lntfs-3g
	local T=$'\t' d f
	{
		for d in $(seq 0 99); do
			printf 'dir\t/d%03d\n' "$d"
			for f in $(seq 0 204); do
				printf 'compressed\t/d%03d/file-%03d.txt\t%d\t%d\n' "$d" "$f" $(((d * 7919 + f * 104729) % 12289)) $((d * 1000 + f))
			done
			printf 'ads\t/d%03d/file-000.txt\tmeta\t300\t%d\n' "$d" "$d"
			printf 'ads\t/d%03d/file-001.txt\tbig\t9000\t%d\n' "$d" "$d"
		done
		echo "frag${T}/fragmented${T}2000${T}1"
		echo "sparse${T}/sparse${T}100000000${T}65536${T}2"
		echo "cdir${T}/compressed"
		echo "compressed${T}/compressed/text${T}4000000${T}3"
	} >"$work/manifest"
	local fs=$work/fs.img
	truncate -s $((part_sectors * 512)) "$fs"
	mkntfs -F -Q -T -q -L ntfs20k -c 4096 -s 512 -p $part_start -H 255 -S 63 "$fs" $part_sectors >/dev/null 2>&1
	"$work/mkntfstree" "$fs" <"$work/manifest"
	rm -f "$img"
	truncate -s $(((part_start + part_sectors) * 512)) "$img"
	printf 'label: dos\nlabel-id: 0x5eed0020\nunit: sectors\n\nstart=%d, size=%d, type=7\n' \
		"$part_start" "$part_sectors" | sfdisk -q --no-reread --no-tell-kernel "$img"
	dd if="$fs" of="$img" bs=1M seek=$((part_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
	echo "$version" >"$stamp"
	rm -rf "$work"
}
if [ "${REBUILD:-}" = 1 ] || [ ! -f "$img" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
	build_image
fi

# --- the binary -----------------------------------------------------------------
bin=${VIRT_BMAP:-}
if [ -z "$bin" ]; then
	bin=$bdir/virt-bmap
	(cd "$root" && go build -trimpath -o "$bin" ./cmd/virt-bmap)
fi

# --- ours ---------------------------------------------------------------------------
# timed RUN-NAME ARGS...: best of 3 runs; sets best_wall best_user best_rss (KiB)
timed() {
	local name=$1
	shift
	best_wall= best_user= best_rss=
	local i log wall user rss
	for i in 1 2 3; do
		log=$bdir/time.$name.$i
		# -o - with stdout to /dev/null: the output is written, then discarded
		/usr/bin/time -v -o "$log" taskset -c 0 "$bin" -q "$@" -o - "$img" >/dev/null
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
			n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$log")
		user=$(awk -F': ' '/User time/ {print $2}' "$log")
		rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
		if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN{exit !(a < b)}'; then
			best_wall=$wall best_user=$user
		fi
		if [ -z "$best_rss" ] || [ "$rss" -lt "$best_rss" ]; then best_rss=$rss; fi
	done
}

files=$(fls -r -p -o $part_start "$img" | grep -v -e '^[^ ]* \*' -e '\$OrphanFiles' | awk -F'\t' '$2 !~ /:/' | grep -c -E '^(r/r|l/l) ')
dirs=$(fls -r -p -o $part_start "$img" | grep -v -e '^[^ ]* \*' -e '\$OrphanFiles' | grep -c -E '^d/d ')
echo "ntfs20k: $img: $files files, $dirs directories (fls; streams not counted)" >&2

timed text --text
text_wall=$best_wall text_user=$best_user text_rss=$best_rss
timed json --json
json_wall=$best_wall json_user=$best_user json_rss=$best_rss

# --- TSK: fls + istat per inode ---------------------------------------------------
inodes=$bdir/inodes.txt
t0=$(date +%s.%N)
taskset -c 0 fls -r -p -o $part_start "$img" >"$bdir/fls.txt"
t1=$(date +%s.%N)
fls_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
grep -v -e '^[^ ]* \*' -e '\$OrphanFiles' "$bdir/fls.txt" | sed -E 's/^[^ ]+ ([0-9]+)(-[0-9]+-[0-9]+)?:.*/\1/' | sort -un >"$inodes"
n_inodes=$(wc -l <"$inodes")

# istat_run LIST: run istat serially for every inode of LIST; prints seconds
istat_run() {
	local s e ino
	s=$(date +%s.%N)
	while read -r ino; do
		taskset -c 0 istat -o $part_start "$img" "$ino" >/dev/null
	done <"$1"
	e=$(date +%s.%N)
	awk -v a="$s" -v b="$e" 'BEGIN{printf "%.3f", b - a}'
}
# Probe 200 calls to estimate the full run.
shuf -n 200 --random-source=<(yes) "$inodes" >"$bdir/probe.txt"
probe_s=$(istat_run "$bdir/probe.txt")
estimate=$(awk -v p="$probe_s" -v n="$n_inodes" 'BEGIN{printf "%.0f", p / 200 * n}')
if [ "$estimate" -le "$max_tsk" ]; then
	istat_s=$(istat_run "$inodes")
	tsk_note="istat run on all $n_inodes inodes"
else
	shuf -n 2000 --random-source=<(yes) "$inodes" >"$bdir/sample.txt"
	sample_s=$(istat_run "$bdir/sample.txt")
	istat_s=$(awk -v p="$sample_s" -v n="$n_inodes" 'BEGIN{printf "%.3f", p / 2000 * n}')
	tsk_note="EXTRAPOLATED: istat timed on a random sample of 2,000 of $n_inodes inodes ($sample_s s), x $n_inodes/2000 (a full run was estimated at ${estimate} s > ${max_tsk} s)"
fi
tsk_s=$(awk -v a="$fls_s" -v b="$istat_s" 'BEGIN{printf "%.3f", a + b}')

# --- report -----------------------------------------------------------------------
ratio=$(awk -v t="$tsk_s" -v o="$text_wall" 'BEGIN{printf "%.0f", t / o}')
ratio_json=$(awk -v t="$tsk_s" -v o="$json_wall" 'BEGIN{printf "%.0f", t / o}')
n_obj=$((files + dirs))
fps() { awk -v n="$n_obj" -v s="$1" 'BEGIN{printf "%.0f", n / s}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }

echo
echo "ntfs20k benchmark: $(basename "$img") — $files files, $dirs directories, one core (taskset -c 0)"
echo "CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %10s %12s %12s %8s\n' "route" "wall s" "user s" "max RSS MiB" "objects/s" "TSK/ours"
printf '%-34s %10s %10s %12s %12s %8s\n' "virt-bmap --text (best/3)" "$text_wall" "$text_user" "$(mib "$text_rss")" "$(fps "$text_wall")" "${ratio}x"
printf '%-34s %10s %10s %12s %12s %8s\n' "virt-bmap --json (best/3)" "$json_wall" "$json_user" "$(mib "$json_rss")" "$(fps "$json_wall")" "${ratio_json}x"
printf '%-34s %10s %10s %12s %12s %8s\n' "TSK fls -r -p" "$fls_s" "-" "-" "-" "-"
printf '%-34s %10s %10s %12s %12s %8s\n' "TSK fls + istat per inode" "$tsk_s" "-" "-" "$(fps "$tsk_s")" "1x"
echo "TSK: $tsk_note"
echo

fail=0
goal() { # goal NAME OK(0/1) DETAIL
	if [ "$2" = 1 ]; then echo "PASS  $1 ($3)"; else echo "FAIL  $1 ($3)"; fail=1; fi
}
goal ">= 20x faster than fls + istat" "$(awk -v r="$ratio" 'BEGIN{print (r >= 20)}')" "${ratio}x text, ${ratio_json}x json"
goal "max RSS < 200 MiB" "$(awk -v a="$text_rss" -v b="$json_rss" 'BEGIN{print (a < 200 * 1024 && b < 200 * 1024)}')" "text $(mib "$text_rss") MiB, json $(mib "$json_rss") MiB"
exit $fail
