#!/usr/bin/env bash
# winboot.sh OUTDIR — build two small disks shaped like a Windows machine's
# that really boot Linux from NTFS, for bmaplogger's boot-trace tests.
#
# Writes into OUTDIR:
#   uefi.img     GPT disk laid out as Windows Setup lays it out (sparse):
#                  1 ESP, FAT32 100 MiB: \EFI\Boot\bootx64.efi (GRUB, made by
#                    grub-mkimage -O x86_64-efi with part_gpt, fat, ntfs,
#                    linux built in, prefix /EFI/Boot), \EFI\Boot\grub.cfg,
#                    \EFI\Microsoft\Boot\BCD (a hive-sized file of
#                    pseudo-random bytes, right after bootx64.efi)
#                  2 Microsoft Reserved, 16 MiB, no filesystem
#                  3 basic data, NTFS "C:" (see below)
#                  4 Windows recovery environment, NTFS, \Recovery\WindowsRE\
#                    Winre.wim (pseudo-random bytes)
#   bios.img     MBR disk: GRUB's boot.img in the MBR (bytes 0-439; the disk
#                id and the partition table are kept), GRUB's i386-pc
#                core.img (grub-mkimage -O i386-pc with biosdisk,
#                part_msdos, ntfs, linux built in, prefix
#                (hd0,msdos1)/boot/grub) from sector 1 in the gap before the
#                first partition, and partition 1, active, the same C:
#                (its boot sector's hidden-sectors field set to its start)
#   uefi.layout, bios.layout
#                one line per partition: "DEVICE START_SECTOR SECTORS FSTYPE"
#                (FSTYPE vfat, ntfs or none)
#   vars.fd      OVMF's empty variable store (copy it for each run)
#   code.fd      the OVMF firmware the image was made for (a symlink)
#
# C: holds \boot\vmlinuz and \boot\initrd.img (a Debian kernel and a busybox
# initramfs), \boot\grub\grub.cfg (the BIOS boot's configuration),
# \Windows\System32\init.sh (a shell script small enough to stay resident
# in its MFT record), \Windows\System32\config\SYSTEM (4 MiB of
# pseudo-random bytes, the size of a small registry hive) and
# \Windows\System32\busybox.exe (an ELF: busybox-static), plus a few empty
# Windows directories.
#
# The boot: the firmware (OVMF, or SeaBIOS then boot.img and core.img)
# starts GRUB, which reads its grub.cfg, finds C: by its serial number,
# loads vmlinuz and initrd.img from NTFS and starts Linux. The initramfs's
# /init loads the disk drivers and fuse, mounts C: read-only with ntfs-3g
# (the binary and its libraries are in the initramfs), runs init.sh from
# it, which reads SYSTEM and runs busybox.exe, then prints
# "VIRT-BMAP-WINBOOT-OK" and powers off (qemu -no-reboot then exits 0).
# Any failing step prints "VIRT-BMAP-WINBOOT-FAILED: why" and powers off; a
# kernel panic reboots at once (panic=-1), so a broken image never hangs.
# The kernel command line's winboot.part=N names C:'s partition number.
#
# The kernel .deb is cached in $VIRT_BMAP_CACHE (default ~/.cache/virt-bmap)
# as testimages/boot.sh does; KERNEL_DEB=FILE uses a given package.
# MKNTFSTREE=PATH uses an already built testimages/ntfs/mkntfstree.
#
# No root, loops or mounts: FAT with mkfs.fat and mtools, NTFS with mkntfs
# on a file filled by mkntfstree (libntfs-3g), GRUB's images with
# grub-mkimage and dd, the partition tables with sfdisk on the image file.
# Reproducible where the tools allow: fixed serials, disk and partition
# GUIDs, SOURCE_DATE_EPOCH, cpio --reproducible, gzip -n (NTFS timestamps
# are the time mkntfstree runs: libntfs-3g takes the clock).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: winboot.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PATH=$PATH:/sbin:/usr/sbin

fail() {
	echo "winboot.sh: $*" >&2
	exit 1
}
need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || fail "$1 not found: install the Debian package '$2' (apt-get install $2)"
}
need apt-get apt
need dpkg-deb dpkg
need mkfs.fat dosfstools
need mcopy mtools
need mmd mtools
need mkntfs ntfs-3g
need ntfs-3g ntfs-3g
need sfdisk fdisk
need grub-mkimage grub-common
need cpio cpio
need gzip gzip
need gcc gcc
need fls sleuthkit
need istat sleuthkit
need openssl openssl
need dd coreutils
need truncate coreutils

