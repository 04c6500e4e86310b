#!/usr/bin/env bash
# guests.sh OUTDIR — build phony guests for virt-inspector, reproducibly.
#
# Writes into OUTDIR, for each GUEST in debian12 ubuntu2204 alpine319 arch
# fedora40 fedora40btrfs freebsd13 centos7:
#   GUEST.img     raw disk (sparse), made without mounting anything:
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
#   fedora40    GPT: sda1 EFI system partition (vfat, /boot/efi), sda2
#               /boot, sda3 /; fstab by UUID= (also the FAT form) and
#               LABEL=; a real rpm database (Debian's rpm, sqlite backend)
#               at /usr/lib/sysimage/rpm, /var/lib/rpm a link to it; 201
#               packages plus a gpg-pubkey. Needs rpm, gpg, dosfstools,
#               mtools. See README.md.
#   centos7     sda1 /boot, sda2 / (ext4: a real one has xfs); CentOS
#               release files, HOSTNAME= in /etc/sysconfig/network and no
#               /etc/hostname; rpm's Berkeley DB /var/lib/rpm/Packages
#               written by db_load from the headers of an rpmdb.sqlite
#               (db5.3-util, sqlite3), checked with rpm's bdb_ro; 63
#               packages plus a gpg-pubkey.
#   freebsd13   GPT: freebsd-boot, freebsd-ufs / (UFS2 by makefs),
#               freebsd-swap; fstab by /dev/ada0p2; version from /etc/motd,
#               hostname from rc.conf. Needs makefs, else freebsd13.skip.
#   fedora40btrfs  fedora40's tree in btrfs subvolume "root", /home in
#               subvolume "home", both mounted by subvol=. Needs root and a
#               loop mount (subvolumes need the kernel); otherwise
#               fedora40btrfs.skip holds the reason and no image is made.
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
need debugfs e2fsprogs
need sfdisk fdisk
need xz xz-utils
need truncate coreutils
need mkfs.fat dosfstools
need mcopy mtools
need rpmbuild rpm
need file file
need base64 coreutils
need gpg gpg
need sqlite3 sqlite3
need db_load db5.3-util

export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH E2FSCK_TIME=$SOURCE_DATE_EPOCH

shell=/bin/dash
[ -f "$shell" ] || shell=$(readlink -f /bin/sh)
if [ "$(head -c 4 "$shell" | od -An -c | tr -d ' ')" != '177ELF' ]; then
	echo "guests.sh: $shell is not an ELF binary" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-guests.XXXXXX")
trap 'umount "$work/fedora40btrfs-mnt" 2>/dev/null || true; rm -rf "$work"' EXIT

