package linux

import "fmt"

// packaging gives libguestfs' package_format and package_management for a
// distribution (check_package_format and check_package_management in
// libguestfs' inspect-fs.c).
func packaging(distro string, major int) (format, management string) {
	switch distro {
	case "debian", "ubuntu", "linuxmint", "kalilinux":
		return "deb", "apt"
	case "fedora":
		if major >= 22 {
			return "rpm", "dnf"
		}
		return "rpm", "yum"
	case "rhel", "centos", "oraclelinux", "rocky", "almalinux", "scientificlinux", "redhat-based":
		if major >= 8 {
			return "rpm", "dnf"
		}
		return "rpm", "yum"
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

// osinfoID gives the libosinfo short id libguestfs derives
// (guestfs_inspect_get_osinfo): "debian12", "ubuntu22.04", "fedora40",
// "rhel9.3", "alpinelinux3.19", "archlinux". "" when none is known.
func osinfoID(distro string, major, minor int) string {
	switch distro {
	case "debian", "fedora", "mageia":
		if major > 0 {
			return fmt.Sprintf("%s%d", distro, major)
		}
	case "ubuntu":
		return fmt.Sprintf("ubuntu%d.%02d", major, minor)
	case "rhel", "oraclelinux", "rocky", "almalinux":
		id := map[string]string{"rhel": "rhel", "oraclelinux": "ol", "rocky": "rocky", "almalinux": "almalinux"}[distro]
		return fmt.Sprintf("%s%d.%d", id, major, minor)
	case "centos":
		if major >= 8 {
			return fmt.Sprintf("centos-stream%d", major)
		}
		if major == 7 {
			return "centos7.0"
		}
		return fmt.Sprintf("centos%d.%d", major, minor)
	case "alpinelinux":
		return fmt.Sprintf("alpinelinux%d.%d", major, minor)
	case "archlinux":
		return "archlinux"
	case "opensuse":
		if major >= 42 {
			return fmt.Sprintf("opensuse%d.%d", major, minor)
		}
		if major > 0 {
			return fmt.Sprintf("opensuse%d.%d", major, minor)
		}
		return "opensusetumbleweed"
	case "sles":
		if minor == 0 {
			return fmt.Sprintf("sles%d", major)
		}
		return fmt.Sprintf("sles%dsp%d", major, minor)
	case "voidlinux":
		return "voidlinux"
	}
	return ""
}
