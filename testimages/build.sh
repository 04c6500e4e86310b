#!/usr/bin/env bash
# build.sh [OUTDIR] — build the ext test images reproducibly with real tools.
#
# Writes into OUTDIR (default: build/testimages):
#   mbr-ext.img   MBR: sda1 ext2 (1k), sda2 ext3 (4k), sda3 extended,
#                 sda5 ext4 (4k, 10,000-entry htree dir), sda6 ext4 (2k, inline_data)
#   gpt-ext.img   GPT: rootfs ext4 (64bit, metadata_csum, flex_bg), bigalloc ext4,
#                 meta_bg ext4 (1k blocks, many groups), legacy ext2
#   sample.img    the small realistic disk of `make demo` (MBR, /boot ext2, / ext4)
#   *.layout      one line per partition: "DEVICE START_SECTOR SECTORS FSTYPE"
#
# No loop devices, no mount: every filesystem is made as a file with
# mkfs.ext* -d SRCDIR, changed with debugfs -w where a shape needs it
# (fragmentation, xattr blocks, unwritten extents), and copied into the disk
# with dd conv=notrunc at its partition's offset.
#
# Reproducible: fixed UUIDs, labels, hash seeds, disk ids and GUIDs,
# E2FSPROGS_FAKE_TIME and SOURCE_DATE_EPOCH, and every source file's times
# set to the same epoch. Building twice gives byte-identical images.
#
# UPDATE_SAMPLE=1 testimages/build.sh also rewrites testimages/sample.img.xz.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/../build/testimages}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- tools -----------------------------------------------------------------
need() { # need TOOL DEBIAN-PACKAGE
	if ! command -v "$1" >/dev/null 2>&1 && ! [ -x "/sbin/$1" ] && ! [ -x "/usr/sbin/$1" ]; then
		echo "build.sh: $1 not found: install the Debian package '$2' (apt-get install $2)" >&2
		exit 1
	fi
}
PATH=$PATH:/sbin:/usr/sbin
need mkfs.ext2 e2fsprogs
need mkfs.ext3 e2fsprogs
need mkfs.ext4 e2fsprogs
need debugfs e2fsprogs
need e2fsck e2fsprogs
need sfdisk fdisk
need sgdisk gdisk
need truncate coreutils
need dd coreutils
need xz xz-utils

export LC_ALL=C TZ=UTC
export SOURCE_DATE_EPOCH=1700000000
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH E2FSCK_TIME=$SOURCE_DATE_EPOCH
export MKE2FS_CONFIG=/etc/mke2fs.conf
export DEBUGFS_PAGER=__none__ PAGER=cat

# Source trees and filesystem files are made on tmpfs when there is one:
# creating the 10,000 files of /htree takes 3 s on a disk, 0.1 s on tmpfs.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	work=$(mktemp -d /dev/shm/virt-bmap-testimages.XXXXXX)
else
	work=$(mktemp -d "$out/work.XXXXXX")
fi
trap 'rm -rf "$work"' EXIT

# --- helpers ---------------------------------------------------------------

# text N SEED: N bytes of deterministic, non-zero, printable content.
text() {
	local n=$1 seed=$2
	(
		set +o pipefail # yes ends on SIGPIPE
		yes "$seed the quick brown fox jumps over the lazy dog 0123456789" | head -c "$n"
	)
}