# mkext IMG SIZE_MIB UUID LABEL TREE: an ext4 image of the tree, no mount.
# mke2fs -d copies each file's ctime, which cannot be set on the source
# tree: every used inode's ctime is rewritten with debugfs afterwards (as
# build.sh's fix_ctime), so that two builds give the same bytes.
mkext() {
	find "$5" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	truncate -s "${2}M" "$1"
	mkfs.ext4 -q -F -b 4096 -U "$3" -L "$4" \
		-E root_owner=0:0,hash_seed=0b1e6c00-0000-4000-8000-0000000000ff -d "$5" "$1"
	dumpe2fs "$1" 2>/dev/null | awk -v epoch="$SOURCE_DATE_EPOCH" '
		/^Inodes per group:/ { ipg = $4 }
		/^Group [0-9]+:/ { g = $2 + 0 }
		/^  Free inodes: / {
			lo = g * ipg + 1; hi = (g + 1) * ipg
			for (i = lo; i <= hi; i++) used[i] = 1
			s = $0; sub(/^  Free inodes: */, "", s)
			n = split(s, parts, /, */)
			for (k = 1; k <= n; k++) {
				if (parts[k] == "") continue
				m = split(parts[k], r, "-")
				a = r[1] + 0; b = (m == 2 ? r[2] + 0 : a)
				for (i = a; i <= b; i++) delete used[i]
			}
			for (i = lo; i <= hi; i++) if (i in used) { printf "set_inode_field <%d> ctime @%d\n", i, epoch; delete used[i] }
		}' >"$work/ctime.cmd"
	debugfs -w -f "$work/ctime.cmd" "$1" >/dev/null 2>"$work/ctime.err" || { cat "$work/ctime.err" >&2; exit 1; }
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

# gptdisk IMG DISKGUID PART...: a GPT disk; each PART is
# "SIZE_MIB:TYPEGUID:PARTGUID:NAME:FSIMAGE", the first at 1 MiB.
gptdisk() {
	local img=$1 id=$2
	shift 2
	local total=2 spec="label: gpt
label-id: $id
unit: sectors
first-lba: 2048
" start=2048 p f
	for p in "$@"; do total=$((total + ${p%%:*})); done
	rm -f "$img"
	truncate -s "${total}M" "$img"
	for p in "$@"; do
		IFS=: read -r -a f <<<"$p"
		spec+="start=$start, size=$((f[0] * 2048)), type=${f[1]}, uuid=${f[2]}, name=\"${f[3]}\"
"
		start=$((start + f[0] * 2048))
	done
	printf '%s' "$spec" | sfdisk -q "$img" >/dev/null
	start=2048
	for p in "$@"; do
		IFS=: read -r -a f <<<"$p"
		dd if="${f[4]}" of="$img" bs=512 seek=$start conv=notrunc,sparse status=none
		start=$((start + f[0] * 2048))
	done
}

# mkvfat IMG SIZE_MIB VOLID LABEL TREE: a FAT image of the tree (mkfs.fat
# --invariant, mcopy honours SOURCE_DATE_EPOCH), no mount.
mkvfat() {
	rm -f "$1"
	mkfs.fat -C --invariant -i "$3" -n "$4" "$1" $(($2 * 1024)) >/dev/null
	MTOOLS_SKIP_CHECK=1 mcopy -s -i "$1" "$5"/* ::/
}

# rpmdb DBPATH TOPDIR: build every spec in TOPDIR/SPECS with rpmbuild (a
# spec's first line "#target ARCH..." builds it once per ARCH) and record
# the packages in a new rpm database at DBPATH (rpm --justdb: nothing is
# unpacked), then import a signing key, which rpm lists as a gpg-pubkey
# "package" that inspectors must skip. The database is rpm's default
# backend here (Debian's rpm 4.18: sqlite, rpmdb.sqlite). Not byte for byte
# reproducible: rpm stamps INSTALLTIME/INSTALLTID with the clock and the
# key is made afresh; builds use SOURCE_DATE_EPOCH as their build time.
rpmdb() {
	local db=$1 top=$2 spec targets t
	for spec in "$top"/SPECS/*.spec; do
		targets=$(sed -n '1s/^#target //p' "$spec")
		for t in ${targets:-default}; do
			rpmbuild --quiet --define "_topdir $top" --define '_buildhost guests.example' \
				--define '_source_date_epoch_from_changelog 0' --define 'use_source_date_epoch_as_buildtime 1' \
				${targets:+--target "$t"} -bb "$spec" >/dev/null 2>"$top/rpmbuild.log" ||
				{ cat "$top/rpmbuild.log" >&2; exit 1; }
		done
	done
	mkdir -p "$db"
	rpm --initdb --dbpath "$db"
	rpm -i --force-debian --justdb --nodeps --ignorearch --ignoreos --dbpath "$db" "$top"/RPMS/*/*.rpm
	export GNUPGHOME="$top/gnupg"
	mkdir -m 700 "$GNUPGHOME"
	gpg --batch --quiet --passphrase '' --quick-gen-key 'Phony Guest Key <key@guests.example>' ed25519 sign never 2>/dev/null
	gpg --batch --armor --export key@guests.example >"$top/key.asc"
	rpm --import --dbpath "$db" "$top/key.asc"
	unset GNUPGHOME
}

# rpmdb_close DBPATH: leave the database as a Fedora system has it after
# any rpm query: rpm -qa opens rpmdb.sqlite (WAL mode) read-only, so SQLite
# keeps its index (-shm, 32 KiB) and an empty write-ahead log (-wal) beside
# it. They must stay: SQLite cannot open a WAL-mode database on read-only
# media without them, and libguestfs mounts the guest read-only (without
# them its rpm listing fails with "unable to open database file"). The lock
# file goes.
rpmdb_close() {
	rpm -qa --dbpath "$1" >/dev/null
	rm -f "$1/.rpm.lock"
	if [ -f "$1/rpmdb.sqlite" ] && { [ ! -f "$1/rpmdb.sqlite-shm" ] || [ -s "$1/rpmdb.sqlite-wal" ]; }; then
		echo "guests.sh: $1: want rpmdb.sqlite-shm and an empty rpmdb.sqlite-wal after rpm -qa" >&2
		exit 1
	fi
}

# facts_rpm RPM-COMMAND...: the package facts, as rpm itself lists them
# (gpg-pubkey left out): the count, the first package by name and the
# first one with an epoch, each "NAME [EPOCH:]VERSION-RELEASE ARCH".
facts_rpm() {
	local qa
	qa=$("$@" -qa --qf '%{NAME} %|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE} %{ARCH}\n' |
		grep -v '^gpg-pubkey ' | LC_ALL=C sort)
	echo "packages=$(printf '%s\n' "$qa" | wc -l)"
	echo "first_package=$(printf '%s\n' "$qa" | head -n 1)"
	echo "epoch_package=$(printf '%s\n' "$qa" | awk '$2 ~ /^[0-9]+:/ { print; exit }')"
}

# rpmconfig ROOT DBPATH [BACKEND]: the guest's own rpm configuration.
# libguestfs lists rpm packages with librpm chrooted into the guest, so it
# reads the guest's /usr/lib/rpm/rpmrc (fails without one) and macros
# (where the database is); a real guest has both from its rpm package.
# rpmrc is the host's (rpm's generic arch tables), macros only the lines
# that place the database.
rpmconfig() {
	mkdir -p "$1/usr/lib/rpm"
	cp /usr/lib/rpm/rpmrc "$1/usr/lib/rpm/rpmrc"
	{
		printf '# phony: the database lines of the distribution'"'"'s macros\n%%_usr\t/usr\n%%_var\t/var\n%%_dbpath\t%s\n' "$2"
		[ -z "${3:-}" ] || printf '%%_db_backend\t%s\n' "$3"
	} >"$1/usr/lib/rpm/macros"
}

# rpm2bdb SQLITEDB PACKAGES: rewrite the headers of an rpmdb.sqlite as the
# Berkeley DB hash database of rpm before 4.16 (RHEL/CentOS 7 and 8), with
# Berkeley DB's own db_load: keys are package numbers as 4-byte
# little-endian integers, values the same header blobs, and key 0 holds
# the next package number, as rpm keeps it (db_dump's bytevalue format,
# see inspect/rpm/testdata/mkbdb.sh).
rpm2bdb() {
	rm -f "$2"
	{
		printf 'VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n'
		sqlite3 -separator ' ' "$1" 'SELECT hnum, hex(blob) FROM Packages ORDER BY hnum' |
			awk 'function key(n) { return sprintf("%02x%02x%02x%02x", n % 256, int(n / 256) % 256, int(n / 65536) % 256, int(n / 16777216)) }
			{ print " " key($1); print " " tolower($2); if ($1 > max) max = $1 }
			END { print " " key(0); print " " key(max + 1) }'
		printf 'DATA=END\n'
	} | db_load -c db_lorder=1234 -c db_pagesize=4096 "$2"
}

# icon FILE BASE64: a logo PNG where libguestfs' inspect_get_icon looks
# for it (debian: 32x32 under its 2048-byte limit; fedora: 96x96), made
# once with Go's image/png and checked here with file(1).
icon() {
	mkdir -p "$(dirname "$1")"
	printf '%s' "$2" | base64 -d >"$1"
	case $(file -b "$1") in
	"PNG image data, "*) ;;
	*) echo "guests.sh: $1 is not a PNG" >&2; exit 1 ;;
	esac
}
debian_logo=iVBORw0KGgoAAAANSUhEUgAAACAAAAAgAgMAAAAOFJJnAAAACVBMVEUAAADIClD/////20QIAAAAAXRSTlMAQObYZgAAAGlJREFUeJx0j7ENwCAMBKHwCNknI1DwFBmBvSjyU0Zg9EQiccPJBvwXPsuynxFIAw4As+Et65DnZMwEQGnA2aGyQ0QhG9IbLvJGCuaQg6GS/IF5R6/2D7Vrbd+DKbMs5LVM5e71BAAA//+mzUGcVOMOiwAAAABJRU5ErkJggg==
fedora_logo=iVBORw0KGgoAAAANSUhEUgAAAGAAAABgAgMAAACf9p+rAAAACVBMVEUAAAAoClD////pn1+KAAAAAXRSTlMAQObYZgAAARFJREFUeJzclsHNwjAMhf8cOsK/T0fIoemhI7API/RQT4lEE8cx+QQFJBA9+pPzHjT269+3PymlNEK9R/53kHw95HqK0OBbtMG31AbXYuqNscGCCU5qzmrq5qzQgtiXsCKthBFxdRUJHsS+RBVB4LVV/aZe1AmoKZFzY6uAk4g0IJuaRURWa2uoDaVlMm6vDdpiwLKDzQB7UjlrrCDXs+MK5gJWBaEHooKlgO1RUExlW1F/uAOTAq3vfl8AcwXrT4I3/le994Fv8NnL0LlXeBPv3N3ebcf5wInCGcSpxTnHzXB8yfC+Or76cIvi3uVNjbsd0wDzgxMHMwpTjXMQkxOzltMZ85y/APib4QPPJQAA//+RlVdpQbLGWQAAAABJRU5ErkJggg==

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
icon "$r/usr/share/pixmaps/debian-logo.png" "$debian_logo"
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
	echo "icon_sha256=$(sha256sum <"$r/usr/share/pixmaps/debian-logo.png" | cut -d' ' -f1)"
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

