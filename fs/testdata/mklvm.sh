#!/bin/sh
# Builds lvm2-pv.img.gz, an 8 MiB LVM2 physical volume (gzip: 9 KiB),
# and lvm2-pv.blkid, what `blkid -p -o export` says of it.
#
# Why a committed fixture: pvcreate refuses a plain file and needs a loop
# device (root, and a kernel that lends one), which a test cannot count on.
# The UUID is fixed so the fixture is the same every time it is rebuilt.
# Needs: lvm2 (pvcreate), util-linux (losetup, blkid), gzip. Run as root.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
truncate -s 8M "$tmp/pv.img"
dev=$(losetup -f --show "$tmp/pv.img")
pvcreate -ff -y --uuid Ab12Cd-34Ef-56Gh-78Ij-90Kl-12Mn-34OpQr --norestorefile "$dev" >/dev/null
losetup -d "$dev"
gzip -9n <"$tmp/pv.img" >lvm2-pv.img.gz
blkid -p -o export "$tmp/pv.img" | grep -v '^DEVNAME=' >lvm2-pv.blkid
