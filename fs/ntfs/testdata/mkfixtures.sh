#!/usr/bin/env bash
# mkfixtures.sh — rebuild the small NTFS volumes the fs/ntfs unit tests,
# fuzz seeds and corruption table use, with mkntfs and
# testimages/ntfs/mkntfstree.c (libntfs-3g; no mount). Committed gzipped.
#
#   small.img.gz   2 MiB, 1 KiB clusters: a directory with an
#                  $INDEX_ALLOCATION, resident and non-resident files, a
#                  named stream, a hard link, a sparse file, a fragmented
#                  file with an $ATTRIBUTE_LIST, a junction to its own
#                  parent (/dir/up) and a directory symbolic link (/slink)
#                  to /dir
#   small4k.img.gz 4 MiB, 4 KiB clusters: a compressed file, a large file
#
# The volume serial is fixed; mkntfs -T zeroes the times. libntfs-3g still
# writes the current time into the files it creates, so the bytes differ
# from one build to the next (the shapes do not). $UpCase's contents are
# zeroed (see mk) to keep the fixtures small.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PATH=$PATH:/sbin:/usr/sbin
gcc -O2 -Wall -o "$work/mkntfstree" "$here/../../../testimages/ntfs/mkntfstree.c" -lntfs-3g
T=$'\t'

mk() { # mk NAME SECTORS CLUSTER SERIAL < MANIFEST
	local f=$work/$1 sectors=$2 le="" i
	truncate -s $(($2 * 512)) "$f"
	mkntfs -F -Q -T -q -L "$1" -c "$3" -s 512 -p 0 -H 255 -S 63 "$f" "$sectors" >/dev/null 2>&1
	for i in 7 6 5 4 3 2 1 0; do le="$le\\x${4:$((i * 2)):2}"; done
	printf "$le" | dd of="$f" bs=1 seek=$((0x48)) conv=notrunc status=none
	printf "$le" | dd of="$f" bs=1 seek=$(((sectors - 1) * 512 + 0x48)) conv=notrunc status=none
	"$work/mkntfstree" "$f"
	# $UpCase (record 10) is 128 KiB of a table gzip barely shrinks; the
	# walker never reads it: zero its clusters.
	local cl
	for cl in $(istat "$f" 10 | sed -n '/^Type: \$DATA (128-1)/,/^Type/p' | grep -E '^[0-9 ]+$'); do
		dd if=/dev/zero of="$f" bs="$3" seek="$cl" count=1 conv=notrunc status=none
	done
	gzip -9n -c "$f" >"$here/$1.img.gz"
}

{
	echo "dir${T}/dir"
	for i in $(seq 1 40); do echo "compressed${T}/dir/file-with-a-long-name-$i${T}$((i * 37))${T}$i"; done
	echo "compressed${T}/big${T}20000${T}1"
	echo "file${T}/tiny${T}5${T}2"
	echo "ads${T}/tiny${T}s${T}3000${T}3"
	echo "link${T}/big${T}/dir/big-link"
	echo "sparse${T}/sparse${T}100000${T}1024${T}4"
	echo "frag${T}/frag${T}260${T}5"
	echo "file${T}/ünï${T}10${T}6"
	echo "junction${T}/dir/up${T}/dir"
	echo "symlink${T}/slink${T}/dir"
} | mk small 4096 1024 1122334455667788

{
	echo "cdir${T}/c"
	echo "compressed${T}/c/text${T}100000${T}7"
	echo "compressed${T}/large${T}600000${T}8"
} | mk small4k 8192 4096 99AABBCCDDEEFF00
ls -l "$here"/*.img.gz
