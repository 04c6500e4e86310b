// Package btrfs reads btrfs filesystems on one device, read-only, through
// io/fs (per subvolume) and walks them for the block map.
//
// # What is read
//
// The superblock at 64 KiB (magic, crc32c, xxhash64 or sha256 checksum
// verified; blake2b is read unverified with a warning from Walk), the
// bootstrap chunks of its sys_chunk_array, the chunk tree (logical to
// physical map, SINGLE and DUP profiles; DUP is read from its first
// copy), the root tree, and the FS trees of the subvolumes. Every tree
// block is checked before use: checksum, bytenr, fsid (metadata_uuid),
// level against its parent's, item count, item data inside the leaf,
// keys strictly increasing and within the parent's key range, and a
// block met twice in one iteration is a loop. A damaged block is a
// *TreeError naming the tree, the block's logical address and where it
// lies on disk.
//
// Files: INODE_ITEM, directories through DIR_INDEX (listing) and
// DIR_ITEM (lookup by name hash), symbolic links (inline extents),
// EXTENT_DATA inline, regular and preallocated (reading as zeros), holes
// (explicit or, with no-holes, implicit), and compressed extents: zlib
// (a zlib stream per extent), zstd (one frame per extent, zero-padded to
// the sector) and LZO in btrfs' segmented framing, decoded by our own
// LZO1X decompressor (lzo1xDecompress).
//
// # Subvolumes
//
// Subvolumes lists them with their paths from the top level ("root",
// "@/.snapshots/1/snapshot"), from ROOT_BACKREF items and the INODE_REFs
// of the directories holding them. Subvolume(id) serves one subvolume
// through io/fs as mounting it with subvolid= would; *FS's own io/fs
// methods serve the default subvolume (the root tree's "default" entry,
// btrfs subvolume set-default), as a mount without subvol= does. Nested
// subvolumes appear as directories of their parent and are entered; a
// snapshot's stale entry for a subvolume nested in its source is an
// empty directory, as the kernel shows it.
//
// # Not read
//
// Multi-device filesystems (ErrMultiDevice names the missing device
// ids), RAID profiles (ErrProfile names the profile), encrypted extents
// (ErrUnsupported), the log tree's unreplayed changes (its blocks are
// mapped by Walk, its items are not applied), extended attributes, and
// the data checksums of the csum tree.
//
// Every count and size read from the image is capped: items per block
// by the node size, extents per file, directory entries, compressed
// extents at 128 KiB, inline extents at 64 KiB, path steps and symbolic
// link hops, subvolume nesting.
package btrfs
