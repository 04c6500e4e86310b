#!/usr/bin/env bash
# ntfs.sh OUTDIR — build OUTDIR/ntfs.img: an MBR disk with two NTFS
# partitions, made with mkntfs on files and populated without mounting by
# testimages/ntfs/mkntfstree.c (libntfs-3g), then copied into the disk with
# dd conv=notrunc. Also writes OUTDIR/ntfs.layout
# ("DEVICE START_SECTOR SECTORS FSTYPE").
#
#   sda1  48 MiB, 4 KiB clusters: nested directories, a directory with a
#         non-resident index ($INDEX_ALLOCATION), long and non-ASCII names,
#         empty / resident / large files, a fragmented file with an
#         $ATTRIBUTE_LIST, sparse and compressed files, named streams, hard
#         links, a junction and a directory symbolic link (reparse points)
#   sda2  16 MiB, 1 KiB clusters: a smaller tree (other cluster size), a
#         junction to its own parent directory
#
# MKNTFSTREE=PATH uses an already built mkntfstree instead of compiling it.
# Usable alone; testimages/build.sh runs it at its end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: ntfs.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PATH=$PATH:/sbin:/usr/sbin
export LC_ALL=C TZ=UTC

need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "ntfs.sh: $1 not found: install the Debian package '$2' (apt-get install $2)" >&2
		exit 1
	fi
}
need mkntfs ntfs-3g
need ntfsinfo ntfs-3g
need sfdisk fdisk
need istat sleuthkit
need blkid util-linux
need dd coreutils

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-ntfs.XXXXXX")
trap 'rm -rf "$work"' EXIT

tool=${MKNTFSTREE:-}
if [ -z "$tool" ]; then
	need gcc gcc
	if [ ! -f /usr/include/ntfs-3g/volume.h ]; then
		echo "ntfs.sh: libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'" >&2
		exit 1
	fi
	tool=$work/mkntfstree
	gcc -O2 -Wall -o "$tool" "$here/ntfs/mkntfstree.c" -lntfs-3g
fi

# mkvol FILE SECTORS CLUSTER LABEL SERIAL: a fresh NTFS volume in FILE with a
# fixed serial number (mkntfs picks a random one: bytes 0x48-0x4f of the boot
# sector and of its backup in the volume's last sector are rewritten).
mkvol() {
	local f=$1 sectors=$2 cl=$3 label=$4 serial=$5
	rm -f "$f"
	truncate -s $((sectors * 512)) "$f"
	mkntfs -F -Q -T -q -L "$label" -c "$cl" -s 512 -p 0 -H 255 -S 63 "$f" "$sectors" >/dev/null 2>&1 ||
		mkntfs -F -Q -T -L "$label" -c "$cl" "$f" "$sectors"
	local le="" i
	for i in 7 6 5 4 3 2 1 0; do le="$le\\x${serial:$((i * 2)):2}"; done
	printf "$le" | dd of="$f" bs=1 seek=$((0x48)) conv=notrunc status=none
	printf "$le" | dd of="$f" bs=1 seek=$(((sectors - 1) * 512 + 0x48)) conv=notrunc status=none
}

T=$'\t'
manifest1() {
	echo "dir${T}/docs"
	echo "dir${T}/docs/nested"
	echo "dir${T}/docs/nested/deeper"
	echo "dir${T}/docs/nested/deeper/deepest"
	echo "file${T}/docs/nested/deeper/deepest/leaf.txt${T}3000${T}1"
	echo "file${T}/docs/empty${T}0${T}0"
	echo "file${T}/docs/tiny${T}20${T}2"
	echo "file${T}/docs/resident-600${T}600${T}3"
	echo "file${T}/docs/large.bin${T}5000000${T}4"
	echo "file${T}/docs/a name with spaces${T}5000${T}5"
	echo "file${T}/docs/ünïcödé-名前-Ωμέγα${T}7000${T}6"
	echo "file${T}/docs/$(printf 'L%.0s' $(seq 1 40))-a-very-long-file-name-that-goes-on-and-on-past-one-hundred-and-twenty-chars.txt${T}100${T}7"
	echo "dir${T}/empty-dir"
	# A directory far too large for its $INDEX_ROOT: $INDEX_ALLOCATION, $BITMAP.
	echo "dir${T}/many"
	for i in $(seq 1 300); do
		echo "file${T}/many/entry-with-a-longish-name-$(printf %04d "$i")${T}$((i % 3 * 700))${T}$i"
	done
	echo "dir${T}/many/sub"
	echo "file${T}/many/sub/x${T}10${T}1"
	# Hard links: one record, three Win32 names (TSK lists each).
	echo "dir${T}/links"
	echo "file${T}/links/hard1${T}9000${T}8"
	echo "link${T}/links/hard1${T}/links/hard2"
	echo "link${T}/links/hard1${T}/docs/hard3"
	# Named streams, resident and not, on a file and on a directory.
	echo "file${T}/streams${T}4000${T}9"
	echo "ads${T}/streams${T}small${T}40${T}10"
	echo "ads${T}/streams${T}big stream${T}20000${T}11"
	echo "ads${T}/docs${T}dirstream${T}6000${T}12"
	# Sparse: data at 10 MB only; data then a hole is not made by libntfs-3g.
	echo "dir${T}/sparse"
	echo "sparse${T}/sparse/island${T}10000000${T}8192${T}13"
	echo "sparse${T}/sparse/two${T}65536${T}4096${T}14"
	# Compressed (LZNT1, 64 KiB units): compressible and not.
	echo "cdir${T}/compressed"
	echo "compressed${T}/compressed/text${T}300000${T}15"
	echo "file${T}/compressed/random${T}100000${T}16"
	echo "compressed${T}/compressed/small${T}100${T}17"
	# Fragmented: 400 one-cluster runs, too many for one record: an
	# $ATTRIBUTE_LIST and extension records.
	echo "dir${T}/frag"
	echo "frag${T}/frag/scattered${T}400${T}18"
	echo "frag${T}/frag/few${T}12${T}19"
	# Reparse points: a junction and a directory symbolic link to existing
	# directories (not followed: each is its own, empty, directory).
	echo "dir${T}/reparse"
	echo "junction${T}/reparse/junction-to-docs${T}/docs"
	echo "symlink${T}/reparse/symlink-to-nested${T}/docs/nested"
}

