#!/usr/bin/env bash
# bmapscale.sh — virt-bmap against The Sleuth Kit's `fls -r -p` (and fls +
# one istat per inode) on filesystems from 20,000 files to the size of a
# used system disk. Run as bench/ext50k.sh, ntfs20k.sh, ntfs250k.sh or
# ext1m.sh (each a one-line wrapper), or as `bench/bmapscale.sh KIND`.
#
#   ext50k:   a 1 GiB ext4 volume made by `mkfs.ext4 -d` from 202
#             directories x 250 files of 0-16 KiB; debugfs then frees every
#             other file of two directories and writes three 8 MiB files
#             into the holes (fragmented, extent trees).
#   ntfs20k:  a 512 MiB NTFS volume (mkntfs -Q, 4 KiB clusters) populated by
#             testimages/ntfs/mkntfstree.c (libntfs-3g): 100 directories x
#             205 files of 0-12 KiB (the small ones resident), two named
#             streams a directory, a fragmented file with an
#             $ATTRIBUTE_LIST, sparse and compressed files.
#   ntfs250k: a 20 GiB NTFS volume (sparse image) with 251,000+ MFT records,
#             built without mounting by testimages/ntfs/mkntfstree.c
#             (libntfs-3g): 40 x 25 directories x 250 files of 0-8 KiB,
#             5,000 Zone.Identifier and 1,000 bigger named streams, 5,000
#             hard links (a WinSxS-like tree), 20 fragmented files of
#             100-2,000 runs (the big ones with an $ATTRIBUTE_LIST), a sparse
#             file and a compressed directory.
#   ext1m:    an 8 GiB ext4 volume with 1,000,000+ inodes, made by
#             `mkfs.ext4 -d` from a tree of 4,000 directories x 250 files of
#             0-4 KiB, with 2,000 hard links and 2,000 symbolic links; then
#             debugfs frees every other file of two directories and writes
#             three 64 MiB files into the holes (fragmented, extent trees).
#
# Both are cached in BUILD_DIR with a stamp (the build time is printed).
# Then, pinned to one core (taskset -c 0), ROUNDS interleaved rounds of
#   virt-bmap -q --text -o - IMG, virt-bmap -q --json -o - IMG, fls -r -p IMG
# each under /usr/bin/time -v (best wall, its user time, smallest max RSS);
# for scale, fls + one istat per inode, extrapolated from ISTAT_SAMPLE random
# istat calls; and a correctness check of the JSON map against fls (every
# name, type and inode) and istat (the blocks of a sample of files), by
# bench/tskcheck.py. Goals: for ntfs250k and ext1m (issue 16), both
# virt-bmap routes faster than fls -r -p, max RSS <= 1 GiB, the check clean;
# for ext50k (>= 50x faster than fls + istat, under 2 s, max RSS < 200 MiB)
# and ntfs20k (>= 20x, max RSS < 200 MiB), the goals of the issues that
# added them, and the check clean. Exit status 1 if one fails.
#
# Usage: bench/bmapscale.sh ext50k|ntfs20k|ntfs250k|ext1m [BUILD_DIR]  (default build/bench)
# Env:   VIRT_BMAP=path/to/virt-bmap (default: built from ./cmd/virt-bmap)
#        ROUNDS=3  ISTAT_SAMPLE=500  CHECK_SAMPLE=300  REBUILD=1
set -euo pipefail

kind=${1:?usage: bmapscale.sh ext50k|ntfs20k|ntfs250k|ext1m [BUILD_DIR]}
case $kind in
ext50k | ntfs20k | ntfs250k | ext1m) ;;
*)
	echo "bmapscale: unknown benchmark '$kind' (ext50k, ntfs20k, ntfs250k or ext1m)" >&2
	exit 2
	;;
esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${2:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/sbin:/usr/sbin:/usr/local/go/bin
export LC_ALL=C TZ=UTC DEBUGFS_PAGER=__none__
export SOURCE_DATE_EPOCH=1700000000 E2FSPROGS_FAKE_TIME=1700000000
rounds=${ROUNDS:-3}
istat_sample=${ISTAT_SAMPLE:-500}
check_sample=${CHECK_SAMPLE:-300}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || {
		echo "$kind: $1 not found: install the Debian package '$2'" >&2
		exit 1
	}
}
fstype=${kind%%[0-9]*} # ext or ntfs
if [ "$fstype" = ntfs ]; then
	need mkntfs ntfs-3g
	need gcc gcc
	[ -f /usr/include/ntfs-3g/volume.h ] || {
		echo "$kind: libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'" >&2
		exit 1
	}
else
	need mkfs.ext4 e2fsprogs
	need debugfs e2fsprogs
fi
need sfdisk fdisk
need fls sleuthkit
need istat sleuthkit
need fsstat sleuthkit
need taskset util-linux
need shuf coreutils
need python3 python3
need fallocate util-linux
if [ ! -x /usr/bin/time ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "$kind: installing the Debian package 'time' for /usr/bin/time" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
[ -x /usr/bin/time ] || {
	echo "$kind: /usr/bin/time not found: install the Debian package 'time'" >&2
	exit 1
}

img=$bdir/$kind.img
stamp=$bdir/$kind.stamp
part_start=2048 # sectors: the partition starts at 1 MiB
case $kind in
ext50k) version="ext50k v3 (bmapscale.sh): 202x250 files 0-16KiB + 3 fragmented 8 MiB files, 1 MiB-aligned MBR partition" ;;
ntfs20k) version="ntfs20k v2 (bmapscale.sh): 100x205 files 0-12KiB, streams, fragmented, sparse, compressed; 512 MiB NTFS at 1 MiB" ;;
ntfs250k) version="ntfs250k v1: 40x25x250 files 0-8KiB, 6,000 streams, 5,000 hard links, 20 fragmented, sparse, compressed; 20 GiB NTFS at 1 MiB" ;;
ext1m) version="ext1m v1: 4000x250 files 0-4KiB, 2,000 hard links, 2,000 symlinks, 3 fragmented 64 MiB files; 8 GiB ext4 at 1 MiB" ;;
esac

# --- the image (cached) -------------------------------------------------------
work= # global: the EXIT trap removes it
scratch() { # a work directory, in memory when /dev/shm is there
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		mktemp -d "/dev/shm/$kind.XXXXXX"
	else
		mktemp -d "$bdir/work.XXXXXX"
	fi
}

