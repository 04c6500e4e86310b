#!/usr/bin/env bash
# fat.sh OUTDIR — build the FAT test disk reproducibly with mkfs.fat and mtools.
#
# Writes into OUTDIR:
#   fat.img      MBR disk, 74 MiB (sparse): sda1 FAT12 (8 MiB, 4 KiB clusters),
#                sda2 FAT16 (24 MiB, 2 KiB clusters), sda3 FAT32 (40 MiB,
#                512-byte clusters, backup boot sector and FSInfo)
#   fat.layout   one line per partition: "DEVICE START_SECTOR SECTORS FSTYPE"
#
# No loop device, no mount: each filesystem is made as a file with mkfs.fat,
# populated with mtools (mmd, mcopy -s, mdel), and copied into the disk with
# dd conv=notrunc at its partition's offset.
#
# Reproducible: fixed volume ids (-i) and labels, mkfs.fat --invariant, fixed
# MBR disk id, SOURCE_DATE_EPOCH (mtools 4.0.32 stamps the entries it creates
# with it), generated file contents. Building twice gives byte-identical images.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: fat.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1 && ! [ -x "/sbin/$1" ] && ! [ -x "/usr/sbin/$1" ]; then
		echo "fat.sh: $1 not found: install the Debian package '$2' (apt-get install $2)" >&2
		exit 1
	fi
}
PATH=$PATH:/sbin:/usr/sbin
need mkfs.fat dosfstools
need mmd mtools
need mcopy mtools
need mdel mtools
need mshowfat mtools
need sfdisk fdisk
need truncate coreutils
need dd coreutils
need grep grep

export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1700000000 MTOOLS_SKIP_CHECK=1

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	work=$(mktemp -d /dev/shm/virt-bmap-fat.XXXXXX)
else
	work=$(mktemp -d "$out/work.XXXXXX")
fi
trap 'rm -rf "$work"' EXIT

# text N SEED: N bytes of deterministic, non-zero, printable content.
text() {
	(
		set +o pipefail # yes ends on SIGPIPE
		yes "$2 the quick brown fox jumps over the lazy dog 0123456789" | head -c "$1"
	)
}

fail() {
	echo "fat.sh: $*" >&2
	exit 1
}

# runs FSIMG PATH: how many runs of clusters mshowfat lists for PATH.
runs() {
	mshowfat -i "$1" "::$2" | grep -o '<[0-9]*\(-[0-9]*\)\?>' | wc -l
}

# emoji FSIMG: mtools 4.0.32 stores a character outside the BMP as its low
# 16 bits (U+1F600 becomes U+F600) instead of a surrogate pair, so the file
# is created as "…-XX.txt" and the two UTF-16 units of "XX" in its long name
# entry are replaced by the surrogate pair of U+1F600 (D83D DE00). The long
# name checksum covers only the 8.3 name, which does not change.
emoji() {
	local offs
	offs=$(LC_ALL=C grep -obUaP 'X\x00X\x00\.\x00' "$1" | cut -d: -f1)
	[ "$(wc -w <<<"$offs")" = 1 ] || fail "$1: want one long name with XX, found at: $offs"
	printf '\075\330\000\336' | dd of="$1" bs=1 seek="$offs" conv=notrunc status=none
}

