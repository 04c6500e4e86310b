#!/bin/sh
# Builds gpt4k.img.gz, an 8 MiB disk with 4096-byte logical sectors ("4Kn")
# and a GPT written by sgdisk, and gpt4k.sfdisk.json, what `sfdisk --json`
# says of it (device names rewritten to gpt4k.img).
#
# Why a committed fixture: sgdisk and sfdisk take the sector size from the
# block device, so the image must be attached to a loop device with
# 4096-byte sectors (losetup -b 4096), which needs root and a kernel that
# lends loop devices; a test cannot count on either. GUIDs are fixed.
# Needs: gdisk (sgdisk), util-linux (losetup, sfdisk), gzip. Run as root.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
dev=
trap '[ -n "$dev" ] && losetup -d "$dev"; rm -rf "$tmp"' EXIT
truncate -s 8M "$tmp/disk.img"
dev=$(losetup -f --show -b 4096 "$tmp/disk.img")
sgdisk -U 22222222-3333-4444-5555-666666666666 \
	-n 1:256:+1M -t 1:ef00 -c 1:esp -u 1:BBBBBBBB-0000-0000-0000-000000000001 \
	-n 2:0:0 -t 2:8300 -c 2:root -u 2:BBBBBBBB-0000-0000-0000-000000000002 \
	"$dev" >/dev/null
sfdisk --json "$dev" | sed -e "s#${dev}p#gpt4k.img#" -e "s#${dev}#gpt4k.img#" >gpt4k.sfdisk.json
losetup -d "$dev"
dev=
gzip -9n <"$tmp/disk.img" >gpt4k.img.gz
