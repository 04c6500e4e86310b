#!/usr/bin/env bash
# luksguests.sh OUTDIR — encrypted phony guests for virt-inspector, made
# from the guests guests.sh built in OUTDIR (run it first).
#
# Writes into OUTDIR, for each GUEST in debian12luks ubuntu2204luks
# fedora40luks:
#   GUEST.img     raw disk (sparse)
#   GUEST.facts   the facts of the guest it comes from, with the devices
#                 and the encryption: root=, mount=, luks_uuid= (the
#                 container's UUID), luks_device= (the partition holding
#                 it) and passphrase= (the test images' secret: tests
#                 check it never appears in any output)
#
# Shapes, and why (the layouts the installers make):
#   debian12luks    Debian's "guided - use entire disk and set up encrypted
#                   LVM": MBR, sda1 /boot (debian12's, LABEL=debboot), sda2
#                   LUKS2 (argon2id with a 32 KiB memory cost,
#                   aes-xts-plain64, 512-byte sectors) holding the PV of VG
#                   "debian-vg", LVs "root" (debian12's root filesystem)
#                   and "swap_1" (mkswap); fstab by /dev/mapper/debian--vg-*
#                   (the dash of the VG name doubled, as the installer
#                   writes it), /etc/crypttab "sda2_crypt UUID=...".
#   ubuntu2204luks  the same on LUKS1 (pbkdf2, aes-cbc-essiv:sha256 with a
#                   256-bit key: Ubuntu and Debian before cryptsetup 1.6,
#                   still met), VG "vgubuntu", fstab by /dev/vgubuntu/root
#                   (the /dev/VG/LV form), /boot a new ext4 by UUID=.
#   fedora40luks    Fedora's default encrypted install without LVM: GPT,
#                   sda1 ESP and sda2 /boot (fedora40's), sda3 LUKS2
#                   (argon2i, 4096-byte sectors) with fedora40's root ext4
#                   directly inside; fstab unchanged (UUID= of the ext4),
#                   /etc/crypttab "luks-UUID UUID=UUID none discard".
#
# The ciphertext is written by luks.sh (qemu's luks driver for LUKS1,
# cryptsetup's offline encryption for LUKS2), the LVM metadata by lvm2 on
# loop devices of the plaintext (lvmlib.sh: activation disabled, no
# device-mapper). So the LVM guests need root (losetup); otherwise
# GUEST.skip holds the reason and no image is made (fedora40luks needs
# neither). Files in the root filesystems are replaced with debugfs -w.
# LUKS and PV UUIDs are fixed; the LUKS salts and keys, and lvm2's VG and
# LV UUIDs, are drawn afresh: the images are not byte-reproducible.
set -euo pipefail

out=${1:?usage: luksguests.sh OUTDIR}
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATH=$PATH:/sbin:/usr/sbin
for t in cryptsetup:cryptsetup-bin qemu-img:qemu-utils debugfs:e2fsprogs sfdisk:fdisk mkswap:util-linux; do
	if ! command -v "${t%%:*}" >/dev/null 2>&1; then
		echo "luksguests.sh: ${t%%:*} not found: install the Debian package '${t#*:}'" >&2
		exit 1
	fi
done
for g in debian12 ubuntu2204 fedora40; do
	[ -f "$out/$g.img" ] || { echo "luksguests.sh: $out/$g.img missing: run guests.sh $out first" >&2; exit 1; }
done

export LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-luksguests.XXXXXX")
. "$here/lvmlib.sh"
trap 'lvm_cleanup; rm -rf "$work"' EXIT
lvm_setup

# part IMG N FILE: copy partition N of the disk IMG into FILE.
part() {
	local start size
	read -r start size < <(sfdisk -d "$1" | awk -v n="$2" -F'[=,]' '/ : start=/ { if (++i == n) { print $2 + 0, $4 + 0 } }')
	dd if="$1" of="$3" bs=512 skip="$start" count="$size" conv=sparse status=none
}

# replace FSIMG PATH CONTENT...: PATH in the ext4 image holds the lines.
replace() {
	local fs=$1 path=$2
	shift 2
	printf '%s\n' "$@" >"$work/replace"
	debugfs -w -f - "$fs" >/dev/null 2>"$work/debugfs.err" <<X || { cat "$work/debugfs.err" >&2; exit 1; }
rm $path
write $work/replace $path
X
	if ! debugfs -R "cat $path" "$fs" 2>/dev/null | cmp -s - "$work/replace"; then
		echo "luksguests.sh: $fs: $path was not written" >&2
		exit 1
	fi
}

# mib FILE: its size in MiB, rounded up.
mib() { echo $((($(stat -c %s "$1") + (1 << 20) - 1) >> 20)); }