manifest2() {
	echo "dir${T}/small"
	echo "file${T}/small/one${T}1500${T}21"
	echo "file${T}/small/two${T}200${T}22"
	echo "ads${T}/small/two${T}s${T}3000${T}23"
	echo "frag${T}/small/frag${T}300${T}24"
	echo "sparse${T}/small/sparse${T}200000${T}1024${T}25"
	# A junction to its own parent: following it would loop.
	echo "junction${T}/small/up${T}/small"
}

# Partition table: 2048-sector alignment, fixed disk id.
s1=2048 n1=$((48 * 2048))
s2=$((s1 + n1)) n2=$((16 * 2048))
disk=$out/ntfs.img
rm -f "$disk"
truncate -s $(((s2 + n2 + 2048) * 512)) "$disk"

mkvol "$work/p1.fs" $n1 4096 "NTFS One" 0123456789ABCDEF
manifest1 >"$work/m1"
"$tool" "$work/p1.fs" <"$work/m1"
mkvol "$work/p2.fs" $n2 1024 "NTFS Two" FEDCBA9876543210
manifest2 >"$work/m2"
"$tool" "$work/p2.fs" <"$work/m2"

sfdisk -q "$disk" <<EOF
label: dos
label-id: 0x4e544653
unit: sectors

start=$s1, size=$n1, type=7
start=$s2, size=$n2, type=7
EOF
dd if="$work/p1.fs" of="$disk" bs=1M seek=$((s1 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$work/p2.fs" of="$disk" bs=1M seek=$((s2 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
cat >"$out/ntfs.layout" <<EOF
/dev/sda1 $s1 $n1 ntfs
/dev/sda2 $s2 $n2 ntfs
EOF

# --- check the shapes the tests rely on ---------------------------------------
fail() {
	echo "ntfs.sh: shape missing: $*" >&2
	exit 1
}
inode_of() { # inode_of FSFILE PATH (fls -p, no leading slash)
	fls -r -p "$1" | awk -F'\t' -v p="$2" '!found && $2 == p { split($1, a, " "); sub(/-.*/, "", a[2]); sub(/:$/, "", a[2]); print a[2]; found = 1 }'
}
expect_istat() { # expect_istat FSFILE PATH REGEX WHAT
	local ino
	ino=$(inode_of "$1" "$2")
	[ -n "$ino" ] || fail "$2 not listed by fls"
	local out
	out=$(istat "$1" "$ino") # not piped into grep -q: SIGPIPE under pipefail
	grep -Eq "$3" <<<"$out" || fail "$2: $4"
}
expect_istat "$work/p1.fs" frag/scattered '^Type: \$ATTRIBUTE_LIST' '$ATTRIBUTE_LIST'
expect_istat "$work/p2.fs" small/frag '^Type: \$ATTRIBUTE_LIST' '$ATTRIBUTE_LIST'
expect_istat "$work/p1.fs" many '^Type: \$INDEX_ALLOCATION' 'non-resident index'
expect_istat "$work/p1.fs" sparse/island 'Non-Resident, Sparse' 'sparse $DATA'
expect_istat "$work/p1.fs" compressed/text 'Non-Resident, Compressed' 'compressed $DATA'
expect_istat "$work/p1.fs" docs/tiny '\$DATA \(128-[0-9]+\)   Name: N/A   Resident' 'resident $DATA'
expect_istat "$work/p1.fs" streams 'Name: big stream   Non-Resident' 'non-resident named stream'
expect_istat "$work/p1.fs" streams 'Name: small   Resident' 'resident named stream'
[ "$(fls -r -p "$work/p1.fs" | grep -cE $'\t(links/hard[12]|docs/hard3)$')" = 3 ] || fail "three names of /links/hard1"
expect_reparse() { # expect_reparse FSFILE PATH TAG WHAT: a reparse point, listed once, nothing under it
	expect_istat "$1" "$2" '^Type: \$REPARSE_POINT' "$4: \$REPARSE_POINT"
	local out
	out=$(ntfsinfo -F "/$2" "$1" 2>&1)
	grep -q "Reparse tag:.*$3" <<<"$out" || fail "$2: $4: reparse tag $3"
	out=$(fls -r -p "$1")
	[ "$(grep -cF $'\t'"$2" <<<"$out")" = 1 ] || fail "$2: $4: listed once by fls, nothing under it"
}
expect_reparse "$work/p1.fs" reparse/junction-to-docs 0xa0000003 junction
expect_reparse "$work/p1.fs" reparse/symlink-to-nested 0xa000000c 'symbolic link'
expect_reparse "$work/p2.fs" small/up 0xa0000003 'junction to its parent'
[ "$(blkid -p -o value -s UUID "$work/p1.fs")" = 0123456789ABCDEF ] || fail "fixed serial (blkid -p)"
echo "built ntfs.img in $out"
