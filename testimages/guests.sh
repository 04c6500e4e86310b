#!/usr/bin/env bash
# guests.sh OUTDIR — build phony guests for virt-inspector, reproducibly.
#
# Writes into OUTDIR, for each GUEST in debian12 ubuntu2204 alpine319 arch:
#   GUEST.img     raw MBR disk (sparse), made without mounting anything:
#                 each filesystem is built as a file with mkfs.ext4 -d from a
#                 directory tree and copied in with dd conv=notrunc
#   GUEST.img.xz  the same disk, xz -T1 --block-size=1MiB (random access)
#   GUEST.facts   KEY=VALUE lines: what the script put in the guest (distro
#                 files, hostname, package count, first/last package...), so
#                 tests check the inspector against these, not its own output
#
# Shapes, and why:
#   debian12    sda1 /boot (ext4, LABEL=debboot), sda2 / (ext4, fixed UUID),
#               fstab naming them by LABEL= and UUID= plus a swap line and a
#               proc line; /etc/os-release a symlink to ../usr/lib/os-release
#               (as on Debian); /etc/debian_version 12.5 (the minor version
#               comes from it); a dpkg status with 1000 installed packages
#               generated deterministically plus 2 not-installed ones that
#               must not be listed; /bin/sh a symlink to dash, a copy of the
#               host's x86-64 ELF /bin/dash.
#   ubuntu2204  one partition, fstab by UUID=; os-release a regular file;
#               /etc/lsb-release too; 50 packages; /usr/bin/dash, /bin a
#               symlink to usr/bin (usrmerge).
#   alpine319   one partition, fstab by /dev/vda1 (another driver's name);
#               no os-release (only /etc/alpine-release, as in old
#               releases); an apk installed db with 30 packages.
#   arch        one partition, fstab by PARTUUID= (MBR id-partition);
#               os-release with no VERSION_ID (rolling); 20 packages in
#               pacman's local db, one with an epoch.
#
# Reproducible: fixed UUIDs, labels, hash seeds, MBR disk ids,
# SOURCE_DATE_EPOCH / E2FSPROGS_FAKE_TIME and every file's times set.
set -euo pipefail

out=${1:?usage: guests.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PATH=$PATH:/sbin:/usr/sbin

need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "guests.sh: $1 not found: install the Debian package '$2'" >&2
		exit 1
	fi
}
need mkfs.ext4 e2fsprogs
need sfdisk fdisk
need xz xz-utils
need truncate coreutils

export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH E2FSCK_TIME=$SOURCE_DATE_EPOCH

shell=/bin/dash
[ -f "$shell" ] || shell=$(readlink -f /bin/sh)
if [ "$(head -c 4 "$shell" | od -An -c | tr -d ' ')" != '177ELF' ]; then
	echo "guests.sh: $shell is not an ELF binary" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-guests.XXXXXX")
trap 'rm -rf "$work"' EXIT

# mkext IMG SIZE_MIB UUID LABEL TREE: an ext4 image of the tree, no mount.
mkext() {
	find "$5" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	truncate -s "${2}M" "$1"
	mkfs.ext4 -q -F -b 4096 -U "$3" -L "$4" \
		-E root_owner=0:0,hash_seed=0b1e6c00-0000-4000-8000-0000000000ff -d "$5" "$1"
}

