#!/usr/bin/env bash
# boot.sh OUTDIR — build a small disk that really boots, for bmaplogger's
# boot-trace test.
#
# Writes into OUTDIR:
#   boot.img     MBR disk, 49 MiB (sparse): SYSLINUX's mbr.bin in the MBR,
#                sda1 FAT16 (32 MiB, active) holding ldlinux.sys, ldlinux.c32,
#                syslinux.cfg, vmlinuz and initrd.gz; sda2 ext4 (16 MiB)
#                holding the programs the initramfs runs
#   boot.layout  one line per partition: "DEVICE START_SECTOR SECTORS FSTYPE"
#
# The boot: SeaBIOS reads the MBR, mbr.bin loads sda1's boot sector, SYSLINUX
# reads ldlinux.sys, ldlinux.c32 and syslinux.cfg, then vmlinuz and initrd.gz.
# The kernel (Debian's linux-image-*-amd64, not installed: apt-get download
# and dpkg-deb -x) runs the busybox initramfs's /init, which loads the disk
# and ext4 modules (ata_piix for IDE, virtio_blk for virtio), mounts sda2
# (or vda2) read-only and runs from it /bin/hello (a shell script),
# /usr/bin/report (reads /etc/motd, /etc/os-release and /data/numbers) and
# /bin/busybox (an ELF program paged in from ext4), prints
# "VIRT-BMAP-BOOT-OK" and powers off (qemu -no-reboot then exits with 0).
# Anything failing in /init prints "VIRT-BMAP-BOOT-FAILED: why" and powers
# off; a kernel panic reboots at once (panic=-1), so a broken image never
# hangs qemu.
#
# LUKS=PASSPHRASE builds the encrypted variant instead, as the installers
# lay out an encrypted root: luksboot.img, whose sda2 is a LUKS1 container
# (aes-xts-plain64, sha256, a fast PBKDF2) written by qemu-img's luks
# driver around the same ext4; the initramfs also holds cryptsetup (with
# its libraries), dm-mod, dm-crypt and the ciphers, and the passphrase in
# /etc/luks.key: /init opens sda2 (or vda2) as /dev/mapper/root and mounts
# that. Also written: luksboot.layout (sda2's type is crypto_LUKS),
# luksboot.payload (the byte offset of the encrypted payload inside sda2)
# and luksboot.plain.img, the disk with the plaintext ext4 at the
# ciphertext's offsets, for The Sleuth Kit. The LUKS header's salts and
# master key are random: this variant is not reproducible byte for byte.
#
# The kernel .deb is cached in $VIRT_BMAP_CACHE (default ~/.cache/virt-bmap);
# KERNEL_DEB=FILE uses a given linux-image .deb instead of downloading one.
#
# No loop devices, no mount, no root: the FAT is made as a file with
# mkfs.fat, filled with mcopy, made bootable with `syslinux --install`
# (which works through mtools), the ext4 with mkfs.ext4 -d, and each is
# copied into the disk with dd conv=notrunc at its partition's offset.
#
# Reproducible where the tools allow: fixed volume id, UUID, labels, disk id,
# SOURCE_DATE_EPOCH, E2FSPROGS_FAKE_TIME, every source file's times set to
# the same epoch, cpio --reproducible, gzip -n. For a given kernel package
# the image is the same from run to run (boot.sh checks nothing about that;
# the kernel in the archive changes with Debian's security updates).
set -euo pipefail

out=${1:?usage: boot.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1 && ! [ -x "/sbin/$1" ] && ! [ -x "/usr/sbin/$1" ]; then
		echo "boot.sh: $1 not found: install the Debian package '$2' (apt-get install $2)" >&2
		exit 1
	fi
}
PATH=$PATH:/sbin:/usr/sbin
need apt-get apt
need dpkg-deb dpkg
need syslinux syslinux
need mkfs.fat dosfstools
need mcopy mtools
need mkfs.ext4 e2fsprogs
need debugfs e2fsprogs
need dumpe2fs e2fsprogs
need sfdisk fdisk
need cpio cpio
need gzip gzip
need dd coreutils
need truncate coreutils
luks=${LUKS:-}
if [ -n "$luks" ]; then
	need qemu-img qemu-utils
	need cryptsetup cryptsetup-bin
	need ldd libc-bin
fi

fail() {
	echo "boot.sh: $*" >&2
	exit 1
}

busybox=/bin/busybox
mbrbin=/usr/lib/syslinux/mbr/mbr.bin
[ -x "$busybox" ] || fail "$busybox not found: install the Debian package 'busybox-static'"
# The dynamic busybox would need the host's libc in the initramfs.
if command -v dpkg-query >/dev/null && ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
	fail "busybox-static is not installed (apt-get install busybox-static): the initramfs needs a static busybox"
