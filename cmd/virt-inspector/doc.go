/*
Virt-inspector describes the operating systems installed on disk images.

# NAME

virt-inspector - display the operating systems, their versions and
applications on a virtual machine's disk images, without booting anything

# SYNOPSIS

	virt-inspector [OPTION]... -a IMAGE [-a IMAGE]...
	virt-inspector --xpath QUERY < inspector.xml

# DESCRIPTION

virt-inspector reads the disks of one guest (give every disk of the guest,
in order: the first is /dev/sda, the second /dev/sdb ...), finds every
filesystem on them (in partitions, on a bare disk, in LVM logical volumes
spread over the disks, in btrfs subvolumes), and looks for the root
filesystem of an operating system on each one that virt-bmap can read
(ext2/3/4, XFS, btrfs, UFS, FAT, NTFS). For each root it reports what
libguestfs' virt-inspector reports, under the same names and by the same
rules: the root device, name, arch, distro, product_name,
product_variant, major and minor version, package format and manager,
hostname, build id, libosinfo short id, the mount points from /etc/fstab
resolved to the guest's devices (UUID=, LABEL=, PARTUUID=, PARTLABEL=,
/dev/disk/by-*, including an LV's by-id/dm-uuid-LVM-..., /dev/mapper/VG-LV,
btrfs subvol= and subvolid=, and kernel device names of any driver), the
filesystems with their type, label and UUID, the installed applications
and the distribution's icon.

A btrfs filesystem is named by its device for its default subvolume (what
a mount without subvol= shows) and "btrfsvol:DEVICE/PATH" for each other
subvolume, as libguestfs names them: a Fedora root is
btrfsvol:/dev/sda3/root.

Linux guests are recognised by /etc/os-release (or /usr/lib/os-release),
/etc/lsb-release, a distribution's release file, or libguestfs' own test
(/bin and /etc/hosts); as in libguestfs, the release files also settle
what os-release leaves open (CentOS 7's minor version, Debian's point
release). The architecture comes from the ELF header of /bin/bash,
/bin/ls, /bin/sh and their /usr/bin counterparts. Applications are read
from dpkg (/var/lib/dpkg/status), rpm (rpmdb.sqlite, Berkeley DB Packages
and SUSE's ndb Packages.db, in /var/lib/rpm or /usr/lib/sysimage/rpm;
gpg-pubkey entries are left out), apk (/lib/apk/db/installed) and pacman
(/var/lib/pacman/local). Windows guests are recognised by a system root
(/Windows, /WINNT ... or boot.ini's) holding System32/config and cmd.exe,
and described from the SOFTWARE and SYSTEM registry hives: product,
version, build, control set, hostname, drive letters and the programs of
the Uninstall keys, 64- and 32-bit. FreeBSD roots (/etc/freebsd-update.conf
and /etc/fstab) are described as libguestfs does: product and version
from /etc/motd, hostname from /etc/rc.conf, no applications.

The images are opened read-only and never written. Nothing is mounted and
no appliance is started, so an inspection takes milliseconds, also on xz
and qcow2 images (read in place, never unpacked).

Problems that were worked around (a damaged inode, an fstab entry naming
a device the guest does not have) are printed on standard error as
warnings, at most 5 of each kind per device (-v prints all). Devices that
could not be read at all (a filesystem that is recognised but cannot be
opened, an encrypted LUKS volume without a key) are listed on standard
error after the output, even with -q and also when no operating system
is found, and in the JSON form's "problems"; the facts come from the rest
of the disks.

Encrypted disks (LUKS1 and LUKS2, also with LVM inside, as the Debian,
Ubuntu and Fedora installers make them) are read once unlocked with
--key or --keys-from-stdin; without a key the container is listed as a
problem ("/dev/sda2: encrypted volume (LUKS UUID): LUKS container: locked
(no key given)"), and when the OS was inside, the exit status is 1. A
wrong key leaves that container locked (exit status 4 if an OS was found
elsewhere). The names are libguestfs': /dev/mapper/luks-UUID for the
unlocked container, /dev/VG/LV for the logical volumes inside.

# EXIT STATUS

	0  at least one operating system was found, and every device was read
	1  bad command line (getopt's message and "Try 'virt-inspector
	   --help'"), an image that cannot be opened, or no operating system
	   found; with --xpath, also a query that selects no node
	2  with --xpath, a query that is not valid or cannot be evaluated
	4  operating systems were found, but some devices could not be read
	   (listed on standard error)

# OPTIONS

Options and images may come in any order; "--" ends the options; long
options take their value as --opt=VALUE or --opt VALUE. Every option of
libguestfs' virt-inspector is taken:

	-a IMAGE, --add IMAGE
	    A disk image of the guest. Repeat for a guest with several disks.
	    Images may also be given as arguments. An NBD URI reads the
	    export of a running NBD server instead of a file:
	    nbd://HOST[:PORT][/EXPORT], nbd+unix:///EXPORT?socket=PATH,
	    nbds:// and nbds+unix:// (TLS; ?tls-certificates=DIR with
	    ca-cert.pem, client-cert.pem, client-key.pem), libguestfs'
	    nbd://?socket=PATH and qemu's nbd:unix:PATH[:exportname=NAME] or
	    nbd:HOST:PORT.
	--blocksize[=512|4096]
	    Accepted for libguestfs' command lines; the partition tables give
	    the sector size.
	-c URI, --connect URI, -d GUEST, --domain GUEST
	    libvirt is not supported: a clear error says to use -a.
	--echo-keys
	    Echo the passphrase typed at the --keys-from-stdin prompt.
	--format[=raw|xz|qcow2|...]
	    The format of the disks added after it, as libguestfs takes it
	    (--format=qcow2 -a a.qcow2 --format -a b.img: b.img is detected).
	    Default: found by the file's content. A format given is used even
	    when the content says otherwise (an error then says both).
	--key SELECTOR:key:PASSPHRASE, --key SELECTOR:file:FILENAME
	    Unlock the LUKS containers SELECTOR names: a device (/dev/sda2,
	    /dev/vg/lv), a LUKS UUID, or "all". Repeatable.
	--keys-from-stdin
	    Read one passphrase per line from standard input for each LUKS
	    container no --key unlocks, in the order they are found.
	--no-applications, --no-icon
	    See below.
	-v, --verbose
	    Print every warning.
	-V, --version
	    Print the version and exit.
	-x
	    Trace every read of the disks on standard error ("read disk1
	    0x100400 1024"), as libguestfs' -x traces its calls.
	--xpath QUERY
	    See below. With no disk given, the XML is read from standard
	    input: virt-inspector -a d.img | virt-inspector --xpath //hostname.

Also (ours):

	--allow-backing PATH
	    Let an image's chain (a qcow2 backing file...) open PATH although
	    it lies outside the directory of the image naming it.
	--xml
	    Write XML (the default), with the element names and order of
	    libguestfs' virt-inspector.rng.
	--json
	    Write the same data as JSON: {"operatingsystems": [...]}; every list
	    is present, empty when there is nothing in it.
	--table
	    Write a summary for a person: one row per operating system, then the
	    filesystems and mount points of each.
	--xpath QUERY
	    Instead of the XML, print what the XPath 1.0 expression EXPR
	    gives when evaluated on it, exactly as `xmllint --xpath EXPR`
	    (libxml2 2.9.14, Debian 12's) prints it: each node of a
	    node-set serialised as XML on its own line (an element with its
	    content, an attribute as ` name="value"`, a text node as text,
	    "/" as the whole document); a number, a string or a boolean
	    (true, false) on one line, numbers as libxml2 writes them. The
	    context node is the document; with several operating systems
	    the query sees all of them. An empty node-set prints nothing on
	    standard output, "XPath set is empty" on standard error (not
	    with -q), and exits 1; any other result exits 0.

	    The subset of XPath 1.0: absolute and relative paths, //, ., ..,
	    *, @name, every axis but namespace::, text(), node(),
	    comment(), processing-instruction(), predicates ([1],
	    [last()], [position() < 3], [name = "bash"]), unions |,
	    = != < <= > >= with XPath's node-set rules, and, or, + - * div
	    mod, string literals in ' or ", numbers, parentheses, and the
	    functions last, position, count, name, local-name, string,
	    concat, starts-with, contains, substring, substring-before,
	    substring-after, string-length, normalize-space, translate,
	    boolean, not, true, false, number, sum, floor, ceiling, round.
	    Not supported: variables, namespace prefixes, id(), lang(),
	    namespace-uri(). An expression that is not valid is a usage
	    error (exit status 2) saying at which column, found before any
	    image is read; so is a type error found while evaluating, such
	    as count("x"), and a query that would take more than some 50
	    million steps (a guest with thousands of packages allows even
	    quadratic queries). An expression may be at most 8192 bytes.
	    --xpath cannot be combined with --json or --table: the query runs on
	    the XML document, whose names and structure JSON does not have
	    (pipe --json into jq for that).
	--no-applications
	    Do not read the package databases (the XML then has no
	    <applications> element, as with libguestfs).
	--no-icon
	    Do not look for the guest's icon. By default the XML ends each
	    operating system with <icon>, the base64 of a PNG found as
	    libguestfs finds it: /etc/favicon.png, else the distribution's
	    logo (Fedora, RHEL and clones, Debian, Ubuntu, Mageia, openSUSE,
	    Void, ALT). Windows logos, which libguestfs cuts out of
	    explorer.exe with wrestool and netpbm, are not extracted.
	-q, --quiet
	    Do not print warnings (what could not be read is still said).

libguestfs' --xpath option, which libguestfs dropped for `virt-inspector
... | xmllint --xpath EXPR -`, is back, printing what that pipe prints.

# EXAMPLES

Describe a guest's disk:

	virt-inspector -a debian12.img

The same from a compressed image, as JSON, keeping only the package names:

	virt-inspector --json -a debian12.img.xz | jq -r '.operatingsystems[].applications[].name'

A disk behind an NBD server, here nbdkit decompressing an xz image:

	nbdkit -r -U - --filter=xz file disk.img.xz \
	    --run 'virt-inspector --format=raw -a nbd://?socket=$unixsocket'

The version of one package, and the number of packages:

	virt-inspector -a debian12.img --xpath '//application[name="bash"]/version/text()'
	virt-inspector -a debian12.img --xpath 'count(//application)'

Whether the guest is Windows, in a script (exit status 0 or 1):

	if virt-inspector -q -a disk.img --xpath '//operatingsystem[name="windows"]' >/dev/null; then ...

A guest with two disks (an LVM volume group across both), summarised:

	virt-inspector --table -a disk1.qcow2 -a disk2.qcow2

# SEE ALSO

virt-bmap(1), libguestfs' virt-inspector(1) and virt-inspector.rng,
xmllint(1), the XPath 1.0 recommendation (https://www.w3.org/TR/xpath-10/),
os-release(5), fstab(5), dpkg(1), apk(8), pacman(8).
*/
package main