# stamp DIR: give every file of the tree the same times (mkfs -d copies them).
stamp() {
	find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# dbg FSIMG CMD...: run debugfs -w commands on a filesystem file, fail on error.
dbgw() {
	local img=$1
	shift
	printf '%s\n' "$@" >"$work/dbg.cmd"
	local log
	log=$(debugfs -w -f "$work/dbg.cmd" "$img" 2>&1)
	if grep -E -i 'error|not found|cannot|could not|no space' <<<"$log" | grep -v '^debugfs 1\.' >/dev/null; then
		echo "build.sh: debugfs on $img failed:" >&2
		echo "$log" >&2
		exit 1
	fi
}

# common_tree DIR: the shapes every filesystem of the test images carries.
common_tree() {
	local d=$1
	mkdir -p "$d/etc" "$d/names" "$d/links" "$d/empty-dir" "$d/sparse" "$d/deep/a/b/c/d"
	echo "testhost" >"$d/etc/hostname"
	text 3000 passwd >"$d/etc/passwd"
	: >"$d/empty-file"
	: >"$d/names/empty too"
	text 100 spaces >"$d/names/a name with spaces"
	text 200 backslash >"$d/names/back\\slash"
	text 50 tab >"$d/names/tab	here"
	text 700 utf8 >"$d/names/ünïcödé-名前"
	text 5000 leaf >"$d/deep/a/b/c/d/leaf"
	# hard links: one inode, three names in two directories
	text 9000 hard >"$d/links/hard1"
	ln "$d/links/hard1" "$d/links/hard2"
	ln "$d/links/hard1" "$d/names/hard3"
	# fast symlink (target inside the inode) and slow symlink (> 60 bytes: a block)
	ln -s ../etc/hostname "$d/links/fast"
	ln -s "../deep/a/b/c/d/$(printf 'very-long-directory-name-%02d/' 1 2 3)leaf-beyond-sixty-bytes" "$d/links/slow"
	ln -s /nowhere "$d/links/dangling"
	# sparse: 8 MiB with two written 4 KiB pieces, and one with a trailing hole
	truncate -s 8M "$d/sparse/two-islands"
	text 4096 island1 | dd of="$d/sparse/two-islands" bs=4096 seek=256 conv=notrunc status=none
	text 4096 island2 | dd of="$d/sparse/two-islands" bs=4096 seek=1500 conv=notrunc status=none
	text 10000 head >"$d/sparse/trailing-hole"
	truncate -s 3M "$d/sparse/trailing-hole"
	truncate -s 1M "$d/sparse/all-hole"
	# files of many sizes around block boundaries
	mkdir -p "$d/sizes"
	local s
	for s in 1 511 512 1023 1024 1025 2047 2048 4095 4096 4097 8192 12288 49152 49153 65536 100000; do
		text "$s" "size$s" >"$d/sizes/f$s"
	done
	# small files to be deleted every other one, so a later file fragments
	mkdir -p "$d/frag"
	local i
	for i in $(seq -w 0 119); do
		text 8192 "piece$i" >"$d/frag/p$i"
	done
}

# fragment FSIMG SIZE: delete every other /frag/pNNN and write /frag/big of
# SIZE bytes with debugfs, so its blocks land in the holes (many extents /
# a long block list).
fragment() {
	local img=$1 size=$2 cmds=() i
	for i in $(seq -w 0 2 119); do
		cmds+=("rm /frag/p$i")
	done
	text "$size" fragmented >"$work/fragsrc"
	cmds+=("write $work/fragsrc /frag/big")
	dbgw "$img" "${cmds[@]}"
}

# xattr_block FSIMG: a file whose extended attribute is too big for the inode,
# so it goes to an external xattr block.
xattr_block() {
	text 700 xattr >"$work/xattr.val"
	dbgw "$1" "ea_set -f $work/xattr.val /etc/passwd user.big"
}

# fix_ctime FSIMG: mke2fs -d copies each source file's ctime, which no tool
# can set on the source tree; rewrite the ctime of every used inode (the
# complement of dumpe2fs's free inode ranges) to SOURCE_DATE_EPOCH.
fix_ctime() {
	local img=$1
	dumpe2fs "$img" 2>/dev/null | awk -v epoch="$SOURCE_DATE_EPOCH" '
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
	debugfs -w -f "$work/ctime.cmd" "$img" >/dev/null 2>"$work/ctime.err" || {
		cat "$work/ctime.err" >&2
		exit 1
	}
}

# mkfs_file TYPE FSIMG SIZE SRCDIR UUID LABEL [MKFS-ARGS...]
mkfs_file() {
	local type=$1 img=$2 size=$3 src=$4 uuid=$5 label=$6
	shift 6
	stamp "$src"
	rm -f "$img"
	"mkfs.$type" -q -F -U "$uuid" -L "$label" \
		-E "root_owner=0:0,hash_seed=$uuid" -d "$src" "$@" "$img" "$size" >/dev/null 2>"$work/mkfs.err" || {
		cat "$work/mkfs.err" >&2
		exit 1
	}
	fix_ctime "$img"
}

# place DISK FSIMG START_SECTOR: copy a filesystem into the disk.
place() {
	dd if="$2" of="$1" bs=512 seek="$3" conv=notrunc,sparse status=none
}

# expect FSIMG WHAT DEBUGFS-CMD REGEX: fail unless debugfs's answer matches,
# so a change in the tools that loses a shape the tests rely on is caught here.
expect() {
	local img=$1 what=$2 cmd=$3 re=$4
	if ! debugfs -R "$cmd" "$img" 2>&1 | grep -E -q -- "$re"; then
		echo "build.sh: $(basename "$img"): expected $what (debugfs -R '$cmd' should match /$re/):" >&2
		debugfs -R "$cmd" "$img" 2>&1 | head -20 >&2
		exit 1
	fi
}

# --- mbr-ext.img -----------------------------------------------------------
build_mbr() {
	local disk=$out/mbr-ext.img
	local s1=2048 n1=32768       # sda1 ext2, 16 MiB, 1 KiB blocks
	local s2=34816 n2=49152      # sda2 ext3, 24 MiB, 4 KiB blocks
	local s3=83968 n3=122880     # sda3 extended, 60 MiB
	local s5=86016 n5=81920      # sda5 ext4, 40 MiB (logical)
	local s6=169984 n6=32768     # sda6 ext4, 16 MiB, 2 KiB blocks, inline_data (logical)
	local total=206848           # 101 MiB

	# sda1: ext2, 1k blocks: indirect, double and triple indirect blocks
	local t=$work/t1
	common_tree "$t"
	text 600000 dind >"$t/dindirect" # > 12+256 blocks: needs the double indirect block
	# triple indirect starts at block 12+256+65536 = 65804 KiB; 66 MiB sparse
	# file with data in the single, double and triple indirect ranges
	truncate -s 66M "$t/tindirect"
	text 1024 tind-a | dd of="$t/tindirect" bs=1024 seek=20 conv=notrunc status=none
	text 2048 tind-b | dd of="$t/tindirect" bs=1024 seek=30000 conv=notrunc status=none
	text 3072 tind-c | dd of="$t/tindirect" bs=1024 seek=65900 conv=notrunc status=none
	printf 'x' >"$t/names/new
line"
	mkfs_file ext2 "$work/p1.fs" 16M "$t" 11111111-0000-4000-8000-000000000001 mbr-ext2 -b 1024 -I 256
	fragment "$work/p1.fs" 400000
	xattr_block "$work/p1.fs"

	# sda2: ext3 (has_journal), 4k blocks, double indirect file (> 4 MiB + 48 KiB)
	t=$work/t2
	common_tree "$t"
	text 5000000 dind >"$t/dindirect"
	mkfs_file ext3 "$work/p2.fs" 24M "$t" 11111111-0000-4000-8000-000000000002 mbr-ext3 -b 4096 -J size=4
	fragment "$work/p2.fs" 300000
	xattr_block "$work/p2.fs"

	# sda5: ext4, 4k blocks: a 10,000-entry htree directory (short names: mke2fs -d
	# inserts into a linear directory, quadratic in its size), extent tree depth >= 1,
	# unwritten extents
	t=$work/t5
	common_tree "$t"
	mkdir -p "$t/htree"
	(cd "$t/htree" && seq -f 'e%05g' 1 10000 | xargs touch)
	printf 'x' >"$t/names/new
line"
	mkfs_file ext4 "$work/p5.fs" 40M "$t" 11111111-0000-4000-8000-000000000005 mbr-ext4 -b 4096 -N 12288
	# mke2fs -d writes linear directories; e2fsck -D rebuilds them with an htree index
	e2fsck -fyD "$work/p5.fs" >"$work/fsck.log" 2>&1 || [ $? -eq 1 ] || {
		cat "$work/fsck.log" >&2
		exit 1
	}
	fragment "$work/p5.fs" 1000000 # ~244 blocks over 60 holes of 2: > 4 extents: depth 1
	xattr_block "$work/p5.fs"
	text 20000 prealloc >"$work/prealloc"
	dbgw "$work/p5.fs" "write $work/prealloc /prealloc" "fallocate /prealloc 5 40"

	# sda6: ext4, 2k blocks, inline_data: small files and directories in the inode
	t=$work/t6
	common_tree "$t"
	mkdir -p "$t/inline/dir1" "$t/inline/dir2/sub"
	local i
	for i in 1 2 3 4 5; do
		text $((i * 11)) "inl$i" >"$t/inline/small$i"
	done
	text 40 in-dir >"$t/inline/dir1/tiny"
	text 150 in-xattr >"$t/inline/dir2/fits-with-xattr-space"
	mkfs_file ext4 "$work/p6.fs" 16M "$t" 11111111-0000-4000-8000-000000000006 mbr-ext4-inline \
		-b 2048 -I 512 -O inline_data
	fragment "$work/p6.fs" 200000

	expect "$work/p1.fs" "a triple indirect block" "stat /tindirect" '\(TIND\):[0-9]+'
	expect "$work/p1.fs" "a double indirect block" "stat /dindirect" '\(DIND\):[0-9]+'
	expect "$work/p1.fs" "an external xattr block" "stat /etc/passwd" '^File ACL: [1-9]'
	expect "$work/p2.fs" "a double indirect block" "stat /dindirect" '\(DIND\):[0-9]+'
	expect "$work/p2.fs" "a journal" "stat <8>" 'Size: [1-9]'
	expect "$work/p5.fs" "an htree index on /htree" "htree /htree" '^Root node dump:'
	expect "$work/p5.fs" "an extent tree of depth 1" "ex /frag/big" '^ *1/ *1 '
	expect "$work/p5.fs" "unwritten extents" "stat /prealloc" '\[u\]\):'
	expect "$work/p5.fs" "a slow symlink" "stat /links/slow" '^\(0\):[0-9]+'
	expect "$work/p5.fs" "a fast symlink" "stat /links/fast" '^Fast link dest:'
	expect "$work/p5.fs" "three links to one inode" "stat /links/hard1" 'Links: 3 '
	expect "$work/p6.fs" "an inline file" "stat /inline/small3" '^Size of inline data: '
	expect "$work/p6.fs" "an inline directory" "stat /inline/dir1" '^Size of inline data: '
	expect "$work/p6.fs" "inline data past i_block" "stat /inline/dir2/fits-with-xattr-space" '^  system.data \([1-9]'

	rm -f "$disk"
	truncate -s $((total * 512)) "$disk"
	sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x5eed0001
unit: sectors

start=$s1, size=$n1, type=83, bootable
start=$s2, size=$n2, type=83
start=$s3, size=$n3, type=5
start=$s5, size=$n5, type=83
start=$s6, size=$n6, type=83
EOF
	place "$disk" "$work/p1.fs" $s1
	place "$disk" "$work/p2.fs" $s2
	place "$disk" "$work/p5.fs" $s5
	place "$disk" "$work/p6.fs" $s6
	cat >"$out/mbr-ext.layout" <<EOF
/dev/sda1 $s1 $n1 ext2
/dev/sda2 $s2 $n2 ext3
/dev/sda5 $s5 $n5 ext4
/dev/sda6 $s6 $n6 ext4
EOF
}

# --- gpt-ext.img -----------------------------------------------------------
build_gpt() {
	local disk=$out/gpt-ext.img
	local s1=2048 n1=65536    # rootfs: ext4 default (64bit, metadata_csum, flex_bg), 32 MiB
	local s2=67584 n2=65536   # bigalloc: ext4, 16 KiB clusters, 32 MiB
	local s3=133120 n3=32768  # metabg: ext4 meta_bg, 1 KiB blocks, 16 MiB (2 groups of 8 MiB -> many)
	local s4=165888 n4=16384  # legacy: ext2, 8 MiB
	local total=184320        # 90 MiB

	local t=$work/g1
	common_tree "$t"
	mkfs_file ext4 "$work/g1.fs" 32M "$t" 22222222-0000-4000-8000-000000000001 gpt-root \
		-b 4096 -O 64bit,metadata_csum,flex_bg
	fragment "$work/g1.fs" 1000000
	xattr_block "$work/g1.fs"

	t=$work/g2
	common_tree "$t"
	mkfs_file ext4 "$work/g2.fs" 32M "$t" 22222222-0000-4000-8000-000000000002 gpt-bigalloc \
		-b 4096 -O bigalloc -C 16384
	fragment "$work/g2.fs" 600000

	t=$work/g3
	common_tree "$t"
	mkfs_file ext4 "$work/g3.fs" 16M "$t" 22222222-0000-4000-8000-000000000003 gpt-metabg \
		-b 1024 -O meta_bg,^resize_inode
	fragment "$work/g3.fs" 300000
	xattr_block "$work/g3.fs"

	t=$work/g4
	common_tree "$t"
	mkfs_file ext2 "$work/g4.fs" 8M "$t" 22222222-0000-4000-8000-000000000004 gpt-ext2 -b 4096
	fragment "$work/g4.fs" 200000

	expect "$work/g1.fs" "64bit, metadata_csum, flex_bg" "features" '64bit.*flex_bg.*metadata_csum'
	expect "$work/g1.fs" "an extent tree of depth 1" "ex /frag/big" '^ *1/ *1 '
	expect "$work/g2.fs" "bigalloc" "features" 'bigalloc'
	expect "$work/g3.fs" "meta_bg" "features" 'meta_bg'
	expect "$work/g4.fs" "an indirect block" "stat /frag/big" '\(IND\):[0-9]+'

	rm -f "$disk"
	truncate -s $((total * 512)) "$disk"
	sgdisk -U 33333333-0000-4000-8000-00000000d15c \
		-n 1:$s1:$((s1 + n1 - 1)) -t 1:8300 -c 1:rootfs -u 1:33333333-0000-4000-8000-000000000001 \
		-n 2:$s2:$((s2 + n2 - 1)) -t 2:8300 -c 2:bigalloc -u 2:33333333-0000-4000-8000-000000000002 \
		-n 3:$s3:$((s3 + n3 - 1)) -t 3:8300 -c 3:metabg -u 3:33333333-0000-4000-8000-000000000003 \
		-n 4:$s4:$((s4 + n4 - 1)) -t 4:8300 -c 4:legacy -u 4:33333333-0000-4000-8000-000000000004 \
		"$disk" >/dev/null
	place "$disk" "$work/g1.fs" $s1
	place "$disk" "$work/g2.fs" $s2
	place "$disk" "$work/g3.fs" $s3
	place "$disk" "$work/g4.fs" $s4
	cat >"$out/gpt-ext.layout" <<EOF
/dev/sda1 $s1 $n1 ext4
/dev/sda2 $s2 $n2 ext4
/dev/sda3 $s3 $n3 ext4
/dev/sda4 $s4 $n4 ext2
EOF
}

# --- sample.img --------------------------------------------------------------
build_sample() {
	local disk=$out/sample.img
	local s1=2048 n1=16384   # /boot ext2, 8 MiB
	local s2=18432 n2=49152  # / ext4, 24 MiB
	local total=67584        # 33 MiB

	local b=$work/sboot
	mkdir -p "$b/grub"
	text 300000 vmlinuz-6.1.0-13-amd64 >"$b/vmlinuz-6.1.0-13-amd64"
	text 120000 initrd >"$b/initrd.img-6.1.0-13-amd64"
	text 4000 config >"$b/config-6.1.0-13-amd64"
	text 30000 systemmap >"$b/System.map-6.1.0-13-amd64"
	cat >"$b/grub/grub.cfg" <<'EOF'
set default=0
set timeout=5
menuentry 'Debian GNU/Linux' {
	linux /vmlinuz-6.1.0-13-amd64 root=LABEL=root ro quiet
	initrd /initrd.img-6.1.0-13-amd64
}
EOF
	mkfs_file ext2 "$work/s1.fs" 8M "$b" 44444444-0000-4000-8000-000000000001 boot -b 1024

	local r=$work/sroot
	mkdir -p "$r"/{bin,sbin,boot,dev,proc,sys,run,tmp,root,home/user,var/log,var/lib/dpkg,usr/bin,usr/lib,usr/share/doc,etc/default,etc/network}
	echo "demo" >"$r/etc/hostname"
	cat >"$r/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
EOF
	echo "12.2" >"$r/etc/debian_version"
	printf 'root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:User,,,:/home/user:/bin/bash\n' >"$r/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$r/etc/group"
	printf 'LABEL=root / ext4 errors=remount-ro 0 1\nLABEL=boot /boot ext2 defaults 0 2\n' >"$r/etc/fstab"
	printf '127.0.0.1 localhost\n127.0.1.1 demo\n' >"$r/etc/hosts"
	printf 'auto lo\niface lo inet loopback\n' >"$r/etc/network/interfaces"
	printf 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n' >"$r/etc/default/grub"
	local f
	for f in bash ls cat cp mv rm mkdir sh grep sed; do
		text $((20000 + ${#f} * 7000)) "bin-$f" >"$r/bin/$f"
	done
	for f in init mount fsck.ext4 modprobe; do
		text 40000 "sbin-$f" >"$r/sbin/$f"
	done
	for f in apt dpkg python3 vim less; do
		text 90000 "usr-$f" >"$r/usr/bin/$f"
	done
	text 600000 libc >"$r/usr/lib/libc.so.6"
	text 6000 copyright >"$r/usr/share/doc/copyright"
	printf 'Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\n' >"$r/var/lib/dpkg/status"
	text 20000 syslog >"$r/var/log/syslog"
	printf 'echo hello\n' >"$r/home/user/.bashrc"
	ln -s bash "$r/bin/rbash"
	ln -s /usr/share/doc/copyright-of-a-package-with-a-rather-long-name-beyond-sixty "$r/usr/share/doc/long-link"
	mkfs_file ext4 "$work/s2.fs" 24M "$r" 44444444-0000-4000-8000-000000000002 root -b 4096 -J size=4

	rm -f "$disk"
	truncate -s $((total * 512)) "$disk"
	sfdisk -q --no-reread --no-tell-kernel "$disk" <<EOF
label: dos
label-id: 0x5eed0003
unit: sectors

start=$s1, size=$n1, type=83, bootable
start=$s2, size=$n2, type=83
EOF
	place "$disk" "$work/s1.fs" $s1
	place "$disk" "$work/s2.fs" $s2
	cat >"$out/sample.layout" <<EOF
/dev/sda1 $s1 $n1 ext2
/dev/sda2 $s2 $n2 ext4
EOF
}

build_mbr
build_gpt
build_sample

# The FAT and NTFS disks have their own scripts (fat.sh, ntfs.sh), each
# usable alone; they write into the same OUTDIR.
# lvm.sh needs root (losetup) and lvm2: it is skipped without them.
for extra in fat ntfs lvm; do
	if [ "$extra" = lvm ] && { [ "$(id -u)" != 0 ] || ! command -v pvcreate >/dev/null 2>&1; }; then
		continue
	fi
	if [ -f "$here/$extra.sh" ]; then
		bash "$here/$extra.sh" "$out"
	fi
done

if [ "${UPDATE_SAMPLE:-}" = 1 ]; then
	xz -9e -T1 -c "$out/sample.img" >"$here/sample.img.xz"
	echo "wrote $here/sample.img.xz ($(stat -c %s "$here/sample.img.xz") bytes)"
fi
echo "built mbr-ext.img gpt-ext.img sample.img in $out"
