#!/usr/bin/env bash
# ntfs-damage.sh VOLUME OUTDIR — copies of an NTFS volume image (a bare
# volume, as fs/ntfs/testdata's fixtures unpack to, or a partition cut out
# of a disk with dd), each damaged one way a disk in trouble is damaged,
# $MFTMirr and (but where said) the backup boot sector left intact. Where
# each structure lies is asked of The Sleuth Kit (fsstat, fls, istat), not
# of our own code. Writes OUTDIR/NAME.img and OUTDIR/MANIFEST, a line per
# image: "NAME<TAB>what was damaged<TAB>what a reader should do".
#
#   boot-zeroed        the boot sector zeroed: use the backup boot sector
#                      (the volume's last sector)
#   boot-and-backup    both boot sectors zeroed: not an NTFS volume any more
#   mft0-garbage       $MFT's record 0 overwritten with random bytes: use
#                      $MFTMirr's copy (as ntfs-3g does)
#   mft0-3-fixups      records 0-3 torn (a sector's update sequence number
#                      changed): use $MFTMirr's copies
#   mft0-and-mirror    record 0 and its $MFTMirr copy garbage: give up
#   file-fixup         one file's record torn: that file lost, the rest
#                      mapped
#   dir-record         a directory's record garbage: the directory lost,
#                      its files found as orphans (TSK: $OrphanFiles)
#   index-record       a directory's first index record (INDX) garbage:
#                      the names it held lost, their files orphans
#
# Random bytes are reproducible (openssl's keystream from a fixed key, or
# a fixed pattern when openssl is missing).
set -euo pipefail
vol=${1:?usage: ntfs-damage.sh VOLUME OUTDIR}
out=${2:?usage: ntfs-damage.sh VOLUME OUTDIR}
PATH=$PATH:/sbin:/usr/sbin
export LC_ALL=C
for t in fsstat fls istat dd; do
	command -v "$t" >/dev/null || { echo "ntfs-damage.sh: $t not found (sleuthkit, coreutils)" >&2; exit 1; }
done
mkdir -p "$out"

info=$(fsstat "$vol")
field() { sed -n "s/^$1: *//p" <<<"$info" | head -1; }
cs=$(field "Cluster Size")
rs=$(field "Size of MFT Entries" | cut -d' ' -f1)
mft=$(($(field "First Cluster of MFT") * cs))
mirr=$(($(field "First Cluster of MFT Mirror") * cs))
size=$(stat -c %s "$vol")

# garbage N: N reproducible pseudo-random bytes on stdout.
garbage() {
	if command -v openssl >/dev/null; then
		head -c "$1" /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0 2>/dev/null
	else
		yes 'ntfs-damage garbage 0123456789abcdef' | head -c "$1"
	fi
}
# put IMG OFF < bytes: overwrite at byte OFF.
put() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# flip IMG OFF: invert the byte at OFF (a torn sector: its last two bytes
# no longer hold the update sequence number when OFF is one of them).
flip() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "\\$(printf %03o $((255 - b)))" | put "$1" "$2"
}
new() { cp --sparse=always "$vol" "$out/$1.img"; echo "$out/$1.img"; }
T=$'\t'
: >"$out/MANIFEST"
note() { echo "$1${T}$2${T}$3" >>"$out/MANIFEST"; }

# A directory other than the root and the system files, and a file, as
# fls lists them; the directory with an $INDEX_ALLOCATION if there is one.
listing=$(fls -r -p "$vol")
dir="" ixdir="" ixcl="" file=""
while IFS=$'\t' read -r head name; do
	case $name in '$'* | *:*) continue ;; esac
	n=${head##* }
	n=${n%%-*}
	n=${n%:}
	case $head in
	d/d*)
		[ -n "$dir" ] || dir=$n
		if [ -z "$ixcl" ]; then
			c=$(istat "$vol" "$n" | sed -n '/^Type: \$INDEX_ALLOCATION/{n;p;q}' | awk '{print $1}')
			if [ -n "$c" ]; then ixdir=$n ixcl=$c; fi
		fi
		;;
	r/r*) [ -n "$file" ] || file=$n ;;
	esac
done <<<"$listing"

img=$(new boot-zeroed)
head -c 512 /dev/zero | put "$img" 0
note boot-zeroed "boot sector (0-511) zeroed" "use the backup boot sector at $((size - 512)), warn"

img=$(new boot-and-backup)
head -c 512 /dev/zero | put "$img" 0
head -c 512 /dev/zero | put "$img" $((size - 512))
note boot-and-backup "both boot sectors zeroed" "not recognised: say so"

img=$(new mft0-garbage)
garbage "$rs" | put "$img" "$mft"
note mft0-garbage "MFT record 0 at $mft: random bytes" "use \$MFTMirr's copy at $mirr, warn; map everything"

img=$(new mft0-3-fixups)
for i in 0 1 2 3; do flip "$img" $((mft + i * rs + 1022)); done
note mft0-3-fixups "MFT records 0-3: bad fixup (byte 1022 of each)" "use \$MFTMirr's copies, warn for each; map everything"

img=$(new mft0-and-mirror)
garbage "$rs" | put "$img" "$mft"
garbage "$rs" | put "$img" "$mirr"
note mft0-and-mirror "MFT record 0 and its \$MFTMirr copy: random bytes" "not walkable: say why"

if [ -n "$file" ]; then
	img=$(new file-fixup)
	flip "$img" $((mft + file * rs + 1022))
	note file-fixup "MFT record $file: bad fixup" "warn (record $file, its offset); that file lost, the rest mapped"
fi
if [ -n "$dir" ]; then
	img=$(new dir-record)
	garbage "$rs" | put "$img" $((mft + dir * rs))
	note dir-record "MFT record $dir (a directory): random bytes" "warn; its files mapped as orphans"
fi
if [ -n "$ixcl" ]; then
	img=$(new index-record)
	garbage 4096 | put "$img" $((ixcl * cs))
	note index-record "record $ixdir's first index record at $((ixcl * cs)): random bytes" "warn; the files it named mapped as orphans"
fi
# Records are placed as if $MFT's first clusters were contiguous, which
# they are for the first records of every volume mkntfs and Windows make;
# a file or directory record far into a fragmented $MFT may lie elsewhere.
cat "$out/MANIFEST"
