#!/usr/bin/env bash
# Builds the small FAT images the unit tests and fuzz targets of fs/fat use,
# with mkfs.fat (dosfstools) and mtools: no mount, no loop device. Run from
# anywhere; writes the *.img.gz files next to this script.
#
#   fat12.img.gz        1 MiB FAT12, 512-byte clusters
#   fat16.img.gz        4 MiB FAT16, 512-byte clusters (8,000 clusters)
#   fat32.img.gz        33 MiB FAT32, 512-byte clusters (65,600 clusters, just
#                       above the FAT32 minimum), backup boot sector, FSInfo
#
# A smaller FAT32 cannot be made: mtools (like The Sleuth Kit) decides the
# FAT width by the cluster count, and refuses a FAT32 layout with fewer
# than 65,525 clusters.
#
# Each carries the same tree (see populate): nested directories, a
# directory of several clusters, long, non-ASCII and emoji names, 8.3 names
# with the NT lower-case flags, empty, tiny and larger files, and a
# fragmented file (many small files written, every other one deleted, then
# a big file written into the holes).
#
# Reproducible: fixed volume ids (-i), mkfs.fat --invariant (fixed boot
# code and times in what mkfs writes), and mtools honours SOURCE_DATE_EPOCH
# (checked: mtools 4.0.32 stamps every entry it creates with it), so the
# entries' times are fixed; gzip -n stores no name or time. Building twice
# gives byte-identical files.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$PATH:/sbin:/usr/sbin
for t in mkfs.fat mcopy mmd mdel mshowfat gzip; do
	command -v "$t" >/dev/null || { echo "mkfixtures.sh: $t not found (dosfstools, mtools, gzip)" >&2; exit 1; }
done
export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1700000000 MTOOLS_SKIP_CHECK=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# text N SEED: N bytes of deterministic printable content.
text() {
	(
		set +o pipefail
		yes "$2 the quick brown fox jumps over the lazy dog 0123456789" | head -c "$1"
	)
}

# emoji IMG: mtools 4.0.32 stores a character outside the BMP as its low 16
# bits (U+1F600 becomes U+F600) instead of a surrogate pair, so the file is
# created as "café-日本-XX.txt" and the two UTF-16 units of "XX" in its long
# name entry are replaced by the surrogate pair of U+1F600 (D83D DE00). The
# long name checksum covers only the 8.3 name, which does not change.
emoji() {
	local img=$1 offs
	offs=$(LC_ALL=C grep -obUaP 'X\x00X\x00\.\x00' "$img" | cut -d: -f1)
	if [ "$(wc -w <<<"$offs")" != 1 ]; then
		echo "mkfixtures.sh: $img: want one long name with XX, found at: $offs" >&2
		exit 1
	fi
	printf '\075\330\000\336' | dd of="$img" bs=1 seek="$offs" conv=notrunc status=none
}

# populate IMG: the tree every fixture carries.
populate() {
	local img=$1 i
	local src=$tmp/src
	rm -rf "$src" && mkdir -p "$src"
	text 6 hello >"$src/hello.txt"
	text 3000 conf >"$src/conf"
	: >"$src/empty"
	text 20000 large >"$src/large.bin"
	mmd -i "$img" ::/dir ::/dir/sub ::/dir/sub/deeper ::/many ::/frag ::/case1 ::/case2 ::/case3
	mcopy -i "$img" "$src/hello.txt" ::/hello.txt
	mcopy -i "$img" "$src/conf" "::/A Long File Name.conf"
	mcopy -i "$img" "$src/empty" ::/empty
	mcopy -i "$img" "$src/large.bin" ::/dir/sub/deeper/large.bin
	mcopy -i "$img" "$src/hello.txt" "::/dir/café-日本-XX.txt"
	emoji "$img"
	# names that differ only in case, one per directory (FAT folds case):
	# all lower case (NT flags), all upper case (plain 8.3), mixed (LFN),
	# lower base and upper extension (one NT flag)
	mcopy -i "$img" "$src/hello.txt" ::/case1/readme.txt
	mcopy -i "$img" "$src/hello.txt" ::/case2/README.TXT
	mcopy -i "$img" "$src/hello.txt" ::/case3/ReadMe.txt
	mcopy -i "$img" "$src/hello.txt" ::/case3/notes.TXT
	# 40 entries with long names: the directory spans several clusters
	for i in $(seq -w 1 40); do
		text $((10#$i * 37)) "many$i" >"$src/many-file-with-a-long-name-$i"
	done
	mcopy -i "$img" "$src"/many-file-with-a-long-name-* ::/many/
	# fragmentation: 16 files of 1 KiB, every other one deleted, then 12 KiB
	for i in $(seq -w 1 16); do
		text 1024 "piece$i" >"$src/p$i"
	done
	mcopy -i "$img" "$src"/p?? ::/frag/
	for i in $(seq -w 1 2 16); do
		mdel -i "$img" "::/frag/p$i"
	done
	# mtools allocates from FSInfo's next-free hint on FAT32, which points
	# past the holes: set it to "unknown" (0xFFFFFFFF) so the search starts
	# at cluster 2 again (no-op on FAT12/16: no FSInfo there)
	if [ "$(dd if="$img" bs=1 skip=512 count=4 status=none)" = RRaA ]; then
		printf '\377\377\377\377' | dd of="$img" bs=1 seek=$((512 + 492)) conv=notrunc status=none
	fi
	text 12000 fragmented >"$src/big"
	mcopy -i "$img" "$src/big" ::/frag/big
	if [ "$(mshowfat -i "$img" ::/frag/big | grep -o '<[0-9]*-[0-9]*>' | wc -l)" -lt 3 ]; then
		echo "mkfixtures.sh: $img: /frag/big is not fragmented:" >&2
		mshowfat -i "$img" ::/frag/big >&2
		exit 1
	fi
}

build() { # build NAME SIZE_KIB MKFS-ARGS...
	local name=$1 kib=$2
	shift 2
	rm -f "$tmp/$name.img"
	mkfs.fat -C --invariant "$@" "$tmp/$name.img" "$kib" >/dev/null 2>"$tmp/mkfs.err" || {
		cat "$tmp/mkfs.err" >&2
		exit 1
	}
	populate "$tmp/$name.img"
	gzip -9n <"$tmp/$name.img" >"$here/$name.img.gz"
}

build fat12 1024 -F 12 -s 1 -i 12AB34CD -n FAT12TEST
build fat16 4096 -F 16 -s 1 -i 16AB34CD -n FAT16TEST
build fat32 33792 -F 32 -s 1 -i 32AB34CD -n FAT32TEST
ls -l "$here"/*.img.gz
