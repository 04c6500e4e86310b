package linux

import "fmt"

// packaging gives libguestfs' package_format and package_management for a
// distribution (check_package_format and check_package_management in
// libguestfs' daemon/inspect_fs.ml): Fedora 22 and later says dnf only
// when /usr/bin/dnf is there (hasDNF), yum otherwise; the RHEL family
// dnf from 8, yum from 5, up2date from 2. A Red Hat version that could
// not be read (0) gives no package manager, as there.
func packaging(distro string, major int, hasDNF bool) (format, management string) {
	switch distro {
	case "debian", "ubuntu", "linuxmint", "kalilinux":
		return "deb", "apt"
	case "fedora":
		switch {
		case major >= 22 && hasDNF:
			return "rpm", "dnf"
		case major >= 1:
			return "rpm", "yum"
		}
		return "rpm", ""
	case "rhel", "centos", "oraclelinux", "rocky", "almalinux", "scientificlinux", "redhat-based":
		switch {
		case major >= 8:
			return "rpm", "dnf"
		case major >= 5:
			return "rpm", "yum"
		case major >= 2:
			return "rpm", "up2date"
		}
		return "rpm", ""
	case "opensuse", "sles", "suse-based":
		return "rpm", "zypper"
	case "mageia", "openmandriva":
		return "rpm", "urpmi"
	case "altlinux":
		return "rpm", "apt"
	case "alpinelinux":
		return "apk", "apk"
	case "archlinux":
		return "pacman", "pacman"
	case "gentoo":
		return "ebuild", "portage"
	case "voidlinux":
		return "xbps", "xbps"
	}
	return "", ""
}

// osinfoID gives the libosinfo short id libguestfs derives for a Linux
// guest (guestfs_impl_inspect_get_osinfo in libguestfs'
// lib/inspect-osinfo.c, whose rules are followed one for one): a few
// distributions have their own form ("centos7.0", "ubuntu22.04",
// "sles15sp5", "archlinux"), any other known one with a version is
// DISTRO<major>.<minor> ("rhel9.3", "oraclelinux8.9", "opensuse15.5",
// "alpinelinux3.19"). "" stands for libguestfs' "unknown", which
// virt-inspector leaves out of its XML.
func osinfoID(distro string, major, minor int) string {
	switch distro {
	case "":
		return ""
	case "centos":
		switch {
		case major >= 8:
			return fmt.Sprintf("centos%d", major)
		case major == 7:
			return "centos7.0"
		case major == 6:
			return fmt.Sprintf("centos%d.%d", major, minor)
		}
	case "circle", "rocky":
		if major >= 8 {
			return fmt.Sprintf("%s%d", distro, major)
		}
	case "debian":
		if major >= 4 {
			return fmt.Sprintf("debian%d", major)
		}
	case "fedora", "mageia":
		return fmt.Sprintf("%s%d", distro, major)
	case "sles":
		if minor == 0 {
			return fmt.Sprintf("sles%d", major)
		}
		return fmt.Sprintf("sles%dsp%d", major, minor)
	case "ubuntu":
		return fmt.Sprintf("ubuntu%d.%02d", major, minor)
	case "archlinux", "gentoo", "voidlinux":
		return distro
	case "altlinux":
		if major >= 8 {
			return fmt.Sprintf("alt%d.%d", major, minor)
		}
		return fmt.Sprintf("altlinux%d.%d", major, minor)
	}
	if major > 0 || minor > 0 {
		return fmt.Sprintf("%s%d.%d", distro, major, minor)
	}
	return ""
}