############ fedora40
# GPT: sda1 EFI system partition (vfat, /boot/efi), sda2 /boot, sda3 /.
g=fedora40
r=$work/$g
mkdir -p "$r"/{etc,usr/bin,usr/lib/sysimage,var/lib,boot,root,tmp}
ln -s usr/bin "$r/bin"
cat >"$r/usr/lib/os-release" <<'X'
NAME="Fedora Linux"
VERSION="40 (Forty)"
ID=fedora
VERSION_ID=40
VERSION_CODENAME=""
PLATFORM_ID="platform:f40"
PRETTY_NAME="Fedora Linux 40 (Forty)"
ANSI_COLOR="0;38;2;60;110;180"
LOGO=fedora-logo-icon
CPE_NAME="cpe:/o:fedoraproject:fedora:40"
DEFAULT_HOSTNAME="fedora"
HOME_URL="https://fedoraproject.org/"
SUPPORT_END=2025-05-13
X
ln -s ../usr/lib/os-release "$r/etc/os-release"
echo "Fedora release 40 (Forty)" >"$r/etc/fedora-release"
ln -s fedora-release "$r/etc/redhat-release"
ln -s fedora-release "$r/etc/system-release"
echo fedora-guest >"$r/etc/hostname"
icon "$r/usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png" "$fedora_logo"
cat >"$r/etc/fstab" <<'X'
#
# /etc/fstab
# Created by anaconda
#
UUID=0b1e6c00-0000-4000-8000-000000000008 /         ext4 defaults                   1 1
LABEL=fedboot                             /boot     ext4 defaults                   1 2
UUID=0B1E-0006                            /boot/efi vfat umask=0077,shortname=winnt 0 2
X
cp "$shell" "$r/usr/bin/bash"
ln -s bash "$r/usr/bin/sh"
# dnf as Fedora 40 installs it: libguestfs says "dnf" only when
# /usr/bin/dnf exists (else "yum").
printf '#!/usr/bin/python3\n# phony dnf\n' >"$r/usr/bin/dnf-3"
chmod 755 "$r/usr/bin/dnf-3"
ln -s dnf-3 "$r/usr/bin/dnf"
ln -s dnf-3 "$r/usr/bin/yum"
# The rpm database where Fedora keeps it, /var/lib/rpm a link to it.
ln -s ../../usr/lib/sysimage/rpm "$r/var/lib/rpm"
rpmconfig "$r" '%{_usr}/lib/sysimage/rpm' sqlite
top=$work/$g-rpmbuild
mkdir -p "$top/SPECS"
# basesystem and 196 subpackages fcpkgNNN: every 4th noarch, every 9th
# with an Epoch, every 3rd with a URL, releases 1..4.fc40.
awk 'BEGIN {
	printf "Name: basesystem\nVersion: 11\nRelease: 20.fc40\nSummary: The skeleton package\nLicense: LicenseRef-Fedora-Public-Domain\n"
	printf "%%description\nThe skeleton package which defines a simple Fedora system.\n%%files\n"
	for (i = 1; i <= 196; i++) {
		n = sprintf("fcpkg%03d", i)
		printf "%%package -n %s\nSummary: Phony Fedora package %d\n", n, i
		printf "Version: %d.%d.%d\nRelease: %d.fc40\n", i % 7 + 1, i % 11, i % 5, i % 4 + 1
		if (i % 9 == 0) printf "Epoch: %d\n", i % 3 + 1
		if (i % 3 == 0) printf "URL: https://fedora.example/%s\n", n
		if (i % 4 == 0) printf "BuildArch: noarch\n"
		printf "%%description -n %s\nPhony package %d.\n%%files -n %s\n", n, i, n
	}
}' >"$top/SPECS/fcpkgs.spec"
# Two kernels (rpm keeps every installed version of an install-only package).
for v in 6.8.5:301 6.9.4:200; do
	printf 'Name: kernel-core\nVersion: %s\nRelease: %s.fc40\nSummary: The Linux kernel\nLicense: GPL-2.0-only\nURL: https://www.kernel.org/\n%%description\nPhony kernel.\n%%files\n' \
		"${v%:*}" "${v#*:}" >"$top/SPECS/kernel-${v%:*}.spec"
