/*
Virt-inspector describes the operating systems installed on disk images.

# NAME

virt-inspector - display the operating systems, their versions and
applications on a virtual machine's disk images, without booting anything

# SYNOPSIS

	virt-inspector [-a IMAGE]... [--format raw|xz|qcow2|auto]
	               [--xml | --json | --table] [--no-applications] [-q] [IMAGE]...

# DESCRIPTION

virt-inspector reads the disks of one guest (give every disk of the guest,
in order: the first is /dev/sda, the second /dev/sdb ...), finds every
filesystem on them (in partitions, on a bare disk, in LVM logical volumes
spread over the disks), and looks for the root filesystem of an operating
system on each one that virt-bmap can read (ext2/3/4, FAT, NTFS). For each
root it reports what libguestfs' virt-inspector reports, under the same
names: the root device, name, arch, distro, product_name, product_variant,
major and minor version, package format and manager, hostname, build id,
libosinfo short id, the mount points from /etc/fstab resolved to the
guest's devices (UUID=, LABEL=, PARTUUID=, /dev/disk/by-*, /dev/mapper/VG-LV
and kernel device names of any driver), the filesystems with their type,
label and UUID, and the installed applications.

Linux guests are recognised by /etc/os-release (or /usr/lib/os-release),
/etc/lsb-release, or a distribution's release file; the architecture comes
from the ELF header of /bin/bash, /bin/ls, /bin/sh and their /usr/bin
counterparts. Applications are read from dpkg (/var/lib/dpkg/status), apk
(/lib/apk/db/installed) and pacman (/var/lib/pacman/local). RPM databases
are not read yet: an rpm-based guest is described with no applications.

The images are opened read-only and never written. Nothing is mounted and
no appliance is started, so an inspection takes milliseconds, also on xz
and qcow2 images (read in place, never unpacked).

Problems that were worked around (a filesystem that cannot be opened, an
fstab entry naming a device the guest does not have) are printed on
standard error as warnings. The exit status is 0 when at least one
operating system was found, 1 when none was or an image cannot be read,
2 for a usage error.

# OPTIONS

	-a IMAGE, --add IMAGE
	    A disk image of the guest. Repeat for a guest with several disks.
	    Images may also be given as arguments after the options.
	--format raw|xz|qcow2|auto
	    The images' format. Default auto: found by the file's magic. Another
	    value makes virt-inspector check that every image has that format.
	--xml
	    Write XML (the default), with the element names and order of
	    libguestfs' virt-inspector.rng.
	--json
	    Write the same data as JSON: {"operatingsystems": [...]}; every list
	    is present, empty when there is nothing in it.
	--table
	    Write a summary for a person: one row per operating system, then the
	    filesystems and mount points of each.
	--no-applications
	    Do not read the package databases (the XML then has no
	    <applications> element, as with libguestfs).
	-q
	    Do not print warnings.
	--version
	    Print the version and exit.

libguestfs' -d DOMAIN (libvirt) and -x XPATH query options are not
implemented.

# EXAMPLES

Describe a guest's disk:

	virt-inspector -a debian12.img

The same from a compressed image, as JSON, keeping only the package names:

	virt-inspector --json -a debian12.img.xz | jq -r '.operatingsystems[].applications[].name'

A guest with two disks (an LVM volume group across both), summarised:

	virt-inspector --table -a disk1.qcow2 -a disk2.qcow2

# SEE ALSO

virt-bmap(1), libguestfs' virt-inspector(1) and virt-inspector.rng,
os-release(5), fstab(5), dpkg(1), apk(8), pacman(8).
*/
package main
