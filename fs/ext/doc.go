// Package ext reads ext2, ext3 and ext4 filesystems, read-only, and walks
// them for the block map: every metadata structure (superblocks, group
// descriptors, reserved GDT blocks, bitmaps, inode tables, the journal and
// the resize inode) and every directory, file and symbolic link reachable
// from the root, each with the exact byte ranges it owns.
//
// # Why our own reader
//
// github.com/dsoprea/go-ext4, the only other pure-Go ext reader that exposes
// extents, cannot serve (see shared/LIBRARIES.md): it refuses htree
// directories, ext2/ext3 (no flex_bg, block-mapped inodes), inline data,
// meta_bg and fast symlinks; it uses one group descriptor for every inode
// (wrong inodes on any filesystem with more than one group), hard-codes
// 64-byte descriptors, drops the partial last group, and has been
// unmaintained since 2019. go-diskfs' ext4 does not expose extents and
// refuses anything without metadata_csum. This package uses none of
// go-ext4's structs and does not import it: every on-disk structure is
// decoded here, one file per structure (superblock.go, groupdesc.go,
// inode.go, extent.go, blockmap.go, dir.go, inline.go, xattr.go), from the
// layout documented in the kernel's Documentation/filesystems/ext4 and
// e2fsprogs' lib/ext2fs.
//
// # Metadata entries
//
// Walk first reports the metadata, as bmap.KindMeta entries with RoleMeta
// extents, one entry per structure and group: "superblock" (byte 1024 to
// the end of its block; the boot area before it is not the filesystem's),
// "superblock backup (group N)", "group descriptors" (every primary
// descriptor block, including the meta_bg ones placed in each meta
// group), "group descriptors backup (group N)", "reserved GDT blocks" and
// "reserved GDT blocks backup (group N)", "group N block bitmap", "group N
// inode bitmap", "group N inode table" (located through the descriptors,
// so flex_bg packing is followed), then the special inodes whose blocks
// are metadata: "bad blocks" (inode 1), "boot loader" (inode 5), "resize
// inode" (inode 7 with its indirect blocks), "journal" (internal only),
// "quota (user|group|project)" and "orphan file". Backups follow
// sparse_super, sparse_super2 and meta_bg as e2fsprogs places them;
// bigalloc with 1 KiB blocks is handled (block 0 outside group 0's
// superblock).
//
// # Offsets, roles and conventions
//
// Every offset reported is relative to the filesystem's first byte (the
// io.ReaderAt given to New). Data extents (bmap.RoleData, bmap.RoleInline) carry
// the offset in the file; every other extent has FileOff -1.
//
// Block-mapped (ext2/ext3) files: a block of pointers to data blocks is
// bmap.RoleIndirect, a block of pointers to such blocks is bmap.RoleDIndirect,
// and a block of pointers to those is bmap.RoleTIndirect. So the block named
// by i_block[13] is RoleDIndirect and the blocks it points to are
// RoleIndirect; i_block[14] is RoleTIndirect, its children RoleDIndirect,
// their children RoleIndirect. Zero pointers are holes.
//
// Extent-mapped (ext4) files: every tree block below the inode (index and
// leaf nodes) is bmap.RoleExtentIndex. Unwritten extents are mapped with
// Unwritten set. Blocks past i_size that the tree maps (preallocation) are
// mapped too: they belong to the file.
//
// Directories are read as linear directories, block by block, as e2fsck
// and The Sleuth Kit read them; an htree directory's index blocks (dx_root,
// dx_node) are data blocks of the directory and are reported as
// bmap.RoleData. Inline-data files and directories, and fast symbolic links,
// get bmap.RoleInline extents at the inode's own bytes inside the inode table
// (i_block, and the system.data extended attribute's value when used). An
// external extended-attribute block (i_file_acl) is bmap.RoleXattr, and so
// are the blocks of the inodes holding large attribute values (ea_inode),
// which no directory names.
//
// Device nodes, FIFOs and sockets are reported as bmap.KindFile entries with
// no data extents (only an xattr block, if they have one), so that the set
// of paths equals what fls(1) lists.
//
// # Damage
//
// The walk maps everything that can still be read, as e2fsck and debugfs
// read a damaged filesystem, and says what it could not map through the
// function given to SetWarn (each warning names the structure, inode,
// path and byte offset) and through Damage, for a caller's summary:
//
//   - Primary superblock unreadable, with a bad magic, absurd fields or a
//     bad metadata_csum checksum: a backup is looked for (groups 1, 3^n,
//     5^n, 7^n, every group without sparse_super, sparse_super2's two) at
//     the damaged primary's geometry if still plausible, then at mke2fs'
//     default geometry for every block size from 1 to 64 KiB (backup.go),
//     and used; a warning (wrapping ErrBackupSuperblock) says which one,
//     and Damage().PrimarySuperblock, BackupGroup and BackupOff record it.
//     A primary with only a bad checksum and no sound backup is used, with
//     a warning. New fails (*diskerr.FormatError) only when no sound
//     superblock is found.
//   - Group descriptors: a descriptor with a bad checksum or a bitmap or
//     inode table where e2fsck would not accept it is replaced by the same
//     descriptor of the first sound backup copy of the table; without one,
//     what is still plausible is used (all of it when only the checksum is
//     wrong, as e2fsck keeps it) and the rest lost: a lost inode table
//     loses the group's inodes (warned once for the group, wrapping
//     ErrGroupDamaged, then per directory entry naming one), a lost bitmap
//     only its metadata entry (groupdesc.go).
//   - Inodes: a bad extent header, extent, tree block or block pointer
//     loses that part of the inode (at most four warnings an inode, then
//     a count); an inode whose metadata_csum checksum fails is mapped when
//     nothing else in it is wrong and skipped otherwise, as e2fsck decides;
//     an inode of unknown type, out of range or in a lost inode table is
//     skipped. Extent trees deeper than the format's 5 levels are followed
//     (up to 32) where each node is consistent, with a warning.
//   - Directories: a malformed block loses the rest of that block, an
//     unreadable directory its subtree; loops and hard-linked directories
//     are visited once. Walk fails only when the root directory cannot be
//     read (after the metadata was reported), or when fn fails.
//   - A device shorter than the filesystem (a truncated copy, a partition
//     running past the disk's end) is walked as far as it goes: metadata
//     and extents are clamped to the device, structures wholly past its
//     end are left out, and every file or directory whose blocks run past
//     it is reported with the extents that are present and named in one
//     warning wrapping ErrTruncated (counted in Damage().FilesTruncated).
//
// Every count read from the image is capped; the groups kept in memory are
// bounded by the device's size.
package ext