done
# glibc for x86_64 and i686 (multilib: one name, two architectures).
printf '#target x86_64 i686\nName: glibc\nVersion: 2.39\nRelease: 17.fc40\nSummary: The GNU libc libraries\nLicense: LGPL-2.1-or-later\nURL: https://www.gnu.org/software/glibc/\n%%description\nPhony glibc.\n%%files\n' \
	>"$top/SPECS/glibc.spec"
db=$r/usr/lib/sysimage/rpm
rpmdb "$db" "$top"
[ -f "$db/rpmdb.sqlite" ] || { echo "guests.sh: rpm did not write $db/rpmdb.sqlite (not the sqlite backend?)" >&2; exit 1; }
n=$(rpm -qa --dbpath "$db" | grep -vc '^gpg-pubkey-')
[ "$n" = 201 ] || { echo "guests.sh: $g: rpm -qa lists $n packages, want 201" >&2; exit 1; }
rpm -qa --dbpath "$db" | grep -q '^gpg-pubkey-' || { echo "guests.sh: $g: no gpg-pubkey in the rpm database" >&2; exit 1; }
mkdir -p "$work/$g-boot/loader/entries" "$work/$g-boot/efi" "$work/$g-efi/EFI/fedora" "$work/$g-efi/EFI/BOOT"
echo "phony kernel" >"$work/$g-boot/vmlinuz-6.9.4-200.fc40.x86_64"
echo "phony kernel" >"$work/$g-boot/vmlinuz-6.8.5-301.fc40.x86_64"
printf 'search --no-floppy --fs-uuid --set=dev 0b1e6c00-0000-4000-8000-000000000007\nset prefix=($dev)/grub2\nconfigfile $prefix/grub.cfg\n' \
	>"$work/$g-efi/EFI/fedora/grub.cfg"
