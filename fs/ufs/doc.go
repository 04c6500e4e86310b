// Package ufs reads UFS2 and UFS1 filesystems (FreeBSD's root filesystem;
// also NetBSD and OpenBSD), read-only, through io/fs, so that the
// inspector can look inside FreeBSD guests as libguestfs does.
//
// Every structure is decoded here from the layout in FreeBSD's
// sys/ufs/ffs/fs.h (struct fs, cgstart, ino_to_fsba, blksize) and
// sys/ufs/ufs/dinode.h and dir.h, one file per structure: superblock.go,
// inode.go, bmap.go (direct and indirect block pointers), dir.go
// (directory chunks). Only little-endian filesystems are read; a
// big-endian one (sparc64, powerpc) is refused by name. Extended
// attributes, soft-updates journals and snapshots are not read.
//
// Every count and pointer read from the image is checked: a block
// pointer outside the volume is an error naming the inode and the offset
// where the pointer was read, directory records with bad lengths are
// refused, and a file cannot map more blocks than the volume holds.
package ufs