fi
[ -f "$mbrbin" ] || fail "$mbrbin not found: install the Debian package 'syslinux-common'"

export LC_ALL=C TZ=UTC
export SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH E2FSCK_TIME=$SOURCE_DATE_EPOCH
export MKE2FS_CONFIG=/etc/mke2fs.conf
export DEBUGFS_PAGER=__none__ PAGER=cat
export MTOOLS_SKIP_CHECK=1

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	work=$(mktemp -d /dev/shm/virt-bmap-boot.XXXXXX)
else
	work=$(mktemp -d "$out/work.XXXXXX")
fi
trap 'rm -rf "$work"' EXIT

stamp() {
	find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# --- the kernel --------------------------------------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"

# The drivers from the disk to an ext4 mount (and, for LUKS, dm-crypt and
# the ciphers cryptsetup asks the kernel for).
want_modules ATA:libata ATA_PIIX:ata_piix SCSI:scsi_mod BLK_DEV_SD:sd_mod \
	VIRTIO_PCI:virtio_pci VIRTIO_BLK:virtio_blk \
	CRYPTO_CRC32C:crc32c_generic EXT4_FS:ext4 \
	${luks:+BLK_DEV_DM:dm_mod DM_CRYPT:dm_crypt CRYPTO_ECB:ecb CRYPTO_XTS:xts \
		CRYPTO_USER_API_HASH:algif_hash CRYPTO_USER_API_SKCIPHER:algif_skcipher}

# --- the initramfs -----------------------------------------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,mnt,lib/modules}
cp "$busybox" "$ird/bin/busybox"
for a in sh mount umount insmod cat echo sleep usleep poweroff ls uname; do
	ln -s busybox "$ird/bin/$a"
done
install_modules "$ird"
if [ -n "$luks" ]; then
	# cryptsetup and the shared libraries it loads (ldd's list, at their
	# paths), the passphrase, and the directories it locks and maps in.
	mkdir -p "$ird/etc" "$ird/run/cryptsetup"
	install_binary "$(command -v cryptsetup)" "$ird" /sbin/cryptsetup
	printf '%s' "$luks" >"$ird/etc/luks.key"
fi
cat >"$ird/init" <<'EOF'
#!/bin/sh
# virt-bmap boot test: load the disk and ext4 drivers, mount the ext4 root
# read-only, run programs from it, power off.
export PATH=/bin
fail() {
	echo "VIRT-BMAP-BOOT-FAILED: $*"
	poweroff -f
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m"
done </lib/modules/load-order
dev=
n=0
while [ -z "$dev" ]; do
	for d in /dev/sda2 /dev/vda2; do
		[ -b "$d" ] && dev=$d
	done
	n=$((n + 1))
	[ $n -gt 300 ] && fail "no /dev/sda2 or /dev/vda2 after 30 s"
	[ -z "$dev" ] && usleep 100000
done
if [ -f /etc/luks.key ]; then
	echo "init: opening $dev with cryptsetup"
	/sbin/cryptsetup open --readonly --key-file /etc/luks.key "$dev" root || fail "cryptsetup open $dev"
	dev=/dev/mapper/root
fi
echo "init: mounting $dev"
mount -t ext4 -o ro "$dev" /mnt || fail "mount $dev"
/mnt/bin/hello || fail "/mnt/bin/hello"
/mnt/usr/bin/report /mnt || fail "/mnt/usr/bin/report"
/mnt/bin/busybox echo "init: busybox from $dev says hello" || fail "/mnt/bin/busybox"
umount /mnt
echo "VIRT-BMAP-BOOT-OK"
poweroff -f
EOF
chmod 755 "$ird/init"
stamp "$ird"
(cd "$ird" && find . | sort | cpio --quiet --reproducible -o -H newc -R 0:0) | gzip -n -9 >"$work/initrd.gz"

# --- sda1: FAT16 with SYSLINUX -------------------------------------------------
s1=2048 n1=65536   # sda1 FAT16, 32 MiB, active
s2=67584 n2=32768  # sda2 ext4, 16 MiB
total=$((s2 + n2))

cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0 quiet panic=-1
EOF
cp "$vmlinuz" "$work/vmlinuz"
stamp "$work/syslinux.cfg"
stamp "$work/vmlinuz"
stamp "$work/initrd.gz"
fat=$work/sda1.fat
rm -f "$fat"
# -h: hidden sectors = the partition's start, which SYSLINUX's boot sector
# adds to every sector number it reads.
mkfs.fat -F 16 -n BMAPBOOT -i 0b00715e -h "$s1" --invariant -C "$fat" $((n1 / 2)) >/dev/null
syslinux --install "$fat"
mcopy -m -i "$fat" "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.gz" ::/

# --- sda2: ext4 with the programs ---------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,usr/bin,etc,data}
cat >"$root/bin/hello" <<'EOF'
#!/bin/sh
echo "hello: running from the ext4 root, kernel $(uname -r)"
EOF
cat >"$root/usr/bin/report" <<'EOF'
#!/bin/sh
# report ROOT: read a few files of the ext4 root.
r=${1:-/}
echo "report: motd says: $(cat "$r/etc/motd")"
. "$r/etc/os-release"
echo "report: os-release: $PRETTY_NAME"
sum=0
while read -r x; do
	sum=$((sum + x))
done <"$r/data/numbers"
echo "report: sum of data/numbers: $sum"
EOF
chmod 755 "$root/bin/hello" "$root/usr/bin/report"
echo "Welcome to the virt-bmap boot test." >"$root/etc/motd"
cat >"$root/etc/os-release" <<'EOF'
PRETTY_NAME="virt-bmap boot test"
NAME="virt-bmap-boot"
ID=virt-bmap-boot
EOF
seq 1 1000 >"$root/data/numbers"
cp "$busybox" "$root/bin/busybox"
stamp "$root"
ext=$work/sda2.ext4
rm -f "$ext"
mkfs.ext4 -q -F -b 4096 -U 5b1d7a1e-0b00-4e00-8000-000000000002 -L bmaproot \
	-E root_owner=0:0,hash_seed=5b1d7a1e-0b00-4e00-8000-0000000000ff \
	-d "$root" "$ext" $((n2 / 2))k >/dev/null
# mke2fs -d copies each source file's ctime, which cannot be set on the
# source tree: rewrite the ctime of every used inode (see build.sh).
dumpe2fs "$ext" 2>/dev/null | awk -v epoch="$SOURCE_DATE_EPOCH" '
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
debugfs -w -f "$work/ctime.cmd" "$ext" >/dev/null 2>"$work/ctime.err" || {
	cat "$work/ctime.err" >&2
	exit 1
}

# --- sda2 encrypted (LUKS=) -----------------------------------------------------------
name=boot
part2=$ext type2=83 fs2=ext4
if [ -n "$luks" ]; then
	name=luksboot
	sec=(--object "secret,id=sec0,data=$luks")
	# qemu-img times PBKDF2 to pick the iterations (iter-time ms: fast for
	# the guest under TCG) and fails now and then on a loaded machine
	# ("Unable to get accurate CPU usage"): try again.
	for try in 1 2 3 4 5; do
		qemu-img create -q -f luks "${sec[@]}" -o key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64,hash-alg=sha256,iter-time=10 \
			"$work/sda2.luks" $((n2 * 512)) 2>"$work/luks.err" && break
		[ "$try" = 5 ] && fail "qemu-img create -f luks: $(cat "$work/luks.err")"
	done
	qemu-img convert -n -f raw "$ext" "${sec[@]}" --target-image-opts "driver=luks,key-secret=sec0,file.filename=$work/sda2.luks"
	payload=$(cryptsetup luksDump "$work/sda2.luks" | awk '/^Payload offset:/ { print $3 * 512 }')
	[ -n "$payload" ] || fail "cryptsetup luksDump $work/sda2.luks: no payload offset"
	part2=$work/sda2.luks type2=83 fs2=crypto_LUKS
	n2=$(( ($(stat -c %s "$part2") + 511) / 512 ))
	total=$((s2 + n2))
fi

# --- the disk --------------------------------------------------------------------------
disk=$out/$name.img
rm -f "$disk"
truncate -s $((total * 512)) "$disk"
sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x0b00715e
unit: sectors

start=$s1, size=$n1, type=6, bootable
start=$s2, size=$n2, type=$type2
EOF
dd if="$mbrbin" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$fat" of="$disk" bs=512 seek="$s1" conv=notrunc,sparse status=none
dd if="$part2" of="$disk" bs=512 seek="$s2" conv=notrunc,sparse status=none
printf '/dev/sda1 %d %d vfat\n/dev/sda2 %d %d %s\n' "$s1" "$n1" "$s2" "$n2" "$fs2" >"$out/$name.layout"
if [ -n "$luks" ]; then
	echo "$payload" >"$out/$name.payload"
	cp --sparse=always "$disk" "$out/$name.plain.img"
	dd if="$ext" of="$out/$name.plain.img" bs=512 seek=$((s2 + payload / 512)) conv=notrunc,sparse status=none
fi
echo "boot.sh: $disk: kernel $kver from ${deb##*/}, modules: ${order[*]##*/}" >&2