printf 'MZ phony shim\n' >"$work/$g-efi/EFI/BOOT/BOOTX64.EFI"
find "$work/$g-efi" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkvfat "$work/$g-efi.vfat" 16 0B1E0006 EFI-SYSTEM "$work/$g-efi"
mkext "$work/$g-boot.ext4" 16 0b1e6c00-0000-4000-8000-000000000007 fedboot "$work/$g-boot"
esp=C12A7328-F81F-11D2-BA4B-00A0C93EC93B linuxfs=0FC63DAF-8483-4772-8E79-3D69D8477DE4
{
	echo "distro=fedora"
	echo "product_name=Fedora Linux 40 (Forty)"
	echo "major=40"
	echo "minor=0"
	echo "hostname=fedora-guest"
	echo "icon_sha256=$(sha256sum <"$r/usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png" | cut -d' ' -f1)"
	echo "osinfo=fedora40"
	echo "root=/dev/sda3"
	echo "mount=/boot /dev/sda2"
	echo "mount=/boot/efi /dev/sda1"
	facts_rpm rpm --dbpath "$db"
} >"$out/$g.facts"
rpmdb_close "$db"
mkext "$work/$g-root.ext4" 40 0b1e6c00-0000-4000-8000-000000000008 fedroot "$r"
gptdisk "$out/$g.img" 0B1E6C00-0000-4000-8000-0000000D1540 \
	"16:$esp:0B1E6C00-0000-4000-8000-0000000D1541:EFI System Partition:$work/$g-efi.vfat" \
	"16:$linuxfs:0B1E6C00-0000-4000-8000-0000000D1542:boot:$work/$g-boot.ext4" \
	"40:$linuxfs:0B1E6C00-0000-4000-8000-0000000D1543:root:$work/$g-root.ext4"
finish $g

