/*
NAME

	virt-bmap - map every byte range of a disk image to the disk, partition,
	filesystem structure, directory or file that owns it

SYNOPSIS

	virt-bmap [-o OUTPUT] [--format text|json] [-q] [-a IMAGE]... [IMAGE...]

# DESCRIPTION

virt-bmap reads each IMAGE (a raw disk image, a block device, an
xz-compressed image or a qcow2 image with its backing chain; opened
read-only, never written to, never unpacked to disk), finds its partitions (MBR with extended and
logical partitions, GPT) and in each partition the filesystem by its magic,
walks ext2, ext3, ext4, FAT12, FAT16, FAT32 and NTFS filesystems without
mounting them, and writes a block map: for every byte range, the whole disk
(v), the partition (p), the filesystem metadata structure (m: superblocks,
group descriptors, bitmaps, inode tables, journal; boot sectors, FSInfo,
FAT copies, the FAT12/16 root directory region), the directory (d) or the
file (f) that owns it. NTFS system files ($MFT, $MFTMirr, $LogFile,
$Bitmap, $Secure:$SDS, $Extend/...) are files under their NTFS names, as
The Sleuth Kit lists them; named streams are PATH:STREAM; each file's own
MFT records belong to it. Swap, exFAT, XFS, Btrfs, LUKS and ISO9660 are
recognised and mapped as partitions only.

LVM2 physical volumes (a partition or a whole disk) are read for their
label and metadata (mapped as m "LVM label", "LVM metadata area"); once
every IMAGE has been read, the volume groups are put together from the PVs
of all the disks, so a VG spread over several disks is mapped whole. Each
logical volume is an object of type l named /dev/VG/LV, on every disk it
has extents on; the filesystem inside it is walked like any other and its
files are mapped back to the disk offsets through the LV's segments.
Linear and striped LVs are mapped; for mirror and raid1 LVs the first leg
is mapped and the others named in a note; thin pools and volumes,
snapshots and caches are listed with a note and not mapped.

The images are the disks of one guest: the first (-a images first, then
positional ones) is disk 1, /dev/sda, the second disk 2, /dev/sdb, and so on;
partitions are named as Linux names them (/dev/sda1; logical partitions from
/dev/sda5).

The text form (the default) is the one the original virt-bmap wrote, so maps
and scripts made for it keep working. One line per elementary segment and
object covering it:

	1 START END TYPE DEVICE [PATH]

with START and END in lower-case hex without 0x, END exclusive, and a
newline or backslash in PATH written \n, \\. The JSON form has one object per
file, directory, structure or partition, with its inode, size and every
extent: disk offset, length, offset inside the file and role (data, inline,
extent-index, indirect, dindirect, tindirect, xattr, metadata, record;
unwritten extents are marked).

When stderr is a terminal a progress line shows objects mapped per second
and bytes walked. At the end a table shows each partition: device, scheme,
partition type, size, filesystem, label, files, directories and bytes
mapped. Problems that were worked around (a damaged inode, an EBR chain
that loops, a partition running past the end of the image) are printed as
warnings naming the disk, partition, structure and byte offset; the rest of
the map is still written.

An xz image is read in place: only the xz blocks a read needs are
decoded, and decoded blocks are cached (256 MiB at most). A file written by
single-threaded xz is one block, which is decoded forward as the walk goes;
virt-bmap then says once how to recompress it for fast random access
(xz -T0 --block-size=16MiB). A qcow2 image is read as the guest sees it,
unallocated clusters from its backing file (a relative name is found beside
the image naming it) or as zeros; encrypted qcow2 images are refused.

OPTIONS

	-o OUTPUT      write the map to OUTPUT (default "bmap", as the original
	               virt-bmap; "-" for standard output). The file is written
	               under a temporary name and renamed when complete, so a
	               failed run never leaves half a map.
	--format FMT   "text" (default) or "json".
	-q             quiet: no progress line and no summary table (warnings and
	               errors are still printed).
	-a IMAGE       add a disk image, as the virt tools take them
	               (repeatable; "virt-bmap -a d1.img -a d2.img" is
	               "virt-bmap d1.img d2.img").
	--version      print the version and exit.

EXIT STATUS

	0  the map was written (there may have been warnings)
	1  no map was written: an image could not be opened or read, or the
	   output could not be written
	2  bad command line

EXAMPLES

	virt-bmap disk.img                     # writes ./bmap
	virt-bmap -o - disk.img | grep ' f '   # files only
	virt-bmap --format json -o disk.json disk.img data.img
	virt-bmap -o win7.bmap win7.img.xz     # read in place, nothing unpacked
	virt-bmap -o vm.bmap overlay.qcow2     # with its backing chain
	virt-bmap -a d1.img -a d2.img          # two disks; an LV over both

SEE ALSO

	bmaplogger(1), virt-inspector(1), fls(1), istat(1), debugfs(8),
	ntfscluster(8), mshowfat(1), qemu-img(1), xz(1)
*/
package main
