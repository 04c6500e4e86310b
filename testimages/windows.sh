#!/usr/bin/env bash
# windows.sh OUTDIR — build two Windows-like guests, each an MBR disk with
# one NTFS partition (1 MiB in, 16 MiB) populated without mounting by
# testimages/ntfs/mkntfstree.c:
#
#   win10.img    Windows 10 Pro 22H2-like: /Windows, SOFTWARE and SYSTEM
#                hives from windows/win10-*.reg, a fake x86_64 ntoskrnl.exe
#                and cmd.exe (libguestfs takes a directory for a system
#                root only if it holds System32/cmd.exe); disk signature
#                0x57494e31
#   win2k19.img  Windows Server 2019-like: /winnt (lower case), hives from
#                windows/win2k19-*.reg, a fake x86_64 cmd.exe (no
#                ntoskrnl.exe), a boot.ini; disk signature 0x32534b32
#
# The hives are made with hivexregedit --merge (Debian libwin-hivex-perl)
# on copies of ../shared/testdata/hives/minimal (an empty hive, also in
# inspect/windows/testdata/minimal) and checked with hivexget. The PE
# files are only a DOS header, "PE\0\0" and a COFF header (Machine 0x8664)
# with an empty PE32+ optional header; file(1) checks them.
# Also writes OUTDIR/win10.layout and win2k19.layout
# ("DEVICE START_SECTOR SECTORS FSTYPE"), the hives as
# OUTDIR/GUEST-software, OUTDIR/GUEST-system, an xz copy of each disk
# (GUEST.img.xz, 1 MiB blocks, for virt-inspector's raw-vs-xz test) and
# GUEST.facts (KEY=VALUE: what the hives and the disk hold, read back
# with hivexget where it comes from a hive, as guests.sh writes them).
# The NTFS volume serials are fixed (mkntfs picks a random one): the
# inspector reports them as the filesystems' UUIDs.
#
# MKNTFSTREE=PATH uses an already built mkntfstree. Not run by build.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: windows.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PATH=$PATH:/sbin:/usr/sbin
export LC_ALL=C TZ=UTC

need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "windows.sh: $1 not found: install the Debian package '$2' (apt-get install $2)" >&2
		exit 1
	fi
}
need hivexregedit libwin-hivex-perl
need hivexget libhivex-bin
need mkntfs ntfs-3g
need sfdisk fdisk
need file file
need dd coreutils
need blkid util-linux
need xz xz-utils

minimal=$here/../inspect/windows/testdata/minimal
work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-windows.XXXXXX")
trap 'rm -rf "$work"' EXIT

tool=${MKNTFSTREE:-}
if [ -z "$tool" ]; then
	need gcc gcc
	if [ ! -f /usr/include/ntfs-3g/volume.h ]; then
		echo "windows.sh: libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'" >&2
		exit 1
	fi
	tool=$work/mkntfstree
	gcc -O2 -Wall -o "$tool" "$here/ntfs/mkntfstree.c" -lntfs-3g
fi

fail() {
	echo "windows.sh: $*" >&2
	exit 1
}

# hive NAME: OUTDIR/NAME from the minimal hive and windows/NAME.reg.
hive() {
	cp "$minimal" "$out/$1"
	chmod u+w "$out/$1"
	hivexregedit --merge "$out/$1" "$here/windows/$1.reg"
}

# pe FILE MACHINE-LE-BYTES: a 512-byte PE image header.
pe() {
	local f=$1
	rm -f "$f"
	truncate -s 512 "$f"
	printf 'MZ' | dd of="$f" conv=notrunc status=none
	printf '\x80\x00\x00\x00' | dd of="$f" bs=1 seek=$((0x3c)) conv=notrunc status=none
	# "PE\0\0", Machine, NumberOfSections 0, TimeDateStamp, symbols 0,
	# SizeOfOptionalHeader 0xf0, Characteristics 0x22; optional magic 0x20b.
	printf "PE\\x00\\x00$2\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xf0\\x00\\x22\\x00\\x0b\\x02" |
		dd of="$f" bs=1 seek=$((0x80)) conv=notrunc status=none
}

s1=2048 n1=$((16 * 2048))
T=$'\t'

