#!/bin/sh
# Builds the fuzz seeds in this directory with cryptsetup: the headers of a
# tiny LUKS1 and a tiny LUKS2 volume (fixed UUID and label; salts and keys
# are random, so the bytes differ on every run). Run from this directory.
#   luks1-header.bin.gz  first 4 KiB of a LUKS1 volume (the 592-byte header)
#   luks2-header.bin.gz  first 32 KiB of a LUKS2 volume: both 16 KiB header
#                        copies (binary header + JSON metadata)
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass="correct horse battery"

truncate -s 3M "$tmp/l1"
printf %s "$pass" | cryptsetup luksFormat --batch-mode --key-file - --type luks1 \
	--pbkdf-force-iterations 1000 -c aes-xts-plain64 -s 256 \
	--uuid 0d7ccbd6-5a52-4f38-9c9b-1b9d0f2d7a11 "$tmp/l1"
head -c 4096 "$tmp/l1" | gzip -9n > luks1-header.bin.gz

truncate -s 2M "$tmp/l2"
printf %s "$pass" | cryptsetup luksFormat --batch-mode --key-file - --type luks2 \
	--luks2-metadata-size 16k --luks2-keyslots-size 960k \
	--pbkdf argon2id --pbkdf-memory 32 --pbkdf-force-iterations 4 \
	-c aes-xts-plain64 -s 512 --sector-size 4096 --label seed \
	--uuid 7a3e1f52-94c1-4b0e-8f2d-6c5b1a9e3d40 "$tmp/l2"
head -c 32768 "$tmp/l2" | gzip -9n > luks2-header.bin.gz