############ fedora40btrfs
# Fedora Workstation's layout: the fedora40 tree in the btrfs subvolume
# "root", an empty user tree in "home", both mounted by subvol= (so the
# inspector must name them btrfsvol:/dev/sda3/root and .../home, as
# libguestfs does); /boot and the ESP as in fedora40. Subvolumes need
# the kernel (mkfs.btrfs 6.2 has no --subvol), so this guest is built
# only as root where a loop device can be mounted; otherwise
# GUEST.skip says why and the tests skip it.
g=fedora40btrfs
skip=""
if [ "$(id -u)" != 0 ]; then
	skip="not root: mounting a loop device is needed to make btrfs subvolumes"
elif ! command -v mkfs.btrfs >/dev/null 2>&1 || ! command -v btrfs >/dev/null 2>&1; then
	skip="mkfs.btrfs or btrfs not found (Debian btrfs-progs)"
fi
rm -f "$out/$g.skip"
bt=$work/$g-root.btrfs
mnt=$work/$g-mnt
if [ -z "$skip" ]; then
	truncate -s 200M "$bt"
	mkfs.btrfs -q -f -L fedora -U 0b1e6c00-0000-4000-8000-0000000b7f50 "$bt" >/dev/null
	mkdir -p "$mnt"
	if ! mount -o loop "$bt" "$mnt" 2>"$work/$g-mount.err"; then
		skip="mount -o loop of a btrfs image failed: $(head -c 200 "$work/$g-mount.err")"
	fi
fi
if [ -n "$skip" ]; then
	echo "$skip" >"$out/$g.skip"
	echo "guests.sh: skipping $g: $skip" >&2
else
	btrfs -q subvolume create "$mnt/root" >/dev/null
	btrfs -q subvolume create "$mnt/home" >/dev/null
	cp -a "$r/." "$mnt/root/"
	mkdir -p "$mnt/root/home" # the mount point of the home subvolume
	cat >"$mnt/root/etc/fstab" <<'X'
UUID=0b1e6c00-0000-4000-8000-0000000b7f50 /         btrfs subvol=root,compress=zstd:1 0 0
LABEL=fedboot                             /boot     ext4  defaults                   1 2
UUID=0B1E-0006                            /boot/efi vfat  umask=0077,shortname=winnt 0 2
UUID=0b1e6c00-0000-4000-8000-0000000b7f50 /home     btrfs subvol=home,compress=zstd:1 0 0
X
	mkdir -p "$mnt/home/fedora"
	echo "phony user file" >"$mnt/home/fedora/notes.txt"
	umount "$mnt"
	{
		grep -v -e '^root=' -e '^mount=' "$out/fedora40.facts"
		echo "root=btrfsvol:/dev/sda3/root"
		echo "mount=/boot /dev/sda2"
		echo "mount=/boot/efi /dev/sda1"
		echo "mount=/home btrfsvol:/dev/sda3/home"
	} >"$out/$g.facts"
	gptdisk "$out/$g.img" 0B1E6C00-0000-4000-8000-0000000D1550 \
		"16:$esp:0B1E6C00-0000-4000-8000-0000000D1541:EFI System Partition:$work/fedora40-efi.vfat" \
		"16:$linuxfs:0B1E6C00-0000-4000-8000-0000000D1542:boot:$work/fedora40-boot.ext4" \
		"200:$linuxfs:0B1E6C00-0000-4000-8000-0000000D1553:root:$bt"
	finish $g
fi