# lvmplain PLAIN VG PVUUID ROOTFS SWAP_MIB SWAP_UUID: a plaintext file
# holding one PV of VG with LVs "root" (ROOTFS copied in) and "swap_1"
# (mkswap), as the Debian and Ubuntu installers make them (4 MiB extents).
lvmplain() {
	local plain=$1 vg=$2 root=$3 swapmib=$5 rootmib
	rootmib=$(mib "$4")
	rootmib=$(((rootmib + 3) / 4 * 4))
	rm -f "$plain"
	truncate -s $(((rootmib + swapmib + 8) << 20)) "$plain"
	IMGS[1]=$plain
	loop "$plain" 1 0 "$(stat -c %s "$plain")"
	lvm_ pvcreate -q -y --norestorefile --uuid "$3" "$L" >/dev/null
	lvm_ vgcreate -q -s 4M "$vg" "$L" >/dev/null
	lvm_ lvcreate -q -an -Zn -n root -L "${rootmib}M" "$vg" >/dev/null
	lvm_ lvcreate -q -an -Zn -n swap_1 -L "${swapmib}M" "$vg" >/dev/null
	truncate -s "${swapmib}M" "$work/swap"
	mkswap -q -U "$6" -L swap "$work/swap" >/dev/null
	record "$vg" root "$4" "$work/$vg.lvs"
	record "$vg" swap_1 "$work/swap" "$work/$vg.lvs"
	detach
}

# facts FROM GUEST PASS UUID DEVICE LINE...: FROM's facts without its
# devices, then the lines and the encryption.
facts() {
	local from=$1 g=$2 pass=$3 uuid=$4 dev=$5
	shift 5
	{
		grep -v -e '^root=' -e '^mount=' "$out/$from.facts"
		printf '%s\n' "$@"
		echo "luks_uuid=$uuid"
		echo "luks_device=$dev"
		echo "passphrase=$pass"
	} >"$out/$g.facts"
	rm -f "$out/$g.skip"
	echo "wrote $out/$g.img"
}

lvmskip=""
if [ "$(id -u)" != 0 ]; then
	lvmskip="not root: lvm2 needs a loop device of the plaintext to write the PV (lvmlib.sh)"
elif ! command -v pvcreate >/dev/null 2>&1 || ! command -v losetup >/dev/null 2>&1; then
	lvmskip="pvcreate or losetup not found (Debian lvm2, mount)"
fi

############ debian12luks
g=debian12luks pass='debian Tr0ub4dor&3' uuid=0b1e1c00-0000-4000-8000-000000000001
if [ -n "$lvmskip" ]; then
	echo "$lvmskip" >"$out/$g.skip"
	echo "luksguests.sh: skipping $g: $lvmskip" >&2
else
	part "$out/debian12.img" 1 "$work/$g-boot"
	part "$out/debian12.img" 2 "$work/$g-root"
	replace "$work/$g-root" /etc/fstab \
		"# /etc/fstab: static file system information." \
		"/dev/mapper/debian--vg-root /               ext4    errors=remount-ro 0       1" \
		"# /boot was on /dev/sda1 during installation" \
		"LABEL=debboot               /boot           ext4    defaults        0       2" \
		"/dev/mapper/debian--vg-swap_1 none          swap    sw              0       0"
	replace "$work/$g-root" /etc/crypttab "sda2_crypt UUID=$uuid none luks,discard"
	lvmplain "$work/$g-plain" debian-vg LVMtst-0000-0000-0000-0000-0000-dlukpv "$work/$g-root" 8 0b1e5a00-0000-4000-8000-000000000001
	printf '%s\n' "$pass" | bash "$here/luks.sh" luks2 "$work/$g-plain" "$work/$g-luks" --uuid "$uuid" \
		-c aes-xts-plain64 -s 512 --pbkdf argon2id --pbkdf-memory 32 --pbkdf-force-iterations 4 >/dev/null
	rm -f "$out/$g.img"
	bootmib=$(mib "$work/$g-boot") lmib=$(mib "$work/$g-luks")
	truncate -s $(((bootmib + lmib + 2) << 20)) "$out/$g.img"
	printf 'label: dos\nlabel-id: 0x0b1e1c01\nunit: sectors\nstart=2048, size=%d, type=83, bootable\nstart=%d, size=%d, type=83\n' \
		$((bootmib * 2048)) $((2048 + bootmib * 2048)) $((lmib * 2048)) | sfdisk -q "$out/$g.img" >/dev/null
	dd if="$work/$g-boot" of="$out/$g.img" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$work/$g-luks" of="$out/$g.img" bs=1M seek=$((1 + bootmib)) conv=notrunc,sparse status=none
	facts debian12 $g "$pass" $uuid /dev/sda2 "root=/dev/debian-vg/root" "mount=/boot /dev/sda1"
fi

############ ubuntu2204luks
g=ubuntu2204luks pass='ubuntu correct horse battery staple' uuid=0b1e1c00-0000-4000-8000-000000000002
if [ -n "$lvmskip" ]; then
	echo "$lvmskip" >"$out/$g.skip"
	echo "luksguests.sh: skipping $g: $lvmskip" >&2