# disk IMG DISKID PART...: an MBR disk; each PART is "SIZE_MIB:FSIMAGE".
disk() {
	local img=$1 id=$2
	shift 2
	local total=2 spec="label: dos
label-id: $id
unit: sectors
" start=2048
	for p in "$@"; do total=$((total + ${p%%:*})); done
	rm -f "$img"
	truncate -s "${total}M" "$img"
	for p in "$@"; do
		local mib=${p%%:*}
		spec+="start=$start, size=$((mib * 2048)), type=83
"
		start=$((start + mib * 2048))
	done
	printf '%s' "$spec" | sfdisk -q "$img" >/dev/null
	start=2048
	for p in "$@"; do
		local mib=${p%%:*} fsimg=${p#*:}
		dd if="$fsimg" of="$img" bs=512 seek=$start conv=notrunc,sparse status=none
		start=$((start + mib * 2048))
	done
}

finish() { # finish GUEST: the xz copy
	xz -T1 -3 --block-size=1MiB -k -f -c "$out/$1.img" >"$out/$1.img.xz"
	echo "wrote $out/$1.img and $1.img.xz"
}

# dpkg_status N: N installed packages "pkgNNNN", deterministic fields; every
# 7th has an epoch, every 5th a Source:, every 3rd a Homepage, every 11th
# is Architecture: all. Two packages that are not installed follow.
dpkg_status() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n; i++) {
			name = sprintf("pkg%04d", i)
			printf "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\n", name
			printf "Installed-Size: %d\nMaintainer: Phony Maintainer <phony@example.org>\n", i * 3
			printf "Architecture: %s\n", (i % 11 == 0) ? "all" : "amd64"
			if (i % 5 == 0) printf "Source: src%04d (%d.0-1)\n", i, i
			ver = sprintf("%d.%d.%d-%d", i % 9 + 1, i % 13, i % 7, i % 4 + 1)
			if (i % 7 == 0) ver = (i % 3 + 1) ":" ver
			printf "Version: %s\n", ver
			printf "Depends: libc6 (>= 2.36)\n"
			printf "Description: phony package number %d\n first line of the long description\n .\n last line of package %d\n", i, i
			if (i % 3 == 0) printf "Homepage: https://example.org/%s\n", name
			printf "\n"
		}
		printf "Package: removed-pkg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\nDescription: removed\n\n"
		printf "Package: halfdone-pkg\nStatus: install ok half-installed\nArchitecture: amd64\nVersion: 2.0-1\nDescription: half\n\n"
	}'
}

# facts_dpkg N: the facts of dpkg_status N a test checks.
facts_dpkg() {
	echo "packages=$1"
	echo "first_package=pkg0001 2.1.1-2 amd64"
	echo "epoch_package=pkg0007 2:8.7.0-4 amd64"
}

############ debian12
g=debian12
r=$work/$g
mkdir -p "$r"/{etc,usr/lib,bin,var/lib/dpkg,boot,home,tmp,root}
cat >"$r/usr/lib/os-release" <<'X'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
X
ln -s ../usr/lib/os-release "$r/etc/os-release"
echo 12.5 >"$r/etc/debian_version"
echo debian-guest >"$r/etc/hostname"
cat >"$r/etc/fstab" <<'X'
# /etc/fstab: static file system information.
UUID=0b1e6c00-0000-4000-8000-000000000002 /     ext4 errors=remount-ro 0 1
LABEL=debboot                              /boot ext4 defaults          0 2
/dev/sdb1                                  none  swap sw                0 0
proc                                       /proc proc defaults          0 0
X
cp "$shell" "$r/bin/dash"
ln -s dash "$r/bin/sh"
dpkg_status 1000 >"$r/var/lib/dpkg/status"
mkdir -p "$work/$g-boot"
echo "phony kernel" >"$work/$g-boot/vmlinuz-6.1.0-18-amd64"
mkext "$work/$g-boot.ext4" 16 0b1e6c00-0000-4000-8000-000000000001 debboot "$work/$g-boot"
mkext "$work/$g-root.ext4" 40 0b1e6c00-0000-4000-8000-000000000002 debroot "$r"
disk "$out/$g.img" 0x0b1e0001 "16:$work/$g-boot.ext4" "40:$work/$g-root.ext4"
{
	echo "distro=debian"
	echo "product_name=12.5" # from debian_version, as libguestfs reports it
	echo "major=12"
	echo "minor=5"
	echo "hostname=debian-guest"
	echo "osinfo=debian12"
	echo "root=/dev/sda2"
	echo "mount=/boot /dev/sda1"
	facts_dpkg 1000
} >"$out/$g.facts"
finish $g

############ ubuntu2204
g=ubuntu2204
r=$work/$g
mkdir -p "$r"/{etc,usr/bin,var/lib/dpkg}
ln -s usr/bin "$r/bin"
cat >"$r/etc/os-release" <<'X'
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
X
cat >"$r/etc/lsb-release" <<'X'
DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=22.04
DISTRIB_DESCRIPTION="Ubuntu 22.04.4 LTS"
X
echo bookworm/sid >"$r/etc/debian_version"
printf 'ubuntu-guest\n' >"$r/etc/hostname"
echo "UUID=0b1e6c00-0000-4000-8000-000000000003 / ext4 defaults 0 1" >"$r/etc/fstab"
cp "$shell" "$r/usr/bin/dash"
ln -s dash "$r/usr/bin/sh"
dpkg_status 50 >"$r/var/lib/dpkg/status"
mkext "$work/$g.ext4" 24 0b1e6c00-0000-4000-8000-000000000003 ubunturoot "$r"
disk "$out/$g.img" 0x0b1e0002 "24:$work/$g.ext4"
{
	echo "distro=ubuntu"
	echo "product_name=Ubuntu 22.04.4 LTS"
	echo "major=22"
	echo "minor=4"
	echo "hostname=ubuntu-guest"
	echo "osinfo=ubuntu22.04"
	echo "root=/dev/sda1"
	facts_dpkg 50
} >"$out/$g.facts"
finish $g

