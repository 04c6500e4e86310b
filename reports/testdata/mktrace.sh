#!/bin/bash
# mktrace.sh: makes sample.ndjson, the fixed NDJSON trace the reports'
# golden tests read, and sample.bmap.json, the map it was traced against.
#
# bmaplogger serves testimages/sample.img (testimages/build.sh; the
# committed sample.img.xz decompressed) and qemu-io makes reads that look
# like a small boot: the MBR, the gap before the first partition (mapped to
# nothing but the disk), the /boot ext2's superblock, group descriptors,
# inode table, root and /grub directories, grub.cfg (twice), one read
# across grub.cfg and the initrd, the whole kernel in 32 KiB reads, the
# first 64 KiB of the initrd; then the root ext4's superblock, /sbin/init,
# /etc/fstab, and free space of /dev/sda2 (in no file). The offsets are
# sample.img's (virt-bmap --format json; the image is reproducible).
#
# Run from the repository root: reports/testdata/mktrace.sh
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xz -dc testimages/sample.img.xz >"$tmp/sample.img"
go build -o "$tmp/bmaplogger" ./cmd/bmaplogger
go build -o "$tmp/virt-bmap" ./cmd/virt-bmap
(cd "$tmp" && ./virt-bmap -q --format json -o sample.bmap.json sample.img)

reads=(
	"0 512"              # MBR (m /dev/sda MBR)
	"512 3584"           # before /dev/sda1: the disk only (unmapped)
	"1049600 1024"       # sda1 superblock
	"1050624 1024"       # sda1 group descriptors
	"1085440 4096"       # sda1 inode table, first inodes
	"1097728 1024"       # sda1 inode table, inodes 12-17
	"1609728 1024"       # / of sda1
	"1659904 1024"       # /grub
	"1660928 1024"       # /grub/grub.cfg
	"1660928 1024"       # /grub/grub.cfg again
	"1660928 4096"       # grub.cfg and the start of the initrd
)
for off in $(seq 1783808 32768 2086911); do # the kernel, 300,000 bytes
	reads+=("$off $((off + 32768 > 2086912 ? 2086912 - off : 32768))")
done
reads+=(
	"1661952 65536"      # the first 64 KiB of the initrd
	"9438208 1024"       # sda2 superblock
	"15814656 40960"     # /sbin/init
	"15712256 4096"      # /etc/fstab
	"34537472 65536"     # the end of sda2: free space
)
cmd="qemu-io -r -f raw"
for r in "${reads[@]}"; do
	cmd+=" -c 'read $r'"
done
cmd+=' "$uri" >/dev/null'
(cd "$tmp" && ./bmaplogger -q --json sample.ndjson sample.img --run "$cmd")
# The header names the image by its absolute path: make it relative.
sed -i "1s|\"image\":\"$tmp/|\"image\":\"|" "$tmp/sample.ndjson"
cp "$tmp/sample.ndjson" "$tmp/sample.bmap.json" "$out/"
echo "wrote $out/sample.ndjson ($(($(wc -l <"$out/sample.ndjson") - 1)) events) and $out/sample.bmap.json"
