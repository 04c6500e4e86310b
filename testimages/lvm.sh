#!/usr/bin/env bash
# lvm.sh OUTDIR — build the LVM2 test images with Debian's lvm2 tools.
#
# Writes into OUTDIR:
#   lvm-linear.img   MBR: sda1 and sda2 are PVs of VG "vgtest"; LV "root"
#                    (ext4, linear, two segments on sda1), LV "pad" (between
#                    root's segments, no filesystem), LV "striped" (ext4,
#                    2 stripes of 64 KiB over sda1 and sda2)
#   guest-d1.img     MBR: sda1 ext4 "/" (its /etc/fstab mounts
#                    /dev/mapper/vgguest-home on /home), sda2 a PV of "vgguest"
#   guest-d2.img     a whole-disk PV of "vgguest" (no partition table);
#                    LV "home" (ext4) is linear, 6 MiB on sda2 then 6 MiB on
#                    sdb; LV "srv" (ext4, on sdb) is mounted on /srv by its
#                    /dev/disk/by-id/dm-uuid-LVM-... name, which lvm2's
#                    UUIDs make and guest.dmuuid records
#   *.layout         "DEVICE START_SECTOR SECTORS FSTYPE" per partition / LV
#   *.lvs            the oracle: one line per LV segment, from lvm2's own
#                    reports (lvs --segments, pvs -o pe_start), translated to
#                    disk offsets: "VG LV LV_START LEN STRIPES STRIPE_SIZE
#                    DISK:OFF[,DISK:OFF...]" (bytes; DISK 1-based; one
#                    DISK:OFF per stripe, the disk offset of its first byte)
#
# The kernel's device-mapper is not needed and never touched: lvmlib.sh
# runs lvm2 with activation disabled on loop devices of the partitions,
# with a private lvm.conf; filesystems are made as files (mkfs.ext4 -d) and
# written into the disks at the offsets lvs reports for each segment (each
# stripe chunk for a striped LV). Loop devices are detached on every exit
# (trap).
#
# PV UUIDs are fixed (pvcreate --uuid); VG and LV UUIDs and the metadata's
# creation time and host are lvm2's own, so the images are not byte-identical
# from one build to the next: the tests read the .lvs file, never constants.
set -euo pipefail

