// Package fat reads FAT12, FAT16 and FAT32 volumes, read-only, and walks
// them for the block map: the boot sector, FSInfo and their FAT32 backups,
// the rest of the reserved area, every FAT copy, the FAT12/16 fixed root
// directory region, and every directory and file reachable from the root,
// each with the exact byte ranges a guest reads when it opens the file or
// lists the directory.
//
// # Why our own reader
//
// github.com/diskfs/go-diskfs maps FAT files correctly (its
// File.GetDiskRanges matches istat), but it is not safe on untrusted
// images (see shared/LIBRARIES.md): a looping cluster chain makes it loop
// forever with growing memory, corrupt FAT12/16 volumes make it panic
// (index out of range), and it refuses FAT32 volumes whose FAT copies
// differ at all, which is common after an unclean unmount. This package
// decodes every structure itself, one file per structure (bpb.go the boot
// sector, fsinfo.go, table.go the FAT and chain following, dirent.go short
// and long-name entries), from Microsoft's fatgen103 and Linux's
// fs/fat; go-diskfs serves only as a cross-check in the tests.
//
// # Metadata entries
//
// Walk first reports bmap.KindMeta entries with bmap.RoleMeta extents: "boot
// sector" (sector 0), on FAT32 "fsinfo", "backup boot sector" and "backup
// fsinfo" (the backup boot sector plus the FSInfo sector number) when the
// boot sector names them inside the reserved area, "reserved sectors" (the
// reserved area's other sectors, when there are any), "FAT 1" ... "FAT n"
// (every copy), and on FAT12/16 "root directory" (the fixed region, also
// reported as the directory "/").
//
// # Files and directories
//
// Extents are whole clusters, as a guest reads them, with bmap.RoleData and
// the offset in the file. A file is mapped for the clusters its size needs
// (ceil(size / cluster size)), as The Sleuth Kit's istat and Linux do: a
// chain longer than that is cut there with a warning (the clusters past
// the size are never read through the file). An empty file has no extents
// (a first cluster on an empty file is reported and not followed). A
// directory's size on disk is 0: Entry.Size is the length of its chain in
// bytes, and every cluster of its chain is mapped (FAT12/16 root: the
// whole region). Entry.Inode is The Sleuth Kit's address of the short
// entry: 2 for the root, else 3 + the entry's index counted in 32-byte
// slots from the first sector after the FATs, so fls and istat can be
// compared directly.
//
// Names: a valid VFAT long name (complete sequence, checksum equal to the
// 8.3 name's) is used; otherwise the 8.3 name, with the NT lower-case
// flags (byte 12) applied to the base and extension, and bytes above 0x7F
// decoded as code page 437 (Linux's default). A long name is decoded from
// UTF-16 with unpaired surrogates, '/' and NUL turned into U+FFFD, so the
// path stays valid UTF-8 and one component per name. Deleted entries,
// volume labels, "." and ".." are skipped; the entry whose first byte is
// 0 ends the directory (fatgen103; Linux reads on past it, Windows and
// The Sleuth Kit do not).
//
// The FAT read is chosen as fsck.fat (dosfstools' read_fat) chooses it:
// the active copy (the first, or the one a FAT32 volume with mirroring
// turned off names) when its first entry is readable and intact (the
// media descriptor with every bit above the low byte set: 0xFF8, 0xFFF8,
// 0x0FFFFFF8 and up), else the first other copy that is, with a warning
// naming both ("FAT 1 at 0x4000: first entry 0x0 is not a media
// descriptor (zeroed or overwritten); using FAT 2 at 0x..."). When mirroring
// is on, Walk compares the other copies with it and warns when they
// differ, saying in how many entries and the first; like fsck.fat, which
// keeps the first FAT when both look intact ("FATs differ but appear to
// be intact. Using first FAT."), the copy read is used whole, never
// entry by entry: a per-entry choice would need a rule fsck.fat does not
// have, and could mix two consistent tables into an inconsistent one.
// Where bytes of the copy read cannot be read (an I/O error), the same
// bytes of another copy are, with a warning. Copies that differ are not
// an error.
//
// # Damage
//
// New fails only when the boot sector is missing or inconsistent, or
// describes a volume larger than the device (*diskerr.FormatError). Any other
// damage is reported through the function given to SetWarn, naming the
// path and the byte offset (of the directory entry, or of the FAT entry
// where a chain goes wrong), and the walk goes on: a chain that loops,
// leads to a free, reserved, bad or out-of-volume cluster, or ends before
// the file's size is cut there and what came before is mapped; a chain
// (a file's or a directory's) that runs into a cluster an earlier chain
// of the walk took (crossed chains) is cut there, as fsck.fat truncates
// the second of two files that share clusters (the walk meets the files
// in the order fsck.fat does on the tests' images, so the same file is
// cut at the same place); a directory reached twice is skipped; a long name with a bad checksum or sequence
// falls back to the 8.3 name. Every chain is bounded by the cluster count
// (a per-chain bitmap detects loops), and the whole walk by a budget of
// four times the clusters, so no image makes it hang or work
// quadratically (a cluster is followed once: every chain marks the
// clusters it takes in one bitmap); memory is bounded by that bitmap and
// a 4 MiB cache of the FAT.
package fat