# guest NAME ROOT "EXE..." DISKID SERIAL: build OUTDIR/NAME.img.
guest() {
	local name=$1 root=$2 exes=$3 diskid=$4 serial=$5 exe
	hive "$name-software"
	hive "$name-system"
	for exe in $exes; do
		pe "$work/$exe" '\x64\x86'
		file "$work/$exe" | grep -q 'PE32+ executable.*x86-64' || fail "$exe: file(1) does not see a PE32+ x86-64 image: $(file "$work/$exe")"
	done
	rm -f "$work/$name.fs"
	truncate -s $((n1 * 512)) "$work/$name.fs"
	mkntfs -F -Q -T -q -L "$name" -c 4096 -s 512 -p "$s1" -H 255 -S 63 "$work/$name.fs" "$n1" >/dev/null 2>&1 ||
		mkntfs -F -Q -T -L "$name" -c 4096 "$work/$name.fs" "$n1"
	# The serial: bytes 0x48-0x4f of the boot sector and of its backup in
	# the volume's last sector, little-endian (as ntfs.sh does).
	local le="" i
	for i in 7 6 5 4 3 2 1 0; do le="$le\\x${serial:$((i * 2)):2}"; done
	printf "$le" | dd of="$work/$name.fs" bs=1 seek=$((0x48)) conv=notrunc status=none
	printf "$le" | dd of="$work/$name.fs" bs=1 seek=$(((n1 - 1) * 512 + 0x48)) conv=notrunc status=none
	{
		echo "dir${T}/$root"
		echo "dir${T}/$root/System32"
		echo "dir${T}/$root/System32/config"
		echo "copy${T}/$root/System32/config/SOFTWARE${T}$out/$name-software"
		echo "copy${T}/$root/System32/config/SYSTEM${T}$out/$name-system"
		for exe in $exes; do
			echo "copy${T}/$root/System32/$exe${T}$work/$exe"
		done
		echo "dir${T}/Program Files"
		echo "file${T}/Program Files/readme.txt${T}100${T}1"
		if [ "$name" = win2k19 ]; then
			printf '[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINNT\r\n' >"$work/boot.ini"
			echo "copy${T}/boot.ini${T}$work/boot.ini"
		fi
	} >"$work/$name.manifest"
	"$tool" "$work/$name.fs" <"$work/$name.manifest"
	local disk=$out/$name.img
	rm -f "$disk"
	truncate -s $(((s1 + n1 + 2048) * 512)) "$disk"
	sfdisk -q "$disk" <<EOS
label: dos
label-id: $diskid
unit: sectors

start=$s1, size=$n1, type=7, bootable
EOS
	dd if="$work/$name.fs" of="$disk" bs=1M seek=$((s1 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
	echo "/dev/sda1 $s1 $n1 ntfs" >"$out/$name.layout"
	xz -T1 -3 --block-size=1MiB -k -f -c "$disk" >"$disk.xz"
}

guest win10 Windows "ntoskrnl.exe cmd.exe" 0x57494e31 0B1E57494E313000
guest win2k19 winnt cmd.exe 0x32534b32 0B1E57324B313900

# facts NAME OSINFO CONTROLSET HOSTKEY HOSTVALUE: OUTDIR/NAME.facts, read
# back from the hives; OSINFO is the libosinfo id libguestfs derives from
# the version, InstallationType and build number.
facts() {
	local osinfo=$2
	shift
	local sw=$out/$1-software sys=$out/$1-system cv='\Microsoft\Windows NT\CurrentVersion'
	local major product
	product=$(hivexget "$sw" "$cv" ProductName)
	major=$(hivexget "$sw" "$cv" CurrentMajorVersionNumber)
	{
		echo "distro=windows"
		echo "product_name=$product"
		echo "major=$((major))"
		echo "minor=$(($(hivexget "$sw" "$cv" CurrentMinorVersionNumber)))"
		echo "variant=$(hivexget "$sw" "$cv" InstallationType)"
		echo "hostname=$(hivexget "$sys" "\\$2\\$3" "$4")"
		echo "osinfo=$osinfo"
		echo "root=/dev/sda1"
		# Uninstall entries with a DisplayName, 64- and 32-bit.
		echo "packages=$(for k in '\Microsoft\Windows\CurrentVersion\Uninstall' '\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'; do
			hivexregedit --export "$sw" "$k" 2>/dev/null
		done | grep -c '^"DisplayName"=')"
	} >"$out/$1.facts"
}
facts win10 win10 ControlSet002 'Services\Tcpip\Parameters' Hostname
facts win2k19 win2k19 ControlSet001 'Control\ComputerName\ComputerName' ComputerName

# --- check what the tests rely on ----------------------------------------------
[ "$(hivexget "$out/win10-software" '\Microsoft\Windows NT\CurrentVersion' CurrentBuildNumber)" = 19045 ] || fail "win10 CurrentBuildNumber"
[ "$(hivexget "$out/win2k19-software" '\Microsoft\Windows NT\CurrentVersion' InstallationType)" = Server ] || fail "win2k19 InstallationType"
[ "$(hivexget "$out/win10-system" '\ControlSet002\Services\Tcpip\Parameters' Hostname)" = WIN10-DESKTOP ] || fail "win10 Hostname"
[ "$(sfdisk --disk-id "$out/win10.img")" = 0x57494e31 ] || fail "win10 disk id"
[ "$(sfdisk --disk-id "$out/win2k19.img")" = 0x32534b32 ] || fail "win2k19 disk id"
[ "$(blkid -p -o value -s UUID -O $((s1 * 512)) "$out/win10.img")" = 0B1E57494E313000 ] || fail "win10 volume serial (blkid -p)"
[ "$(blkid -p -o value -s UUID -O $((s1 * 512)) "$out/win2k19.img")" = 0B1E57324B313900 ] || fail "win2k19 volume serial (blkid -p)"
echo "built win10.img win2k19.img in $out"