############ alpine319
g=alpine319
r=$work/$g
mkdir -p "$r"/{etc,bin,lib/apk/db}
echo 3.19.1 >"$r/etc/alpine-release"
echo alpine-guest >"$r/etc/hostname"
echo "/dev/vda1 / ext4 rw,relatime 0 1" >"$r/etc/fstab"
cp "$shell" "$r/bin/busybox"
ln -s /bin/busybox "$r/bin/sh"
awk 'BEGIN {
	for (i = 1; i <= 30; i++) {
		printf "C:Q1phony%04d=\nP:apkpkg%02d\nV:%d.%d.%d-r%d\nA:x86_64\nS:1000\nI:4096\n", i, i, i % 4 + 1, i % 10, i % 3, i % 5
		printf "T:phony alpine package %d\nU:https://alpine.example/apkpkg%02d\nL:MIT\no:apkorigin%02d\n", i, i, i - i % 2
		printf "m:Phony <phony@example.org>\nt:1700000000\nc:0123456789abcdef\nD:so:libc.musl-x86_64.so.1\n"
		printf "F:usr/bin\nR:apkpkg%02d\na:0:0:755\nZ:Q1abcdef=\n\n", i
	}
}' >"$r/lib/apk/db/installed"
mkext "$work/$g.ext4" 16 0b1e6c00-0000-4000-8000-000000000004 alpineroot "$r"
disk "$out/$g.img" 0x0b1e0003 "16:$work/$g.ext4"
{
	echo "distro=alpinelinux"
	echo "product_name=3.19.1"
	echo "major=3"
	echo "minor=19"
	echo "hostname=alpine-guest"
	echo "osinfo=alpinelinux3.19"
	echo "root=/dev/sda1"
	echo "packages=30"
	echo "first_package=apkpkg01 2.1.1-1 x86_64" # apk 2.1.1-r1: release 1, as libguestfs reports it
} >"$out/$g.facts"
finish $g

############ arch
g=arch
r=$work/$g
mkdir -p "$r"/{etc,usr/bin,var/lib/pacman/local}
ln -s usr/bin "$r/bin"
cat >"$r/etc/os-release" <<'X'
NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
X
touch "$r/etc/arch-release"
echo arch-guest >"$r/etc/hostname"
echo "PARTUUID=0b1e0004-01 / ext4 rw,relatime 0 1" >"$r/etc/fstab"
cp "$shell" "$r/usr/bin/bash"
for i in $(seq 1 20); do
	name=$(printf 'archpkg%02d' "$i")
	ver="$((i % 5 + 1)).$((i % 3))-$((i % 2 + 1))"
	[ "$i" = 13 ] && ver="1:$ver"
	d="$r/var/lib/pacman/local/$name-${ver#*:}"
	mkdir -p "$d"
	printf '%%NAME%%\n%s\n\n%%VERSION%%\n%s\n\n%%BASE%%\n%s\n\n%%DESC%%\nphony arch package %d\n\n%%URL%%\nhttps://arch.example/%s\n\n%%ARCH%%\nx86_64\n\n%%LICENSE%%\nGPL\nMIT\n\n' \
		"$name" "$ver" "$name" "$i" "$name" >"$d/desc"
	echo "%FILES%" >"$d/files"
done
echo 9 >"$r/var/lib/pacman/local/ALPM_DB_VERSION"
mkext "$work/$g.ext4" 16 0b1e6c00-0000-4000-8000-000000000005 archroot "$r"
disk "$out/$g.img" 0x0b1e0004 "16:$work/$g.ext4"
{
	echo "distro=archlinux"
	echo "product_name=Arch Linux"
	echo "major=0"
	echo "minor=0"
	echo "hostname=arch-guest"
	echo "osinfo=archlinux"
	echo "root=/dev/sda1"
	echo "packages=20"
	echo "first_package=archpkg01 2.1-2 x86_64"
	echo "epoch_package=archpkg13 1:4.1-2 x86_64"
} >"$out/$g.facts"
finish $g
