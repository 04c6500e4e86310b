#!/usr/bin/env bash
# windows.sh OUTDIR — build two Windows-like guests, each an MBR disk with
# one NTFS partition (1 MiB in, 16 MiB) populated without mounting by
# testimages/ntfs/mkntfstree.c:
#
#   win10.img    Windows 10 Pro 22H2-like: /Windows, SOFTWARE and SYSTEM
#                hives from windows/win10-*.reg, a fake x86_64 ntoskrnl.exe;
#                disk signature 0x57494e31
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
# ("DEVICE START_SECTOR SECTORS FSTYPE") and the hives as
# OUTDIR/GUEST-software, OUTDIR/GUEST-system.
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

# guest NAME ROOT EXE DISKID: build OUTDIR/NAME.img.
guest() {
	local name=$1 root=$2 exe=$3 diskid=$4
	hive "$name-software"
	hive "$name-system"
	pe "$work/$exe" '\x64\x86'
	file "$work/$exe" | grep -q 'PE32+ executable.*x86-64' || fail "$exe: file(1) does not see a PE32+ x86-64 image: $(file "$work/$exe")"
	rm -f "$work/$name.fs"
	truncate -s $((n1 * 512)) "$work/$name.fs"
	mkntfs -F -Q -T -q -L "$name" -c 4096 -s 512 -p "$s1" -H 255 -S 63 "$work/$name.fs" "$n1" >/dev/null 2>&1 ||
		mkntfs -F -Q -T -L "$name" -c 4096 "$work/$name.fs" "$n1"
	{
		echo "dir${T}/$root"
		echo "dir${T}/$root/System32"
		echo "dir${T}/$root/System32/config"
		echo "copy${T}/$root/System32/config/SOFTWARE${T}$out/$name-software"
		echo "copy${T}/$root/System32/config/SYSTEM${T}$out/$name-system"
		echo "copy${T}/$root/System32/$exe${T}$work/$exe"
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
}

guest win10 Windows ntoskrnl.exe 0x57494e31
guest win2k19 winnt cmd.exe 0x32534b32

# --- check what the tests rely on ----------------------------------------------
[ "$(hivexget "$out/win10-software" '\Microsoft\Windows NT\CurrentVersion' CurrentBuildNumber)" = 19045 ] || fail "win10 CurrentBuildNumber"
[ "$(hivexget "$out/win2k19-software" '\Microsoft\Windows NT\CurrentVersion' InstallationType)" = Server ] || fail "win2k19 InstallationType"
[ "$(hivexget "$out/win10-system" '\ControlSet002\Services\Tcpip\Parameters' Hostname)" = WIN10-DESKTOP ] || fail "win10 Hostname"
[ "$(sfdisk --disk-id "$out/win10.img")" = 0x57494e31 ] || fail "win10 disk id"
[ "$(sfdisk --disk-id "$out/win2k19.img")" = 0x32534b32 ] || fail "win2k19 disk id"
echo "built win10.img win2k19.img in $out"