# to_disk FS-IMAGE PART-TYPE: make FS-IMAGE (a filesystem, on the same
# filesystem as $img) the partition of $img: shift it by 1 MiB (fallocate
# --insert-range, no copy; dd if that is not supported) and write an MBR.
to_disk() {
	local fsimg=$1 type=$2 fsz
	fsz=$(stat -c %s "$fsimg")
	rm -f "$img"
	if fallocate --insert-range -o 0 -l $((part_start * 512)) "$fsimg" 2>/dev/null; then
		mv "$fsimg" "$img"
	else
		truncate -s $((part_start * 512 + fsz)) "$img"
		dd if="$fsimg" of="$img" bs=1M seek=$((part_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
		rm -f "$fsimg"
	fi
	printf 'label: dos\nlabel-id: 0x5eed0250\nunit: sectors\n\nstart=%d, size=%d, type=%s\n' \
		"$part_start" $((fsz / 512)) "$type" | sfdisk -q --no-reread --no-tell-kernel --wipe-partitions never "$img"
}

# fragment_ext FS DIR1 DIR2 MIB: big fragmented files in the ext4 image FS:
# free every other file of DIR1 and DIR2 (f0, f2, ... f248), then write
# three MIB MiB files with debugfs, which fill those holes first (extent
# trees); then make FS the disk's partition.
fragment_ext() {
	local fs=$1 d1=$2 d2=$3 mib=$4 f
	{
		for f in $(seq 0 2 249); do echo "rm $d1/f$f"; echo "rm $d2/f$f"; done
		for f in 1 2 3; do
			(
				set +o pipefail # yes ends on SIGPIPE
				yes "big fragmented file $f" | head -c $((mib << 20)) >"$work/big$f"
			)
			echo "write $work/big$f /big$f"
		done
	} >"$work/cmds"
	debugfs -w -f "$work/cmds" "$fs" >/dev/null 2>"$work/dbg.err" || {
		cat "$work/dbg.err" >&2
		exit 1
	}
	to_disk "$fs" 83
}

build_ntfs20k() {
	local part_sectors=$((512 * 2048)) T=$'\t' d f # 512 MiB
	gcc -O2 -Wall -o "$work/mkntfstree" "$root/testimages/ntfs/mkntfstree.c" -lntfs-3g
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
	local fs=$bdir/$kind.fs
	rm -f "$fs"
	truncate -s $((part_sectors * 512)) "$fs"
	mkntfs -F -Q -T -q -L ntfs20k -c 4096 -s 512 -p $part_start -H 255 -S 63 "$fs" $part_sectors >/dev/null 2>&1
	"$work/mkntfstree" "$fs" <"$work/manifest"
	to_disk "$fs" 7
}

build_ext50k() {
	local src=$work/src pat d dn f size n
	mkdir -p "$src"
	# 16 KiB of text; every file is a prefix of it (bash builtins only: fast)
	pat=$(printf 'line %05d of the ext50k benchmark tree, nothing to see here.....\n' $(seq 1 256))
	for d in $(seq 0 201); do
		printf -v dn '%s/d%03d' "$src" "$d"
		mkdir "$dn"
		for f in $(seq 0 249); do
			size=$(((d * 7919 + f * 104729) % 16385))
			printf '%s' "${pat:0:size}" >"$dn/f$f"
		done
	done
	n=$(find "$src" -type f | wc -l)
	[ "$n" -ge 50500 ] || {
		echo "ext50k: only $n files made" >&2
		exit 1
	}
	find "$src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	local fs=$bdir/$kind.fs
	rm -f "$fs"
	mkfs.ext4 -q -F -U 55555555-0000-4000-8000-000000050000 -L ext50k \
		-E root_owner=0:0,hash_seed=55555555-0000-4000-8000-000000050000 \
		-b 4096 -N 60000 -d "$src" "$fs" 1G >/dev/null
	rm -rf "$src"
	fragment_ext "$fs" /d000 /d100 8
}

build_ntfs250k() {
	local part_sectors=$((20 * 1024 * 2048)) # 20 GiB
	gcc -O2 -Wall -o "$work/mkntfstree" "$root/testimages/ntfs/mkntfstree.c" -lntfs-3g
	# The manifest: awk, not a shell loop (a quarter of a million lines).
	awk 'BEGIN {
		n = 0
		for (t = 0; t < 40; t++) {
			printf "dir\t/W%02d\n", t
			for (s = 0; s < 25; s++) {
				d = sprintf("/W%02d/s%02d", t, s)
				printf "dir\t%s\n", d
				k = t * 25 + s
				for (f = 0; f < 250; f++) {
					printf "compressed\t%s/f%03d.dll\t%d\t%d\n", d, f, (k * 7919 + f * 104729) % 8193, n
					if (f % 50 == 7) printf "ads\t%s/f%03d.dll\tZone.Identifier\t26\t%d\n", d, f, n
					n++
				}
				printf "ads\t%s/f001.dll\tbig\t9000\t%d\n", d, k
			}
		}
		# hard links, as WinSxS holds them: 125 files of each /Wtt/s00
		print "dir\t/WinSxS"
		for (t = 0; t < 40; t++) {
			printf "dir\t/WinSxS/x%02d\n", t
			for (f = 0; f < 250; f += 2) printf "link\t/W%02d/s00/f%03d.dll\t/WinSxS/x%02d/f%03d.dll\n", t, f, t, f
		}
		print "dir\t/frag"
		for (i = 0; i < 20; i++) printf "frag\t/frag/frag%02d.bin\t%d\t%d\n", i, 100 + i * 100, i + 1
		print "sparse\t/pagefile.sys\t4294967296\t1048576\t2"
		print "cdir\t/compressed"
		for (i = 0; i < 20; i++) printf "compressed\t/compressed/c%02d.txt\t1000000\t%d\n", i, i + 3
	}' >"$work/manifest"
	local fs=$bdir/$kind.fs
	rm -f "$fs"
	truncate -s $((part_sectors * 512)) "$fs"
	mkntfs -F -Q -T -q -L ntfs250k -c 4096 -s 512 -p $part_start -H 255 -S 63 "$fs" $part_sectors >/dev/null 2>&1
	"$work/mkntfstree" "$fs" <"$work/manifest"
	to_disk "$fs" 7
}

build_ext1m() {
	local src=$work/src
	mkdir -p "$src"
	# The tree: python, not a shell loop (a million files).
	python3 - "$src" <<'EOF'
import os, sys
src = sys.argv[1]
pat = b"".join(b"line %05d of the ext1m benchmark tree, nothing to see here.....\n" % i for i in range(1, 65))
for d in range(4000):
    dn = os.path.join(src, "d%02d" % (d // 100), "d%04d" % d)
    os.makedirs(dn)
    for f in range(250):
        size = (d * 7919 + f * 104729) % 4097
        fd = os.open(os.path.join(dn, "f%d" % f), os.O_WRONLY | os.O_CREAT, 0o644)
        if size:
            os.write(fd, pat[:size])
        os.close(fd)
# 2,000 hard links and 2,000 symbolic links
os.makedirs(os.path.join(src, "links"))
for i in range(2000):
    os.link(os.path.join(src, "d%02d" % (i // 100 % 40), "d%04d" % (i % 4000), "f7"), os.path.join(src, "links", "h%d" % i))
    os.symlink("../d%02d/d%04d/f8" % (i // 100 % 40, i % 4000), os.path.join(src, "links", "s%d" % i))
EOF
	find "$src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	local fs=$bdir/$kind.fs
	rm -f "$fs"
	mkfs.ext4 -q -F -U 55555555-0000-4000-8000-000001000000 -L ext1m \
		-E root_owner=0:0,hash_seed=55555555-0000-4000-8000-000001000000 \
		-b 4096 -N 1100000 -d "$src" "$fs" 8G >/dev/null
	rm -rf "$src"
	fragment_ext "$fs" /d00/d0000 /d20/d2000 64
}

if [ "${REBUILD:-}" = 1 ] || [ ! -f "$img" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
	work=$(scratch)
	trap 'rm -rf "$work" "$bdir/$kind.fs"' EXIT # also when a step fails
	echo "$kind: building $img (once; cached)..." >&2
	rm -f "$stamp"
	t0=$(date +%s)
	"build_$kind"
	echo "$version" >"$stamp"
	rm -rf "$work"
	echo "$kind: built in $(($(date +%s) - t0)) s ($(du -h "$img" | cut -f1) allocated of $(du -h --apparent-size "$img" | cut -f1))" >&2
fi

# --- the binary -----------------------------------------------------------------
bin=${VIRT_BMAP:-}
if [ -z "$bin" ]; then
	bin=$bdir/virt-bmap
	(cd "$root" && go build -trimpath -o "$bin" ./cmd/virt-bmap)
fi

# --- what is on it ---------------------------------------------------------------
fls_txt=$bdir/$kind.fls.txt
fls -r -p -o $part_start "$img" >"$fls_txt"
live() { grep -v -e '^[^ ]* \*' -e '\$OrphanFiles' "$fls_txt"; }
files=$(live | awk -F'\t' '$2 !~ /:/' | grep -c -E '^(r/r|l/l) ')
streams=$(live | awk -F'\t' '$2 ~ /:/' | grep -c -E '^r/r ' || true)
dirs=$(live | grep -c -E '^d/d ')
if [ "$fstype" = ntfs ]; then
	records=$(fsstat -o $part_start "$img" | awk -F' - ' '/^Range:/ {print $2 + 0}')
	what="$files file names, $streams named streams, $dirs directories; $records MFT records"
else
	records=$(fsstat -o $part_start "$img" | awk '/^Free Inodes:/ {f = $3} /^Inode Range:/ {n = $5} END {print n - f}')
	what="$files file names, $dirs directories; $records inodes in use"
fi
echo "$kind: $img: $what (fls, fsstat)" >&2

# --- the rounds -------------------------------------------------------------------
declare -A wall user cpu rss
# run ROUTE CMD...: one run under /usr/bin/time -v on core 0; keeps the
# best wall time with its user time, the least CPU time (user + system:
# steadier than wall time on a machine shared with other work) and the
# smallest max RSS
run() {
	local route=$1 log=$bdir/time.$kind.$1 w u c r
	shift
	/usr/bin/time -v -o "$log" taskset -c 0 "$@" >/dev/null
	w=$(awk -F': ' '/Elapsed \(wall clock\)/ {
		n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$log")
	u=$(awk -F': ' '/User time/ {print $2}' "$log")
	c=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$log")
	r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	if [ -z "${wall[$route]:-}" ] || awk -v a="$w" -v b="${wall[$route]}" 'BEGIN{exit !(a < b)}'; then
		wall[$route]=$w user[$route]=$u
	fi
	if [ -z "${cpu[$route]:-}" ] || awk -v a="$c" -v b="${cpu[$route]}" 'BEGIN{exit !(a < b)}'; then cpu[$route]=$c; fi
	if [ -z "${rss[$route]:-}" ] || [ "$r" -lt "${rss[$route]}" ]; then rss[$route]=$r; fi
}
# A first round, not counted, brings the image into the page cache (the
# build's fallocate --insert-range drops it): every route then reads warm.
"$bin" -q --text -o - "$img" >/dev/null
fls -r -p -o $part_start "$img" >/dev/null
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$rounds"); do
	# -o - with stdout to /dev/null: the output is written, then discarded
	run text "$bin" -q --text -o - "$img"
	run json "$bin" -q --json -o - "$img"
	run fls fls -r -p -o $part_start "$img"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- for scale: fls + istat per inode, extrapolated ----------------------------------
inodes=$bdir/$kind.inodes.txt
live | sed -E 's/^[^ ]+ ([0-9]+)(-[0-9]+-[0-9]+)?(\([^)]*\))?:.*/\1/' | sort -un >"$inodes"
n_inodes=$(wc -l <"$inodes")
shuf -n "$istat_sample" --random-source=<(yes) "$inodes" >"$bdir/$kind.sample.txt"
s=$(date +%s.%N)
while read -r ino; do
	taskset -c 0 istat -o $part_start "$img" "$ino" >/dev/null
done <"$bdir/$kind.sample.txt"
e=$(date +%s.%N)
sample_s=$(awk -v a="$s" -v b="$e" 'BEGIN{printf "%.3f", b - a}')
tsk_s=$(awk -v f="${wall[fls]}" -v p="$sample_s" -v k="$istat_sample" -v n="$n_inodes" 'BEGIN{printf "%.0f", f + p / k * n}')

# --- correctness: the map against fls and istat ---------------------------------------
map=$bdir/$kind.map.json
"$bin" -q --json -o "$map" "$img"
check_ok=1
python3 "$here/tskcheck.py" "$fstype" "$img" $part_start "$fls_txt" "$map" "$check_sample" || check_ok=0
rm -f "$map"

# --- report -----------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
echo
echo "$kind benchmark: $what; one core (taskset -c 0), best of $rounds interleaved rounds"
echo "CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load average before: $load0, after: $load1"
f='%-32s %8s %8s %10s %12s %10s %10s\n'
printf "$f" "route" "wall s" "user s" "CPU s" "max RSS MiB" "fls/ours" "fls/ours"
printf "$f" "" "(best)" "" "(least)" "" "(wall)" "(CPU)"
for r in text json; do
	printf "$f" "virt-bmap -q --$r -o -" "${wall[$r]}" "${user[$r]}" "${cpu[$r]}" "$(mib "${rss[$r]}")" \
		"$(ratio "${wall[fls]}" "${wall[$r]}")x" "$(ratio "${cpu[fls]}" "${cpu[$r]}")x"
done
printf "$f" "fls -r -p" "${wall[fls]}" "${user[fls]}" "${cpu[fls]}" "$(mib "${rss[fls]}")" "1x" "1x"
printf "$f" "fls + istat per inode (extrap.)" "$tsk_s" "-" "-" "-" "-" "-"
echo "fls + istat: EXTRAPOLATED from $istat_sample random istat calls ($sample_s s) x $n_inodes inodes / $istat_sample, plus fls; ours --text is $(ratio "$tsk_s" "${wall[text]}")x faster"
echo

fail=0
goal() { # goal NAME OK(0/1) DETAIL
	if [ "$2" = 1 ]; then echo "PASS  $1 ($3)"; else echo "FAIL  $1 ($3)"; fail=1; fi
}
mx() { awk -v t="$tsk_s" -v o="$1" 'BEGIN{printf "%.0f", t / o}'; } # fls + istat / ours
case $kind in
ext50k)
	goal ">= 50x faster than fls + istat" "$(awk -v a="$(mx "${wall[text]}")" -v b="$(mx "${wall[json]}")" 'BEGIN{print (a >= 50 && b >= 50)}')" \
		"$(mx "${wall[text]}")x text, $(mx "${wall[json]}")x json"
	goal "< 2 s for 50k files on one core" "$(awk -v a="${wall[text]}" -v b="${wall[json]}" 'BEGIN{print (a < 2 && b < 2)}')" \
		"text ${wall[text]} s, json ${wall[json]} s"
	;;
ntfs20k)
	goal ">= 20x faster than fls + istat" "$(awk -v a="$(mx "${wall[text]}")" -v b="$(mx "${wall[json]}")" 'BEGIN{print (a >= 20 && b >= 20)}')" \
		"$(mx "${wall[text]}")x text, $(mx "${wall[json]}")x json"
	;;
esac
case $kind in
ext50k | ntfs20k)
	goal "max RSS < 200 MiB" "$(awk -v a="${rss[text]}" -v b="${rss[json]}" 'BEGIN{print (a < 200 * 1024 && b < 200 * 1024)}')" \
		"text $(mib "${rss[text]}") MiB, json $(mib "${rss[json]}") MiB"
	goal "the map agrees with fls and istat" "$check_ok" "bench/tskcheck.py, above"
	exit $fail
	;;
esac
goal "faster than fls -r -p" "$(awk -v a="${wall[text]}" -v b="${wall[json]}" -v f="${wall[fls]}" 'BEGIN{print (a < f && b < f)}')" \
	"text ${wall[text]} s, json ${wall[json]} s, fls ${wall[fls]} s"
goal "max RSS <= 1 GiB" "$(awk -v a="${rss[text]}" -v b="${rss[json]}" 'BEGIN{print (a <= 1048576 && b <= 1048576)}')" \
	"text $(mib "${rss[text]}") MiB, json $(mib "${rss[json]}") MiB"
goal "the map agrees with fls and istat" "$check_ok" "bench/tskcheck.py, above"
exit $fail