# populate FSIMG CLUSTER_SIZE: the tree every partition carries.
populate() {
	local img=$1 cs=$2 i
	local src=$work/src
	rm -rf "$src"
	mkdir -p "$src/deep/level1/level2/level3/level4/level5" "$src/names" "$src/bigdir" \
		"$src/case1" "$src/case2" "$src/case3" "$src/empty-dir" "$src/sizes"
	text 5 tiny >"$src/tiny.txt"
	: >"$src/empty"
	text $((3 * 1024 * 1024 + 123)) large >"$src/large.bin"
	text 4000 leaf >"$src/deep/level1/level2/level3/level4/level5/leaf.txt"
	text 100 l3 >"$src/deep/level1/level2/level3/file-at-level-3"
	text 700 long >"$src/names/A file with a rather long name, spaces and, commas.txt"
	text 300 accent >"$src/names/résumé-élève.txt"
	text 300 cjk >"$src/names/日本語のファイル名.txt"
	text 300 emoji >"$src/names/smile-XX.txt"
	text 300 mixed >"$src/names/MiXeD.CaSe"
	text 50 dots >"$src/names/many.dots.in.name"
	# names differing only in case, one per directory (FAT folds case): all
	# lower case (8.3 + NT lower-case flags), all upper (plain 8.3), mixed
	# (a long name), lower base with upper extension (one NT flag)
	text 10 c1 >"$src/case1/readme.txt"
	text 10 c2 >"$src/case2/README.TXT"
	text 10 c3 >"$src/case3/ReadMe.txt"
	text 10 c4 >"$src/case3/notes.TXT"
	# a directory of several clusters: 150 long names of 3 entries each
	for i in $(seq -w 1 150); do
		text $((10#$i * 11)) "bd$i" >"$src/bigdir/entry-with-a-long-name-number-$i.dat"
	done
	# sizes around the cluster size
	for i in 1 $((cs - 1)) $cs $((cs + 1)) $((2 * cs)) $((5 * cs + 7)); do
		text "$i" "size$i" >"$src/sizes/f$i"
	done
	find "$src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	mcopy -s -i "$img" "$src"/* ::/
	emoji "$img"

	# fragmentation: 40 one-cluster files, every other one deleted, then a
	# file of 30 clusters written into the holes (mtools allocates from the
	# lowest free cluster; on FAT32 from FSInfo's next-free hint, which is
	# set to "unknown" so that the search starts at cluster 2 again)
	mmd -i "$img" ::/frag
	for i in $(seq -w 1 40); do
		text "$cs" "piece$i" >"$work/p$i"
	done
	mcopy -i "$img" "$work"/p?? ::/frag/
	for i in $(seq -w 1 2 40); do
		mdel -i "$img" "::/frag/p$i"
	done
	if [ "$(dd if="$img" bs=1 skip=512 count=4 status=none | tr -d "\0")" = RRaA ]; then
		printf '\377\377\377\377' | dd of="$img" bs=1 seek=$((512 + 492)) conv=notrunc status=none
	fi
	text $((30 * cs)) fragmented >"$work/fragbig"
	mcopy -i "$img" "$work/fragbig" ::/frag/big
	# a second fragmented file, by appending to an early one after others
	text $((3 * cs)) more >"$work/fragmore"
	mcopy -i "$img" "$work/fragmore" ::/frag/after

	local n
	n=$(runs "$img" /frag/big)
	[ "$n" -ge 5 ] || fail "$img: /frag/big has $n runs of clusters, want a fragmented file (>= 5)"
}

# clusters FSIMG PATH: how many clusters mshowfat lists for PATH.
clusters() {
	mshowfat -i "$1" "::$2" | grep -o '<[0-9]*\(-[0-9]*\)\?>' | tr -d '<>' |
		awk -F- '{ n += (NF == 2 ? $2 - $1 + 1 : 1) } END { print n + 0 }'
}

# mkfat FSIMG SECTORS START VARIANT SPC ID LABEL
mkfat() {
	local img=$1 sectors=$2 start=$3 variant=$4 spc=$5 id=$6 label=$7
	rm -f "$img"
	mkfs.fat -C --invariant -F "$variant" -s "$spc" -h "$start" -i "$id" -n "$label" \
		"$img" $((sectors / 2)) >/dev/null 2>"$work/mkfs.err" || {
		cat "$work/mkfs.err" >&2
		exit 1
	}
	populate "$img" $((spc * 512))
	[ "$(clusters "$img" /bigdir)" -ge 3 ] || fail "$img: /bigdir spans $(clusters "$img" /bigdir) clusters, want several"
}

disk=$out/fat.img
s1=2048 n1=16384   # FAT12, 8 MiB, 4 KiB clusters (2,000 clusters)
s2=18432 n2=49152  # FAT16, 24 MiB, 2 KiB clusters (12,000 clusters)
s3=67584 n3=81920  # FAT32, 40 MiB, 512-byte clusters (81,000 clusters)
total=$((s3 + n3)) # 74 MiB

mkfat "$work/p1.fs" $n1 $s1 12 8 0x12120001 FAT12PART
mkfat "$work/p2.fs" $n2 $s2 16 4 0x16160002 FAT16PART
mkfat "$work/p3.fs" $n3 $s3 32 1 0x32320003 FAT32PART

# FAT32: FSInfo in sector 1 and a backup boot sector (sector 6) the tests map
[ "$(dd if="$work/p3.fs" bs=1 skip=512 count=4 status=none)" = RRaA ] || fail "FAT32: no FSInfo in sector 1"
[ "$(dd if="$work/p3.fs" bs=1 skip=$((6 * 512 + 82)) count=5 status=none)" = FAT32 ] || fail "FAT32: no backup boot sector in sector 6"

rm -f "$disk"
truncate -s $((total * 512)) "$disk"
sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x5eedfa70
unit: sectors

start=$s1, size=$n1, type=1
start=$s2, size=$n2, type=6
start=$s3, size=$n3, type=c
EOF
for p in "1 $s1" "2 $s2" "3 $s3"; do
	set -- $p
	dd if="$work/p$1.fs" of="$disk" bs=512 seek="$2" conv=notrunc,sparse status=none
done
cat >"$out/fat.layout" <<EOF
/dev/sda1 $s1 $n1 vfat
/dev/sda2 $s2 $n2 vfat
/dev/sda3 $s3 $n3 vfat
EOF
echo "built fat.img in $out"