############ freebsd13
# GPT as FreeBSD's installer lays it out: sda1 freebsd-boot, sda2
# freebsd-ufs / (UFS2 by makefs with newfs' default 32 KiB blocks and
# 4 KiB fragments; Debian's makefs puts the superblock at 8 KiB, which
# FreeBSD and we accept but Linux's ufs driver, and so libguestfs, does
# not: this guest is not in the libguestfs comparison), sda3
# freebsd-swap; fstab by FreeBSD's GPT names (/dev/ada0p2);
# /etc/motd gives the version (libguestfs reads it), rc.conf the hostname.
# No package database libguestfs reads (pkg's SQLite is not one).
g=freebsd13
if command -v makefs >/dev/null 2>&1; then
	r=$work/$g
	mkdir -p "$r"/{etc,bin,usr/bin,boot,var,tmp,root}
	echo "KeyPrint 800651ef4b4c71c27e60786d7b487188970f4b4169cc055784e21eb71d410cc5" >"$r/etc/freebsd-update.conf"
	printf '# Device\t\tMountpoint\tFStype\tOptions\tDump\tPass#\n/dev/ada0p2\t\t/\t\tufs\trw\t1\t1\n/dev/ada0p3\t\tnone\t\tswap\tsw\t0\t0\n' >"$r/etc/fstab"
	printf 'FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC\n\nWelcome to FreeBSD!\n' >"$r/etc/motd"
	printf 'hostname="freebsd-guest.example.org"\nifconfig_vtnet0="DHCP"\nsshd_enable="YES"\n' >"$r/etc/rc.conf"
	printf '::1\t\t\tlocalhost localhost.my.domain\n127.0.0.1\t\tlocalhost localhost.my.domain\n' >"$r/etc/hosts"
	cp "$shell" "$r/bin/sh"
	find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	makefs -t ffs -o version=2,bsize=32768,fsize=4096 -s 32m "$work/$g-root.ufs" "$r" >/dev/null
	# makefs draws fs_id (blkid's UUID) at random: fix it, in the
	# superblock makefs writes at 8 KiB (checked by its UFS2 magic).
	if [ "$(od -An -tx4 -j $((8192 + 1372)) -N 4 "$work/$g-root.ufs" | tr -d ' ')" != 19540119 ]; then
		echo "guests.sh: $g: no UFS2 superblock at 8 KiB in makefs' image" >&2
		exit 1
	fi
	printf '\000\154\036\013\023\000\000\000' |
		dd of="$work/$g-root.ufs" bs=1 seek=$((8192 + 144)) conv=notrunc status=none
	truncate -s 1M "$work/$g-boot.bin"
	truncate -s 4M "$work/$g-swap.bin"
	gptdisk "$out/$g.img" 0B1E6C00-0000-4000-8000-0000000D1560 \
		"1:83BD6B9D-7F41-11DC-BE0B-001560B84F0F:0B1E6C00-0000-4000-8000-0000000D1561:gptboot0:$work/$g-boot.bin" \
		"32:516E7CB6-6ECF-11D6-8FF8-00022D09712B:0B1E6C00-0000-4000-8000-0000000D1562:rootfs0:$work/$g-root.ufs" \
		"4:516E7CB5-6ECF-11D6-8FF8-00022D09712B:0B1E6C00-0000-4000-8000-0000000D1563:swapfs0:$work/$g-swap.bin"
	{
		echo "distro=freebsd"
		echo "product_name=FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC"
		echo "major=13"
		echo "minor=2"
		echo "hostname=freebsd-guest.example.org"
		echo "osinfo=freebsd13.2"
		echo "root=/dev/sda2"
		echo "uuid=0b1e6c0000000013"
		echo "packages=0"
	} >"$out/$g.facts"
	rm -f "$out/$g.skip"
	finish $g
else
	echo "makefs not found (Debian makefs)" >"$out/$g.skip"
	echo "guests.sh: skipping $g: makefs not found (Debian makefs)" >&2
fi

############ centos7
# MBR: sda1 /boot, sda2 /, both ext4 (a real CentOS 7 installs xfs, which
# we do not read), fstab by UUID=.
g=centos7
r=$work/$g
mkdir -p "$r"/{etc/sysconfig,usr/bin,usr/lib,var/lib/rpm,boot,root,tmp}
ln -s usr/bin "$r/bin"
cat >"$r/usr/lib/os-release" <<'X'
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:centos:centos:7"
HOME_URL="https://www.centos.org/"
BUG_REPORT_URL="https://bugs.centos.org/"

CENTOS_MANTISBT_PROJECT="CentOS-7"
CENTOS_MANTISBT_PROJECT_VERSION="7"
REDHAT_SUPPORT_PRODUCT="centos"
REDHAT_SUPPORT_PRODUCT_VERSION="7"

X
ln -s ../usr/lib/os-release "$r/etc/os-release"
echo "CentOS Linux release 7.9.2009 (Core)" >"$r/etc/centos-release"
ln -s centos-release "$r/etc/redhat-release"
ln -s centos-release "$r/etc/system-release"
# No /etc/hostname: the name is in /etc/sysconfig/network, as on RHEL 6
# and on a RHEL 7 installed without setting one through hostnamectl.
printf 'NETWORKING=yes\nHOSTNAME=centos7-guest.example.com\n' >"$r/etc/sysconfig/network"
cat >"$r/etc/fstab" <<'X'