out=${1:?usage: lvm.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
PATH=$PATH:/sbin:/usr/sbin

for t in pvcreate:lvm2 losetup:mount mkfs.ext4:e2fsprogs sfdisk:fdisk dd:coreutils; do
	if ! command -v "${t%%:*}" >/dev/null 2>&1; then
		echo "lvm.sh: ${t%%:*} not found: install the Debian package '${t#*:}'" >&2
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "lvm.sh: needs root (losetup)" >&2
	exit 1
fi

export LC_ALL=C TZ=UTC
export SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
export MKE2FS_CONFIG=/etc/mke2fs.conf

work=$(mktemp -d /tmp/virt-bmap-lvm.XXXXXX)
. "$(dirname "${BASH_SOURCE[0]}")/lvmlib.sh"
trap 'lvm_cleanup; rm -rf "$work"' EXIT
lvm_setup

text() {
	(
		set +o pipefail
		yes "$2 the quick brown fox jumps over the lazy dog 0123456789" | head -c "$1"
	)
}

# mkfs_file FSIMG SIZE SRCDIR UUID LABEL
mkfs_file() {
	find "$3" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	rm -f "$1"
	mkfs.ext4 -q -F -b 1024 -U "$4" -L "$5" -E "root_owner=0:0,hash_seed=$4" -d "$3" "$1" "$2" >/dev/null
}

# --- lvm-linear.img --------------------------------------------------------
build_linear() {
	local disk=$out/lvm-linear.img lvsfile=$out/lvm-linear.lvs
	local s1=2048 n1=40960 s2=43008 n2=40960 total=86016
	rm -f "$disk" "$lvsfile"
	truncate -s $((total * 512)) "$disk"
	sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x5eed1001
unit: sectors

start=$s1, size=$n1, type=8e
start=$s2, size=$n2, type=8e
EOF
	IMGS[1]=$disk
	local p1 p2
	loop "$disk" 1 $((s1 * 512)) $((n1 * 512))
	p1=$L
	loop "$disk" 1 $((s2 * 512)) $((n2 * 512))
	p2=$L
	lvm_ pvcreate -q -y --norestorefile --uuid LVMtst-0000-0000-0000-0000-0000-linpv1 "$p1" >/dev/null
	lvm_ pvcreate -q -y --norestorefile --uuid LVMtst-0000-0000-0000-0000-0000-linpv2 "$p2" >/dev/null
	lvm_ vgcreate -q -s 1M vgtest "$p1" "$p2" >/dev/null
	lvm_ lvcreate -q -an -Zn -n root -L 4M vgtest "$p1" >/dev/null
	lvm_ lvcreate -q -an -Zn -n pad -L 2M vgtest "$p1" >/dev/null
	lvm_ lvextend -q -L +4M vgtest/root "$p1" >/dev/null
	lvm_ lvcreate -q -an -Zn -n striped -i 2 -I 64k -L 8M vgtest "$p1" "$p2" >/dev/null

	local src=$work/linear-root
	mkdir -p "$src/etc" "$src/data" "$src/empty-dir"
	echo lvmhost >"$src/etc/hostname"
	text 3000 passwd >"$src/etc/passwd"
	text 5000000 spans >"$src/data/spans-segments" # crosses root's segment boundary (4 MiB)
	text 70000 small >"$src/data/small"
	mkfs_file "$work/root.fs" 8M "$src" 4c564d00-0000-4000-8000-000000000001 lvroot
	src=$work/linear-striped
	mkdir -p "$src/s/t"
	text 1000000 striped >"$src/s/many-stripes"
	text 200 tiny >"$src/s/t/tiny"
	mkfs_file "$work/striped.fs" 8M "$src" 4c564d00-0000-4000-8000-000000000002 lvstriped

	record vgtest root "$work/root.fs" "$lvsfile"
	record vgtest pad "" "$lvsfile"
	record vgtest striped "$work/striped.fs" "$lvsfile"
	detach
	cat >"$out/lvm-linear.layout" <<EOF
/dev/sda1 $s1 $n1 LVM2_member
/dev/sda2 $s2 $n2 LVM2_member
/dev/vgtest/root - 16384 ext4
/dev/vgtest/striped - 16384 ext4
EOF
}

# --- guest-d1.img + guest-d2.img -------------------------------------------
build_guest() {
	local d1=$out/guest-d1.img d2=$out/guest-d2.img lvsfile=$out/guest.lvs
	local s1=2048 n1=32768 s2=34816 n2=20480 total=57344 d2size=$((16 << 20))
	rm -f "$d1" "$d2" "$lvsfile"
	truncate -s $((total * 512)) "$d1"
	truncate -s $d2size "$d2"
	sfdisk -q --no-reread --no-tell-kernel "$d1" <<EOF
label: dos
label-id: 0x5eed1002
unit: sectors

start=$s1, size=$n1, type=83, bootable
start=$s2, size=$n2, type=8e
EOF
	IMGS[1]=$d1
	IMGS[2]=$d2
	local p2 b
	loop "$d1" 1 $((s2 * 512)) $((n2 * 512))
	p2=$L
	loop "$d2" 2 0 $d2size
	b=$L
	lvm_ pvcreate -q -y --norestorefile --uuid LVMtst-0000-0000-0000-0000-0000-gstpv1 "$p2" >/dev/null
	lvm_ pvcreate -q -y --norestorefile --uuid LVMtst-0000-0000-0000-0000-0000-gstpv2 "$b" >/dev/null
	lvm_ vgcreate -q -s 1M vgguest "$p2" "$b" >/dev/null
	lvm_ lvcreate -q -an -Zn -n home -L 6M vgguest "$p2" >/dev/null
	lvm_ lvextend -q -L +6M vgguest/home "$b" >/dev/null
	lvm_ lvcreate -q -an -Zn -n srv -L 2M vgguest "$b" >/dev/null
	# /srv is named as Ubuntu's installer names LVs in fstab: by the
	# device-mapper UUID, "LVM-" then the VG and LV UUIDs without dashes.
	local dmuuid
	dmuuid=LVM-$(lvm_ lvs --noheadings -o vg_uuid,lv_uuid vgguest/srv | tr -d ' -')

	local root=$work/guest-root home=$work/guest-home
	mkdir -p "$root/etc" "$root/home" "$root/bin"
	echo guest >"$root/etc/hostname"
	printf '%s\n' "UUID=4c564d00-0000-4000-8000-0000000000a1 / ext4 defaults 0 1" \
		"/dev/mapper/vgguest-home /home ext4 defaults 0 2" \
		"/dev/disk/by-id/dm-uuid-$dmuuid /srv ext4 defaults 0 2" >"$root/etc/fstab"
	echo "$dmuuid" >"$out/guest.dmuuid"
	text 300000 bin >"$root/bin/tool"
	mkfs_file "$work/groot.fs" 16M "$root" 4c564d00-0000-4000-8000-0000000000a1 groot
	dd if="$work/groot.fs" of="$d1" bs=512 seek=$s1 conv=notrunc status=none
	mkdir -p "$home/alice/docs" "$home/bob"
	text 4000 profile >"$home/alice/.profile"
	text 9000000 video >"$home/alice/docs/video" # 9 MB: past the 6 MiB on disk 1
	text 100000 notes >"$home/bob/notes"
	mkfs_file "$work/home.fs" 12M "$home" 4c564d00-0000-4000-8000-0000000000a2 ghome
	record vgguest home "$work/home.fs" "$lvsfile"
	mkdir -p "$work/guest-srv/www"
	text 3000 index >"$work/guest-srv/www/index.html"
	mkfs_file "$work/srv.fs" 2M "$work/guest-srv" 4c564d00-0000-4000-8000-0000000000a3 gsrv
	record vgguest srv "$work/srv.fs" "$lvsfile"
	detach
	cat >"$out/guest-d1.layout" <<EOF
/dev/sda1 $s1 $n1 ext4
/dev/sda2 $s2 $n2 LVM2_member
/dev/vgguest/home - 24576 ext4
/dev/vgguest/srv - 4096 ext4
EOF
	cat >"$out/guest-d2.layout" <<EOF
/dev/sdb 0 $((d2size / 512)) LVM2_member
EOF
}

build_linear
build_guest
echo "built lvm-linear.img guest-d1.img guest-d2.img in $out"
