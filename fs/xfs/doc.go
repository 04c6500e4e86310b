// Package xfs reads XFS filesystems, read-only, and walks them for the
// block map: the metadata of every allocation group and every directory,
// file and symbolic link reachable from the root, each with the exact
// byte ranges it owns. RHEL and CentOS 7 and later, Rocky, Alma, Oracle
// Linux and Fedora Server put / and /boot on XFS, so without it the
// inspector finds no OS on those guests.
//
// # Why our own reader
//
// No Go library for XFS was chosen for the project (shared/LIBRARIES.md
// names none); the one pure-Go reader seen (masahiro331/go-xfs-filesystem)
// reads neither version 4 nor block maps for walking, and its structs are
// not used here. Every structure is decoded in this package from the
// layout in the kernel's fs/xfs/libxfs/xfs_format.h and xfs_da_format.h
// and the XFS Algorithms & Data Structures document, one file per
// structure: superblock.go, inode.go, bmap.go (extent records and the
// bmbt), dir.go (shortform directories and directory data blocks),
// symlink.go (remote symbolic link blocks), ag.go (AG headers, short-form
// btrees, inode chunks).
//
// Supported: version 5 (CRCs, checked on every structure read: superblock,
// inodes, bmbt, directory and symbolic link blocks, AGF, AGI, AG btrees),
// with ftype, sparse inodes, bigtime, nrext64, finobt, rmapbt and reflink,
// and version 4 with version 2 directories, with or without ftype. A
// version 5 filesystem with an incompatible feature this package does not
// know (metadir, zoned...) is refused, naming the feature; a bad
// superblock CRC is only a warning, as the kernel's recovery would look at
// the backups.
//
// # Entries and roles
//
// Walk first reports the metadata, as bmap.KindMeta entries with bmap.RoleMeta
// extents: per AG "superblock" (AG 0) or "superblock backup (AG N)", "AG N
// free space header (AGF)", "AG N inode header (AGI)", "AG N free list
// (AGFL)" (one sector each), the blocks of each AG btree ("AG N free space
// btree (by block)", "(by size)", "AG N inode btree", "AG N free inode
// btree", "AG N reverse map btree", "AG N refcount btree") and "AG N
// inodes", the inode chunks the inode btree records (less the holes of
// sparse chunks); then "log" (internal log only), and the realtime bitmap
// and summary and quota inodes' blocks.
//
// Files and directories: data extents are bmap.RoleData with their offset in
// the file (a directory's hash leaf and free-index blocks, 32 GiB and more
// into it, included); unwritten extents have Unwritten set; bmbt blocks
// below the inode are bmap.RoleExtentIndex. Contents held in the inode
// (shortform directories, short symbolic links) are one bmap.RoleInline
// extent at the data fork's bytes inside the inode. Devices, FIFOs and
// sockets are bmap.KindFile entries without extents.
//
// # Damage
//
// New fails only when the superblock is unusable (*diskerr.FormatError). Any
// other damage (a bad inode, bmbt, directory block, AG header or btree, a
// directory loop) is reported through the function given to SetWarn,
// naming the inode or AG, the path and the byte offset, and the walk goes
// on. Every count read from the image is capped and every walk of a tree
// remembers the blocks it visited; a budget of blocks read bounds the work
// of a whole walk.
package xfs
