/*
NAME

	virt-bmap - map every byte range of a disk image to the disk, partition,
	filesystem structure, directory or file that owns it

SYNOPSIS

	virt-bmap [OPTION]... [-a] IMAGE...

# DESCRIPTION

virt-bmap reads each IMAGE (a raw disk image, a block device, an
xz-compressed image, qcow2, VMDK, VHD, VHDX or VDI with their backing,
parent and extent files, an OVA's disks, or the export of a running NBD
server named by a URI: nbd://HOST[:PORT][/EXPORT],
nbd+unix:///EXPORT?socket=PATH, nbds://, libguestfs' nbd://?socket=PATH,
qemu's nbd:unix:PATH; the format is found by content; opened read-only,
never written to, never unpacked to disk), finds its partitions (MBR with
extended and logical partitions, GPT), LVM volumes and LUKS containers,
and in each device the filesystem by its magic,
walks ext2, ext3, ext4, FAT12, FAT16, FAT32, NTFS, XFS and btrfs (every
subvolume) filesystems without mounting them, and writes a block map: for every byte range, the whole disk
(v), the partition (p), the filesystem metadata structure (m: superblocks,
group descriptors, bitmaps, inode tables, journal; boot sectors, FSInfo,
FAT copies, the FAT12/16 root directory region), the directory (d) or the
file (f) that owns it. NTFS system files ($MFT, $MFTMirr, $LogFile,
$Bitmap, $Secure:$SDS, $Extend/$Quota...) are metadata (m) under their NTFS
names; named streams are PATH:STREAM; each file's own MFT records belong to
it, so a read of a record names the file; a file with hard links has a line
per name; files no directory names any more (a lost directory) appear
under /$OrphanFiles, as The Sleuth Kit shows them. Damage is worked around
as the native tools do: ext's backup superblocks, NTFS's $MFTMirr and
backup boot sector, FAT's second copy. UFS is read (by virt-inspector) but not mapped
file by file yet; swap, exFAT and ISO9660 are recognised and mapped as
partitions only.

The partitions, logical volumes and LUKS containers of all the disks are
found by one volume stack (package volume), the same one bmaplogger and
virt-inspector use, so the three tools name every device alike.

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
warnings naming the disk, partition, structure and byte offset, at most 5
of each kind per device ("... and 8,205 more like this in /dev/sda1"; -v
prints all); the rest of the map is still written.

Each device gets a status, in the JSON map's "volumes" list and, when it
is not complete, in a summary on standard error printed even with -q:

	complete        everything was read and mapped (damage may have been
	                worked around, as fsck would)
	partial         walked, but some objects could not be read (the
	                reasons quote the first problems)
	unreadable      a filesystem was recognised but could not be opened
	not recognised  nothing known was found, and the device is not blank
	not walked      a type that is recognised but not mapped file by file
	locked          a LUKS container without a key
	container       an LVM PV, an unlocked LUKS container, an extended
	                partition: mapped through what is inside
	no filesystem   swap, a BIOS boot or Microsoft reserved partition
	empty           nothing recognised, and the device reads as zeros where
	                sampled (first and last MiB, 64 blocks between)

An xz image is read in place: only the xz blocks a read needs are
decoded, and decoded blocks are cached (256 MiB at most). A file written by
single-threaded xz is one block, which is decoded forward as the walk goes;
virt-bmap then says once how to recompress it for fast random access
(xz -T0 --block-size=16MiB). A qcow2 image is read as the guest sees it,
unallocated clusters from its backing file (a relative name is found beside
the image naming it) or as zeros; encrypted qcow2 images are refused.

# OPTIONS

Options and images may come in any order; "--" ends the options; long
options take their value as --opt=VALUE or --opt VALUE; short options may
be bundled (-qo map).

	-a, --add IMAGE
	    add a disk image, as the virt tools take them (repeatable;
	    "virt-bmap -a d1.img -a d2.img" is "virt-bmap d1.img d2.img").
	--format[=FMT]
	    the input format of the disks added after it, as in libguestfs'
	    tools and the original virt-bmap: raw, xz, qcow2 (and the other
	    formats the image layer reads); --format alone or --format=auto
	    goes back to detecting the format by content (the default).
	    The old "--format json" and "--format text" still select the
	    output form, with a warning: use --json or --text.
	-o, --output OUTPUT
	    write the map to OUTPUT (default "bmap", as the original
	    virt-bmap; "-" for standard output). The file is written under a
	    temporary name and renamed when complete, so a failed run never
	    leaves half a map. A name ending in .json selects the JSON form.
	--json, --text
	    the output form (default: text, or JSON for a .json OUTPUT).
	--key SELECTOR:key:PASSPHRASE, --key SELECTOR:file:FILENAME
	    unlock the LUKS containers SELECTOR names: a device (/dev/sda2,
	    /dev/vg/lv), a LUKS UUID, or "all" (repeatable; as libguestfs).
	--keys-from-stdin
	    read one passphrase per line from standard input for each LUKS
	    container no --key unlocks, in the order they are found (at a
	    terminal: a prompt, without echo).
	--echo-keys
	    echo the passphrase typed at the prompt.
	--allow-backing PATH
	    let an image's chain (a qcow2 backing file, a VMDK extent, a VHD
	    parent) open PATH although it is outside the directory of the
	    image naming it (repeatable). Without it such names are refused:
	    an image cannot make virt-bmap read a file of the host.
	-q, --quiet
	    no progress line and no summary table (warnings, errors and the
	    summary of what could not be mapped are still printed).
	-v, --verbose
	    print every warning (default: the first 5 of each kind per device).
	-x
	    trace every read of the images on standard error
	    ("read disk1 0x100400 1024").
	-V, --version
	    print the version and exit.
	-h, --help
	    print the options and exit.

ENVIRONMENT

	GOGC, GOMEMLIMIT
	    the Go garbage collector's settings. Unless they are set,
	    virt-bmap runs with GOGC=off and a soft memory limit of 900 MiB
	    (half the machine's memory, if that is less): the map stays in memory until it is written, so collections
	    would scan it again and again to free almost nothing (at the
	    default GOGC=100, a fifth of the CPU time of a million-file map);
	    the collector runs only as the heap nears the limit.

EXIT STATUS

	0  the map was written and every device was fully mapped
	1  bad command line, or no map was written: an image could not be
	   opened or read, or the output could not be written
	4  the map was written, but part of the disks could not be mapped (a
	   device whose status is partial, unreadable, not recognised, not
	   walked or locked; the summary on standard error says which), as
	   fsck's 4 says errors were left

EXAMPLES

	virt-bmap disk.img                     # writes ./bmap
	virt-bmap -o - disk.img | grep ' f '   # files only
	virt-bmap --json -o disk.json disk.img data.img
	virt-bmap -o win7.bmap win7.img.xz     # read in place, nothing unpacked
	virt-bmap -o vm.bmap overlay.qcow2     # with its backing chain
	virt-bmap -a d1.img -a d2.img          # two disks; an LV over both
	virt-bmap --key /dev/sda2:key:secret -o m.json enc.img   # LUKS

SEE ALSO

	bmaplogger(1), virt-inspector(1), fls(1), istat(1), debugfs(8),
	ntfscluster(8), mshowfat(1), qemu-img(1), xz(1)
*/
package main