#
# /etc/fstab
# Created by anaconda on Tue Nov 14 22:13:20 2023
#
# Accessible filesystems, by reference, are maintained under '/dev/disk'
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info
#
UUID=0b1e6c00-0000-4000-8000-00000000000a /                       ext4    defaults        1 1
UUID=0b1e6c00-0000-4000-8000-000000000009 /boot                   ext4    defaults        1 2
X
cp "$shell" "$r/usr/bin/bash"
ln -s bash "$r/usr/bin/sh"
printf '#!/usr/bin/python\n# phony yum\n' >"$r/usr/bin/yum"
chmod 755 "$r/usr/bin/yum"
rpmconfig "$r" '%{_var}/lib/rpm' # rpm 4.11 had only Berkeley DB: no %_db_backend
top=$work/$g-rpmbuild
mkdir -p "$top/SPECS"
# centos-release and 60 subpackages c7pkgNN: every 4th noarch, every 5th
# with an Epoch, every 3rd with a URL, releases 1..3.el7.
awk 'BEGIN {
	printf "Name: centos-release\nVersion: 7\nRelease: 9.2009.1.el7.centos\nSummary: CentOS Linux release file\nLicense: GPLv2\n"
	printf "%%description\nCentOS Linux release files.\n%%files\n"
	for (i = 1; i <= 60; i++) {
		n = sprintf("c7pkg%02d", i)
		printf "%%package -n %s\nSummary: Phony CentOS 7 package %d\n", n, i
		printf "Version: %d.%d\nRelease: %d.el7\n", i % 6 + 1, i % 10, i % 3 + 1
		if (i % 5 == 0) printf "Epoch: %d\n", i % 4 + 1
		if (i % 3 == 0) printf "URL: https://centos.example/%s\n", n
		if (i % 4 == 0) printf "BuildArch: noarch\n"
		printf "%%description -n %s\nPhony package %d.\n%%files -n %s\n", n, i, n
	}
}' >"$top/SPECS/c7pkgs.spec"
# Two kernels of one version, different releases.
for rel in 1160.el7 1160.119.1.el7; do
	printf 'Name: kernel\nVersion: 3.10.0\nRelease: %s\nSummary: The Linux kernel\nLicense: GPLv2\nURL: http://www.kernel.org/\n%%description\nPhony kernel.\n%%files\n' \
		"$rel" >"$top/SPECS/kernel-$rel.spec"
done
sqlitedb=$work/$g-sqlitedb
rpmdb "$sqlitedb" "$top"
db=$r/var/lib/rpm
rpm2bdb "$sqlitedb/rpmdb.sqlite" "$db/Packages"
# rpm's read-only Berkeley DB backend reads what db_load wrote (it warns
# about each index file, Name, Basenames..., that the guest lacks).
rpmbdb() { # rpmbdb ARGS...: rpm on the guest's Packages
	{ rpm --dbpath "$db" --define '_db_backend bdb_ro' "$@" 2>&1 >&3 | grep -v '^warning: could not open ' >&2 || true; } 3>&1
}
n=$(rpmbdb -qa | grep -vc '^gpg-pubkey-')
[ "$n" = 63 ] || { echo "guests.sh: $g: rpm (bdb_ro) lists $n packages in Packages, want 63" >&2; exit 1; }
[ "$(rpmbdb -qa | LC_ALL=C sort)" = "$(rpm -qa --dbpath "$sqlitedb" | LC_ALL=C sort)" ] ||
	{ echo "guests.sh: $g: rpm lists Packages and the sqlite database it came from differently" >&2; exit 1; }
rm -f "$db/.rpm.lock" "$db"/__db.*
mkdir -p "$work/$g-boot"
echo "phony kernel" >"$work/$g-boot/vmlinuz-3.10.0-1160.119.1.el7.x86_64"
echo "phony kernel" >"$work/$g-boot/vmlinuz-3.10.0-1160.el7.x86_64"
mkext "$work/$g-boot.ext4" 16 0b1e6c00-0000-4000-8000-000000000009 "" "$work/$g-boot"
mkext "$work/$g-root.ext4" 32 0b1e6c00-0000-4000-8000-00000000000a "" "$r"
disk "$out/$g.img" 0x0b1e0007 "16:$work/$g-boot.ext4" "32:$work/$g-root.ext4"
{
	echo "distro=centos"
	# libguestfs ignores CentOS 7's os-release (VERSION_ID is only "7")
	# and reads product name and version from /etc/centos-release.
	echo "product_name=CentOS Linux release 7.9.2009 (Core)"
	echo "major=7"
	echo "minor=9"
	echo "hostname=centos7-guest.example.com"
	echo "osinfo=centos7.0"
	echo "root=/dev/sda2"
	echo "mount=/boot /dev/sda1"
	facts_rpm rpmbdb
} >"$out/$g.facts"
finish $g
