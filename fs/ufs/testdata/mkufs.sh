#!/bin/sh
# Builds small.img.gz, the seed of the fuzz targets and the base of the
# corruption table: a UFS2 image (4 KiB blocks, 512-byte fragments, so
# that a 60 KiB file needs a single indirect block) of a tiny tree with a
# nested directory, a fragment-sized file, an indirect-mapped file, and a
# short and a long symbolic link. Needs NetBSD's makefs (Debian: makefs).
# Timestamps are fixed (-T) so that the image is reproducible.
set -e
cd "$(dirname "$0")"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
mkdir -p "$src/dir/sub"
printf 'hello\n' > "$src/dir/sub/tiny"
head -c 3000 /dev/zero | tr '\0' 'f' > "$src/frag"
seq 1 12000 > "$src/indirect"
ln -s dir/sub/tiny "$src/short"
ln -s "/$(printf '%0200d' 0)/target" "$src/long"
rm -f small.img
makefs -t ffs -T 1700000000 -o version=2,bsize=4096,fsize=512,density=4096 -s 256k small.img "$src"
gzip -9n -f small.img