grubefi=/usr/lib/grub/x86_64-efi
grubpc=/usr/lib/grub/i386-pc
[ -f "$grubefi/ntfs.mod" ] || fail "$grubefi/ntfs.mod not found: install the Debian package 'grub-efi-amd64-bin'"
[ -f "$grubpc/boot.img" ] || fail "$grubpc/boot.img not found: install the Debian package 'grub-pc-bin'"
ovmfcode=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmfvars=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -f "$ovmfcode" ] && [ -f "$ovmfvars" ] || fail "$ovmfcode not found: install the Debian package 'ovmf'"
busybox=/bin/busybox
if command -v dpkg-query >/dev/null && ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
	fail "busybox-static is not installed (apt-get install busybox-static): the initramfs needs a static busybox"
fi
ntfs3g=$(command -v ntfs-3g)
[ -f /usr/include/ntfs-3g/volume.h ] || [ -n "${MKNTFSTREE:-}" ] || fail "libntfs-3g headers missing: install the Debian package 'ntfs-3g-dev'"

export LC_ALL=C TZ=UTC
export SOURCE_DATE_EPOCH=1700000000
export MTOOLS_SKIP_CHECK=1

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	work=$(mktemp -d /dev/shm/virt-bmap-winboot.XXXXXX)
else
	work=$(mktemp -d "$out/work.XXXXXX")
fi
trap 'rm -rf "$work"' EXIT