else
	part "$out/ubuntu2204.img" 1 "$work/$g-root"
	replace "$work/$g-root" /etc/fstab \
		"# /etc/fstab: static file system information." \
		"/dev/vgubuntu/root /               ext4    errors=remount-ro 0       1" \
		"# /boot was on /dev/sda1 during installation" \
		"UUID=0b1e6c00-0000-4000-8000-0000000000b1 /boot ext4 defaults 0 2" \
		"/dev/vgubuntu/swap_1 none            swap    sw              0       0"
	replace "$work/$g-root" /etc/crypttab "sda2_crypt UUID=$uuid none luks,discard"
	# ubuntu2204's tree has no /boot: the mount point /boot needs one.
	debugfs -w -R "mkdir /boot" "$work/$g-root" 2>/dev/null
	debugfs -R "stat /boot" "$work/$g-root" 2>/dev/null | grep -q 'Type: directory' ||
		{ echo "luksguests.sh: $g: no /boot directory made" >&2; exit 1; }
	mkdir -p "$work/$g-boottree/grub"
	echo "phony kernel" >"$work/$g-boottree/vmlinuz-5.15.0-105-generic"
	find "$work/$g-boottree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	truncate -s 8M "$work/$g-boot"
	mkfs.ext4 -q -F -b 4096 -U 0b1e6c00-0000-4000-8000-0000000000b1 -L ubuntuboot \
		-E root_owner=0:0,hash_seed=0b1e6c00-0000-4000-8000-0000000000ff -d "$work/$g-boottree" "$work/$g-boot"
	lvmplain "$work/$g-plain" vgubuntu LVMtst-0000-0000-0000-0000-0000-ulukpv "$work/$g-root" 8 0b1e5a00-0000-4000-8000-000000000002
	printf '%s\n' "$pass" | bash "$here/luks.sh" luks1 "$work/$g-plain" "$work/$g-luks" --uuid "$uuid" \
		-c aes-cbc-essiv:sha256 -s 256 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null
	rm -f "$out/$g.img"
	bootmib=$(mib "$work/$g-boot") lmib=$(mib "$work/$g-luks")
	truncate -s $(((bootmib + lmib + 2) << 20)) "$out/$g.img"
	printf 'label: dos\nlabel-id: 0x0b1e1c02\nunit: sectors\nstart=2048, size=%d, type=83, bootable\nstart=%d, size=%d, type=83\n' \
		$((bootmib * 2048)) $((2048 + bootmib * 2048)) $((lmib * 2048)) | sfdisk -q "$out/$g.img" >/dev/null
	dd if="$work/$g-boot" of="$out/$g.img" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$work/$g-luks" of="$out/$g.img" bs=1M seek=$((1 + bootmib)) conv=notrunc,sparse status=none
	facts ubuntu2204 $g "$pass" $uuid /dev/sda2 "root=/dev/vgubuntu/root" "mount=/boot /dev/sda1"
fi

############ fedora40luks
g=fedora40luks pass='fedora-s3cret!' uuid=0b1e1c00-0000-4000-8000-000000000003
part "$out/fedora40.img" 1 "$work/$g-esp"
part "$out/fedora40.img" 2 "$work/$g-boot"
part "$out/fedora40.img" 3 "$work/$g-root"
replace "$work/$g-root" /etc/crypttab "luks-$uuid UUID=$uuid none discard"
printf '%s\n' "$pass" | bash "$here/luks.sh" luks2 "$work/$g-root" "$work/$g-luks" --uuid "$uuid" \
	-c aes-xts-plain64 -s 512 --sector-size 4096 --pbkdf argon2i --pbkdf-memory 32 --pbkdf-force-iterations 4 >/dev/null
esp=C12A7328-F81F-11D2-BA4B-00A0C93EC93B linuxfs=0FC63DAF-8483-4772-8E79-3D69D8477DE4
lmib=$(mib "$work/$g-luks")
rm -f "$out/$g.img"
truncate -s $(((16 + 16 + lmib + 2) << 20)) "$out/$g.img"
printf 'label: gpt\nlabel-id: 0B1E1C00-0000-4000-8000-0000000D1C30\nunit: sectors\nfirst-lba: 2048\n%s\n%s\n%s\n' \
	"start=2048, size=32768, type=$esp, uuid=0B1E1C00-0000-4000-8000-0000000D1C31, name=\"EFI System Partition\"" \
	"start=34816, size=32768, type=$linuxfs, uuid=0B1E1C00-0000-4000-8000-0000000D1C32, name=\"boot\"" \
	"start=67584, size=$((lmib * 2048)), type=$linuxfs, uuid=0B1E1C00-0000-4000-8000-0000000D1C33, name=\"root\"" |
	sfdisk -q "$out/$g.img" >/dev/null
dd if="$work/$g-esp" of="$out/$g.img" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$work/$g-boot" of="$out/$g.img" bs=512 seek=34816 conv=notrunc,sparse status=none
dd if="$work/$g-luks" of="$out/$g.img" bs=512 seek=67584 conv=notrunc,sparse status=none
facts fedora40 $g "$pass" $uuid /dev/sda3 "root=/dev/mapper/luks-$uuid" "mount=/boot /dev/sda2" "mount=/boot/efi /dev/sda1"
