#!/bin/bash
# Builds the btrfs images that need the kernel: subvolumes, snapshots,
# set-default, compressed extents, preallocated extents and holes.
# btrfs-progs 6.2 (Debian 12) has no mkfs.btrfs --subvol nor --compress,
# so these are made by mounting a loop device (run as root, once; the
# images are committed). Images that mkfs.btrfs --rootdir can make
# (node sizes, profiles, big directories) are built by the tests
# themselves. Beside each image: `btrfs subvolume list` and
# get-default as the kernel reports them, the oracle for
# (*FS).Subvolumes and DefaultSubvolume.
set -euo pipefail
cd "$(dirname "$0")"
export TZ=UTC LC_ALL=C

mnt=$(mktemp -d)
trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT

# gen N SEED: N deterministic pseudo-random bytes.
gen() { python3 -c "import random,sys; r=random.Random($2); sys.stdout.buffer.write(r.randbytes($1))"; }
# text N: N bytes of compressible text.
text() { python3 -c "import sys; s=''.join('line %d of some compressible text\n' % i for i in range($1//20+1)); sys.stdout.write(s[:$1])"; }

populate() { # DIR: the common tree
  local d=$1
  mkdir -p "$d/etc" "$d/usr/bin" "$d/a/b/c/d/e/f/g" "$d/big-dir" "$d/var/log"
  printf 'NAME="Fedora Linux"\nVERSION="40 (Workstation Edition)"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40 (Workstation Edition)"\n' > "$d/etc/os-release"
  printf 'UUID=5f0b2d1a-7c3e-4b9a-8e21-0c6d4f1a9b37 / btrfs subvol=root,compress=zstd:1 0 0\nUUID=5f0b2d1a-7c3e-4b9a-8e21-0c6d4f1a9b37 /home btrfs subvol=home,compress=zstd:1 0 0\n' > "$d/etc/fstab"
  echo hello > "$d/a/b/c/d/e/f/g/deep.txt"
  for i in $(seq 1 600); do echo "entry $i" > "$d/big-dir/file-$(printf %04d "$i")"; done
  long=$(printf 'L%.0s' $(seq 1 255))
  echo long > "$d/$long"
  ln -s ../etc/os-release "$d/usr/bin/rel-link"
  ln -s /etc/fstab "$d/abs-link"
  ln -s "$(printf 'x%.0s' $(seq 1 1000))" "$d/long-link"
  text 100 > "$d/small.txt"
  text 3000 > "$d/inline-max.txt"
  gen 1048576 1 > "$d/random.bin"
  gen 300000 2 > "$d/odd-size.bin"
  : > "$d/empty"
  # A file with holes: data at 0, 1 MiB and 5 MiB, size 8 MiB.
  gen 4096 3 | dd of="$d/sparse" bs=4096 seek=0 conv=notrunc status=none
  gen 8192 4 | dd of="$d/sparse" bs=4096 seek=256 conv=notrunc status=none
  gen 100 5 | dd of="$d/sparse" bs=1 seek=$((5 << 20)) conv=notrunc status=none
  truncate -s 8M "$d/sparse"
  # Preallocated: 1 MiB allocated, 4 KiB written in the middle.
  fallocate -l 1M "$d/prealloc"
  gen 4096 6 | dd of="$d/prealloc" bs=4096 seek=100 conv=notrunc status=none
  mkfifo "$d/fifo"
  ln "$d/small.txt" "$d/hardlink.txt"
}

# fedora.img: Fedora's layout. Top level holds subvolumes root and home
# (no default set: Fedora mounts subvol=root), root holds a nested
# subvolume var/lib/machines (as systemd makes), and snapshots/root-1 is
# a read-only snapshot of root sharing its extents, taken before
# root/etc/motd was written.
img=fedora.img
rm -f $img; truncate -s 128M $img
mkfs.btrfs -q -f -U 5f0b2d1a-7c3e-4b9a-8e21-0c6d4f1a9b37 -L fedora_localhost-live $img
mount -o loop $img "$mnt"
btrfs -q subvolume create "$mnt/root"
btrfs -q subvolume create "$mnt/home"
populate "$mnt/root"
mkdir -p "$mnt/root/var/lib" "$mnt/home/user"
btrfs -q subvolume create "$mnt/root/var/lib/machines"
echo machine > "$mnt/root/var/lib/machines/m.txt"
echo "user file" > "$mnt/home/user/notes.txt"
mkdir "$mnt/snapshots"
sync
btrfs -q subvolume snapshot -r "$mnt/root" "$mnt/snapshots/root-1"
echo "after the snapshot" > "$mnt/root/etc/motd"
sync
btrfs subvolume list -a -p -u "$mnt" > fedora.subvols
btrfs subvolume get-default "$mnt" > fedora.default
umount "$mnt"

# suse.img: openSUSE's layout with compression. @ is the parent of
# @/home, @/.snapshots and the snapshot @/.snapshots/1/snapshot, which is
# the default subvolume (set-default). Files are written compressed with
# compress-force: zlib, lzo and zstd, each in its own directory,
# including small compressed inline extents. Metadata is single (-m
# single) and the checksum xxhash64, to cover both.
img=suse.img
rm -f $img; truncate -s 128M $img
mkfs.btrfs -q -f -m single --csum xxhash -U 0e5d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c -L suse $img
mount -o loop,compress-force=zlib $img "$mnt"
btrfs -q subvolume create "$mnt/@"
btrfs -q subvolume create "$mnt/@/home"
btrfs -q subvolume create "$mnt/@/.snapshots"
mkdir -p "$mnt/@/.snapshots/1"
for alg in zlib lzo zstd; do
  mount -o remount,compress-force=$alg "$mnt"
  d="$mnt/@/$alg"; mkdir -p "$d"
  text 1500 > "$d/inline.txt"
  text 200000 > "$d/text.txt"
  gen 70000 7 > "$d/random.bin"
  { text 50000; gen 30000 8; text 70000; } > "$d/mixed.txt"
  sync
done
mount -o remount,compress-force=zstd "$mnt"
mkdir -p "$mnt/@/etc"
printf 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nVERSION_ID="20240101"\n' > "$mnt/@/etc/os-release"
sync
btrfs -q subvolume snapshot "$mnt/@" "$mnt/@/.snapshots/1/snapshot"
echo "only in the snapshot" > "$mnt/@/.snapshots/1/snapshot/etc/snapshot-only"
btrfs subvolume set-default "$mnt/@/.snapshots/1/snapshot"
sync
btrfs subvolume list -a -p -u "$mnt" > suse.subvols
btrfs subvolume get-default "$mnt" > suse.default
umount "$mnt"

for img in fedora.img suse.img; do gzip -9nf $img; done
ls -l ./*.gz