stamp() {
	find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# --- the kernel (as boot.sh gets it) -------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"

# The drivers from the disk (IDE or virtio) to a FUSE mount.
want_modules ATA:libata ATA_PIIX:ata_piix SCSI:scsi_mod BLK_DEV_SD:sd_mod \
	VIRTIO_PCI:virtio_pci VIRTIO_BLK:virtio_blk FUSE_FS:fuse
grep -q '^CONFIG_EFI_PARTITION=y' "$config" || fail "$config: no GPT support (CONFIG_EFI_PARTITION)"

# --- the initramfs -----------------------------------------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,mnt,etc,lib/modules}
cp "$busybox" "$ird/bin/busybox"
for a in sh mount umount insmod cat echo sleep usleep poweroff ls uname md5sum wc cut; do
	ln -s busybox "$ird/bin/$a"
done
install_binary "$ntfs3g" "$ird" /bin/ntfs-3g
ln -s /proc/mounts "$ird/etc/mtab"
install_modules "$ird"
cat >"$ird/init" <<'EOF'
#!/bin/sh
# virt-bmap Windows-shaped boot: load the disk drivers and fuse, mount C:
# (NTFS) read-only with ntfs-3g, run its init.sh, power off.
export PATH=/bin
fail() {
	echo "VIRT-BMAP-WINBOOT-FAILED: $*"
	poweroff -f
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done </lib/modules/load-order
part=
for w in $(cat /proc/cmdline); do
	case $w in winboot.part=*) part=${w#winboot.part=} ;; esac
done
[ -n "$part" ] || fail "no winboot.part= on the kernel command line"
dev=
n=0
while [ -z "$dev" ]; do
	for d in /dev/sda$part /dev/vda$part; do
		[ -b "$d" ] && dev=$d
	done
	n=$((n + 1))
	[ $n -gt 300 ] && fail "no /dev/sda$part or /dev/vda$part after 30 s"
	[ -z "$dev" ] && usleep 100000
done
n=0
while [ ! -c /dev/fuse ]; do
	n=$((n + 1))
	[ $n -gt 50 ] && fail "no /dev/fuse"
	usleep 100000
done
echo "init: mounting C: ($dev) with ntfs-3g"
ntfs-3g -o ro "$dev" /mnt || fail "ntfs-3g $dev"
sh /mnt/Windows/System32/init.sh /mnt || fail "C:\\Windows\\System32\\init.sh"
umount /mnt
echo "VIRT-BMAP-WINBOOT-OK"
poweroff -f
EOF
chmod 755 "$ird/init"
stamp "$ird"
(cd "$ird" && find . | sort | cpio --quiet --reproducible -o -H newc -R 0:0) | gzip -n -9 >"$work/initrd.img"

# --- C: ----------------------------------------------------------------------
# The script the initramfs runs from C:, small enough to stay resident.
cat >"$work/init.sh" <<'EOF'
#!/bin/sh
# init.sh C: — run from NTFS by the initramfs.
c=${1:-/mnt}
s=$c/Windows/System32
echo "init.sh: running from C:, kernel $(uname -r)"
echo "init.sh: SYSTEM hive $(wc -c <"$s/config/SYSTEM") bytes, md5 $(md5sum <"$s/config/SYSTEM" | cut -c1-32)"
"$s/busybox.exe" echo "init.sh: busybox.exe from C: says hello"
EOF
[ "$(wc -c <"$work/init.sh")" -lt 600 ] || fail "init.sh is too large to stay resident in its MFT record"

# mkvol FILE SECTORS START LABEL SERIAL: a fresh NTFS volume in FILE whose
# boot sector says it starts at sector START, with a fixed serial number
# (mkntfs picks a random one: bytes 0x48-0x4f of the boot sector and of its
# backup in the volume's last sector are rewritten).
mkvol() {
	local f=$1 sectors=$2 start=$3 label=$4 serial=$5
	rm -f "$f"
	truncate -s $((sectors * 512)) "$f"
	mkntfs -F -Q -T -q -L "$label" -s 512 -p "$start" -H 255 -S 63 "$f" "$sectors" >"$work/mkntfs.log" 2>&1 ||
		fail "mkntfs $label: $(cat "$work/mkntfs.log")"
	local le="" i
	for i in 7 6 5 4 3 2 1 0; do le="$le\\x${serial:$((i * 2)):2}"; done
	printf "$le" | dd of="$f" bs=1 seek=$((0x48)) conv=notrunc status=none
	printf "$le" | dd of="$f" bs=1 seek=$(((sectors - 1) * 512 + 0x48)) conv=notrunc status=none
}
# hidden FILE SECTORS START: rewrite the NTFS boot sector's (and its
# backup's) hidden sectors, the partition's start.
hidden() {
	local f=$1 sectors=$2 start=$3 le=""
	le=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((start & 255)) $((start >> 8 & 255)) $((start >> 16 & 255)) $((start >> 24 & 255)))
	printf "$le" | dd of="$f" bs=1 seek=$((0x1c)) conv=notrunc status=none
	printf "$le" | dd of="$f" bs=1 seek=$(((sectors - 1) * 512 + 0x1c)) conv=notrunc status=none
}

tool=${MKNTFSTREE:-}
if [ -z "$tool" ]; then
	tool=$work/mkntfstree
	gcc -O2 -Wall -o "$tool" "$here/ntfs/mkntfstree.c" -lntfs-3g || fail "cannot build mkntfstree"
fi

cserial=57494E424F4F5443 # "WINBOOTC"
cat >"$work/grub-bios.cfg" <<EOF
set timeout=0
search --no-floppy --fs-uuid --set=root $cserial
linux /boot/vmlinuz console=ttyS0 quiet panic=-1 winboot.part=1
initrd /boot/initrd.img
boot
EOF
sed 's/winboot.part=1/winboot.part=3/' "$work/grub-bios.cfg" >"$work/grub-efi.cfg"
cp "$vmlinuz" "$work/vmlinuz"
cp "$busybox" "$work/busybox.exe"
T=$'\t'
cat >"$work/c.manifest" <<EOF
dir${T}/boot
copy${T}/boot/vmlinuz${T}$work/vmlinuz
copy${T}/boot/initrd.img${T}$work/initrd.img
dir${T}/boot/grub
copy${T}/boot/grub/grub.cfg${T}$work/grub-bios.cfg
dir${T}/Program Files
dir${T}/Users
dir${T}/Users/Public
dir${T}/Windows
dir${T}/Windows/System32
dir${T}/Windows/System32/config
copy${T}/Windows/System32/init.sh${T}$work/init.sh
file${T}/Windows/System32/config/SYSTEM${T}4194304${T}1
copy${T}/Windows/System32/busybox.exe${T}$work/busybox.exe
EOF

# --- uefi.img: GPT as Windows Setup makes it -------------------------------------
e1=2048 en1=$((100 * 2048))        # ESP
e2=$((e1 + en1)) en2=$((16 * 2048)) # MSR
e3=$((e2 + en2)) en3=$((64 * 2048)) # C:
e4=$((e3 + en3)) en4=$((32 * 2048)) # recovery
etotal=$((e4 + en4 + 2048))         # room for the backup GPT

mkvol "$work/c.fs" $en3 $e3 "Windows" $cserial
"$tool" "$work/c.fs" <"$work/c.manifest"
# The shape the trace test relies on: init.sh resident in its MFT record.
ino=$(fls -r -p "$work/c.fs" | awk -F'\t' '$2 == "Windows/System32/init.sh" { split($1, a, " "); sub(/-.*/, "", a[2]); print a[2] }')
[ -n "$ino" ] || fail "C: has no Windows/System32/init.sh (fls)"
st=$(istat "$work/c.fs" "$ino") # not piped into grep -q: SIGPIPE under pipefail
grep -Eq '^Type: \$DATA \(128-[0-9]+\) +Name: N/A +Resident' <<<"$st" ||
	fail "C:\\Windows\\System32\\init.sh is not resident in its MFT record (istat)"
mkvol "$work/r.fs" $en4 $e4 "Recovery" 5245434F56455259
printf 'dir\t/Recovery\ndir\t/Recovery/WindowsRE\nfile\t/Recovery/WindowsRE/Winre.wim\t3145728\t7\n' | "$tool" "$work/r.fs"

# The ESP. GRUB's image: its modules built in, its configuration read from
# the ESP ($prefix/grub.cfg, prefix /EFI/Boot on the device it was loaded
# from).
mods="part_gpt part_msdos fat ntfs linux normal configfile echo search search_fs_uuid search_fs_file test ls cat boot"
grub-mkimage -O x86_64-efi -p /EFI/Boot -o "$work/bootx64.efi" $mods || fail "grub-mkimage x86_64-efi"
# BCD: a hive-sized file (pseudo-random bytes from a fixed seed).
head -c 32768 /dev/zero | openssl enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff -iv 0 2>/dev/null >"$work/BCD" ||
	fail "openssl enc (for BCD's bytes)"
[ "$(wc -c <"$work/BCD")" = 32768 ] || fail "BCD: openssl gave $(wc -c <"$work/BCD") bytes"
cp "$work/grub-efi.cfg" "$work/grub.cfg"
stamp "$work/bootx64.efi"
stamp "$work/BCD"
stamp "$work/grub.cfg"
esp=$work/esp.fat
mkfs.fat -F 32 -n SYSTEM -i 0b00e51f -h "$e1" --invariant -C "$esp" $((en1 / 2)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/Boot ::/EFI/Microsoft ::/EFI/Microsoft/Boot
# In this order: BCD's clusters follow bootx64.efi's.
mcopy -m -i "$esp" "$work/bootx64.efi" ::/EFI/Boot/bootx64.efi
mcopy -m -i "$esp" "$work/BCD" ::/EFI/Microsoft/Boot/BCD
mcopy -m -i "$esp" "$work/grub.cfg" ::/EFI/Boot/grub.cfg

disk=$out/uefi.img
rm -f "$disk"
truncate -s $((etotal * 512)) "$disk"
sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: gpt
label-id: 57494E42-4F4F-5400-8000-000000000000
unit: sectors
first-lba: 34

start=$e1, size=$en1, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=57494E42-4F4F-5400-8000-000000000001, name="EFI system partition"
start=$e2, size=$en2, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, uuid=57494E42-4F4F-5400-8000-000000000002, name="Microsoft reserved partition"
start=$e3, size=$en3, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, uuid=57494E42-4F4F-5400-8000-000000000003, name="Basic data partition"
start=$e4, size=$en4, type=DE94BBA4-06D1-4D40-A16A-BFD50179D6AC, uuid=57494E42-4F4F-5400-8000-000000000004, name="Basic data partition", attrs="RequiredPartition GUID:63"
EOF
dd if="$esp" of="$disk" bs=1M seek=$((e1 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$work/c.fs" of="$disk" bs=1M seek=$((e3 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
dd if="$work/r.fs" of="$disk" bs=1M seek=$((e4 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
cat >"$out/uefi.layout" <<EOF
/dev/sda1 $e1 $en1 vfat
/dev/sda2 $e2 $en2 none
/dev/sda3 $e3 $en3 ntfs
/dev/sda4 $e4 $en4 ntfs
EOF
cp "$ovmfvars" "$out/vars.fd"
ln -sf "$ovmfcode" "$out/code.fd"

# --- bios.img: MBR, GRUB in the gap, C: active --------------------------------------
b1=2048 bn1=$en3
disk=$out/bios.img
rm -f "$disk"
truncate -s $(((b1 + bn1) * 512)) "$disk"
sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x57494e42
unit: sectors

start=$b1, size=$bn1, type=7, bootable
EOF
grub-mkimage -O i386-pc -p '(hd0,msdos1)/boot/grub' -o "$work/core.img" biosdisk $mods || fail "grub-mkimage i386-pc"
coresz=$(wc -c <"$work/core.img")
[ $(((coresz + 511) / 512)) -lt $b1 ] || fail "core.img ($coresz bytes) does not fit before sector $b1"
# boot.img's code, not its (empty) partition table or disk id: bytes 0-439.
# Its kernel sector (0x5c) is 1 and diskboot.img's block list (which
# grub-mkimage sets to core.img's length) starts at sector 2: core.img at
# sector 1 is where both look, as grub-bios-setup would leave them.
dd if="$grubpc/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
hidden "$work/c.fs" $bn1 $b1
dd if="$work/c.fs" of="$disk" bs=1M seek=$((b1 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
echo "/dev/sda1 $b1 $bn1 ntfs" >"$out/bios.layout"
echo "winboot.sh: $out/uefi.img, $out/bios.img: kernel $kver from ${deb##*/}, core.img $coresz bytes, modules: ${order[*]##*/}" >&2
