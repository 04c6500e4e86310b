#!/usr/bin/env bash
# Installs what building, testing and the demo need, when it is missing:
# Debian packages for the independent tools the tests compare against and
# the tools that build the test images, and the Go modules.
# Usage: scripts/deps.sh [demo|test|bench|libguestfs]
set -euo pipefail
what=${1:-test}

# command -> Debian package
declare -A need=(
  [xz]=xz-utils
)
if [ "$what" != demo ]; then
  need+=(
    [mkfs.ext4]=e2fsprogs [debugfs]=e2fsprogs [dumpe2fs]=e2fsprogs
    [fls]=sleuthkit [istat]=sleuthkit
    [sfdisk]=fdisk [sgdisk]=gdisk
    [qemu-img]=qemu-utils
    [mkfs.vfat]=dosfstools [mcopy]=mtools [mkntfs]=ntfs-3g
    [mkswap]=util-linux [blkid]=util-linux
    [mkfs.xfs]=xfsprogs [mkfs.btrfs]=btrfs-progs [cryptsetup]=cryptsetup-bin [makefs]=makefs
    [xorriso]=xorriso [mkfs.exfat]=exfatprogs
    [/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf [/usr/lib/grub/x86_64-efi/ntfs.mod]=grub-efi-amd64-bin
    [/usr/lib/grub/i386-pc/boot.img]=grub-pc-bin [grub-mkimage]=grub-common [ntfs-3g]=ntfs-3g
    [/usr/bin/time]=time
    [mshowfat]=mtools [ntfscluster]=ntfs-3g [gcc]=gcc
    [/usr/include/ntfs-3g/volume.h]=ntfs-3g-dev
    [qemu-io]=qemu-utils [qemu-nbd]=qemu-utils [nbdinfo]=libnbd-bin [nbdcopy]=libnbd-bin
    [nbdsh]=python3-libnbd [certtool]=gnutls-bin [openssl]=openssl
    [/usr/lib/python3/dist-packages/cryptography]=python3-cryptography
    [qemu-system-x86_64]=qemu-system-x86 [syslinux]=syslinux
    [/usr/lib/syslinux/mbr/mbr.bin]=syslinux-common
    [cpio]=cpio
    [/usr/lib/python3/dist-packages/pyvhdi.cpython-311-x86_64-linux-gnu.so]=python3-libvhdi
    [pvcreate]=lvm2 [losetup]=mount
    [hivexregedit]=libwin-hivex-perl [hivexget]=libhivex-bin [file]=file
    [chromium]=chromium
    [rpmbuild]=rpm [sqlite3]=sqlite3 [gpg]=gpg [db_load]=db5.3-util [db_dump]=db5.3-util
    [virt-inspector]=guestfs-tools [xmllint]=libxml2-utils [depmod]=kmod
    [jq]=jq
    [/usr/include/wimlib.h]=libwim-dev
  )
fi
if [ "$what" = libguestfs ]; then
  # The libguestfs oracle (integration/libguestfs_test.go) boots
  # libguestfs' appliance under TCG for each guest: 10-20 minutes, so
  # `make test` leaves it out (it skips without libguestfs-test-tool) and
  # `make test-libguestfs` runs it.
  need+=([libguestfs-test-tool]=libguestfs-tools)
fi
if [ "$what" = bench ]; then
  need+=([bc]=bc [nbdkit]=nbdkit [fio]=fio [qemu-nbd]=qemu-utils [nbdcopy]=libnbd-bin)
  need+=([python3]=python3 [fallocate]=util-linux [fsstat]=sleuthkit) # bench/bmapscale.sh
fi

missing=()
for cmd in "${!need[@]}"; do
  if [[ $cmd == /* ]]; then
    [ -e "$cmd" ] || missing+=("${need[$cmd]}")
  elif ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
    missing+=("${need[$cmd]}")
  fi
done
# Packages checked by name: the boot image needs the static busybox, and a
# dynamic one may also be at /bin/busybox.
if [ "$what" != demo ]; then
  for pkg in busybox-static; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "deps: installing Debian packages: $pkgs"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# libguestfs' virt-inspector is the oracle for ours (integration/
# libguestfs_test.go). Its appliance builder, supermin, is given Debian's
# kernel package by the test, but lstat's the host's /lib/modules even so:
# a container without one gets the empty directory.
if [ "$what" != demo ] && [ ! -e /lib/modules ] && [ "$(id -u)" -eq 0 ]; then
  mkdir -p /lib/modules
fi

command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
go mod download

if [ "$what" = test ] && ! command -v staticcheck >/dev/null && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  echo "deps: installing staticcheck"
  GOFLAGS= go install honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION:-v0.6.1} || echo "deps: staticcheck could not be installed; make test will skip it" >&2
fi
