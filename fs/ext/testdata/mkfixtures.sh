#!/bin/sh
# Builds the small images the fuzz targets of fs/ext are seeded from.
# Run from anywhere; writes small-ext4.img.gz, small-ext4-inline.img.gz and
# small-ext2.img.gz next to this script. Needs e2fsprogs (mkfs.ext2,
# mkfs.ext4, debugfs) and gzip. Fixed UUIDs, labels, hash seeds and time
# keep the output reproducible.
#
# small-ext4:        384 KiB, 1 KiB blocks, extents (one file with an
#                    extent index block), fast and slow symlinks, a hard
#                    link, a nested directory, a FIFO, an xattr block.
# small-ext4-inline: 256 KiB, inline_data files and directory.
# small-ext2:        512 KiB, 1 KiB blocks, a file with single and double
#                    indirect blocks, a sparse file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export E2FSPROGS_FAKE_TIME=1700000000
common="-q -F -U 6a1f0c3e-2b7d-4c59-9e0a-5d3b8f1c2e47 -E root_owner=0:0,hash_seed=0b9e3a51-8a9c-4d7e-a31c-7f2e5c1d9b00"

mksrc() {
	src=$1
	mkdir -p "$src/dir/sub" "$src/etc"
	printf 'hello\n' > "$src/hello.txt"
	head -c 3000 /dev/zero | tr '\0' 'x' > "$src/etc/conf"
	head -c 70000 /dev/zero | tr '\0' 'y' > "$src/dir/sub/file"
	ln -s hello.txt "$src/fast"
	ln -s "$(printf 'long/%.0s' $(seq 1 20))target" "$src/slow"
	ln "$src/etc/conf" "$src/dir/conf-link"
	mkfifo "$src/fifo"
	i=0
	while [ $i -lt 24 ]; do
		head -c 1024 /dev/zero | tr '\0' 'f' > "$src/dir/f$i"
		i=$((i + 1))
	done
}

# mkfs -d copies the source tree's times: fix them.
fixtimes() {
	find "$1" -exec touch -h -d @1700000000 {} +
}

rm -rf "$tmp/src" && mksrc "$tmp/src"
fixtimes "$tmp/src"
mkfs.ext4 $common -L fuzz-ext4 -b 1024 -N 64 -O ^has_journal -d "$tmp/src" "$tmp/small-ext4.img" 384K
head -c 20000 /dev/zero | tr '\0' 'z' > "$tmp/frag"
head -c 600 /dev/zero | tr "\0" "a" > "$tmp/xattr"
fixtimes "$tmp/frag"
fixtimes "$tmp/xattr"
debugfs -w -f - "$tmp/small-ext4.img" >/dev/null 2>&1 <<EOC
set_current_time 20231114221320
rm /dir/f0
rm /dir/f2
rm /dir/f4
rm /dir/f6
rm /dir/f8
rm /dir/f10
rm /dir/f12
rm /dir/f14
write $tmp/frag /fragmented
ea_set -f $tmp/xattr /hello.txt user.big
EOC

rm -rf "$tmp/src" && mksrc "$tmp/src"
head -c 100 /dev/zero | tr '\0' 'i' > "$tmp/src/inline100"
fixtimes "$tmp/src"
mkfs.ext4 $common -L fuzz-inline -b 1024 -N 64 -O ^has_journal,inline_data -I 256 -d "$tmp/src" "$tmp/small-ext4-inline.img" 256K

rm -rf "$tmp/src" && mksrc "$tmp/src"
head -c 300000 /dev/zero | tr '\0' 'b' > "$tmp/src/big"
fixtimes "$tmp/src"
mkfs.ext2 $common -L fuzz-ext2 -b 1024 -N 64 -d "$tmp/src" "$tmp/small-ext2.img" 512K

for img in small-ext4 small-ext4-inline small-ext2; do
	gzip -9n < "$tmp/$img.img" > "$here/$img.img.gz"
done
