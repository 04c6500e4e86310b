package linux

import (
	"regexp"
	"strconv"
	"strings"
)

type readFunc func(name string) ([]byte, bool)

// distroIDs maps os-release's ID (and lsb-release's DISTRIB_ID, lower-cased)
// to libguestfs' distro names.
var distroIDs = map[string]string{
	"alpine": "alpinelinux", "altlinux": "altlinux", "arch": "archlinux",
	"centos": "centos", "debian": "debian", "fedora": "fedora",
	"kali": "kalilinux", "linuxmint": "linuxmint", "mageia": "mageia",
	"ol": "oraclelinux", "opensuse": "opensuse", "opensuse-leap": "opensuse",
	"opensuse-tumbleweed": "opensuse", "rhel": "rhel", "sles": "sles",
	"ubuntu": "ubuntu", "void": "voidlinux", "gentoo": "gentoo",
	"rocky": "rocky", "almalinux": "almalinux", "cirros": "cirros",
	"coreos": "coreos", "frugalware": "frugalware", "buildroot": "buildroot",
	"kylin": "kylin", "neokylin": "neokylin", "openmandriva": "openmandriva",
	"pldlinux": "pldlinux", "scientific": "scientificlinux",
	"slackware": "slackware", "ttylinux": "ttylinux",
}

// osRelease fills info from /etc/os-release, or /usr/lib/os-release when
// the first is absent. It reports whether it found a distribution.
func osRelease(info *Info, read readFunc) bool {
	b, ok := read("etc/os-release")
	if !ok {
		if b, ok = read("usr/lib/os-release"); !ok {
			return false
		}
	}
	m := ParseOSRelease(b)
	d, ok := distroIDs[strings.ToLower(m["ID"])]
	if !ok {
		return false
	}
	info.Distro = d
	info.ProductName = m["PRETTY_NAME"]
	if info.ProductName == "" {
		info.ProductName = m["NAME"]
	}
	info.ProductVariant = m["VARIANT"]
	info.BuildID = m["BUILD_ID"]
	if ma, mi, ok := parseVersion(m["VERSION_ID"]); ok {
		info.MajorVersion, info.MinorVersion = ma, mi
	}
	return true
}

// lsbRelease fills info from /etc/lsb-release (Ubuntu and its
// derivatives before os-release).
func lsbRelease(info *Info, read readFunc) bool {
	b, ok := read("etc/lsb-release")
	if !ok {
		return false
	}
	m := ParseOSRelease(b)
	d, ok := distroIDs[strings.ToLower(m["DISTRIB_ID"])]
	if !ok {
		return false
	}
	info.Distro, info.ProductName = d, m["DISTRIB_DESCRIPTION"]
	if ma, mi, ok := parseVersion(m["DISTRIB_RELEASE"]); ok {
		info.MajorVersion, info.MinorVersion = ma, mi
	}
	return true
}

// releaseFiles are the distributions' own release files, tried in order
// when there is no os-release. Order matters: derivatives keep their
// parent's file too (CentOS and Fedora ship /etc/redhat-release beside
// their own, Ubuntu ships /etc/debian_version), so the more specific file
// comes first.
var releaseFiles = []struct {
	path, distro string
}{
	{"etc/fedora-release", "fedora"},
	{"etc/centos-release", "centos"},
	{"etc/oracle-release", "oraclelinux"},
	{"etc/altlinux-release", "altlinux"},
	{"etc/mageia-release", "mageia"},
	{"etc/redhat-release", "redhat-based"},
	{"etc/alpine-release", "alpinelinux"},
	{"etc/arch-release", "archlinux"},
	{"etc/gentoo-release", "gentoo"},
	{"etc/SuSE-release", "suse-based"},
	{"etc/slackware-version", "slackware"},
	{"etc/debian_version", "debian"},
}

var rhelLike = regexp.MustCompile(`^Red Hat Enterprise Linux`)

func releaseFile(info *Info, read readFunc) {
	for _, r := range releaseFiles {
		b, ok := read(r.path)
		if !ok {
			continue
		}
		line := firstLine(b)
		info.Distro, info.ProductName = r.distro, line
		if r.distro == "redhat-based" && rhelLike.MatchString(line) {
			info.Distro = "rhel"
		}
		if ma, mi, ok := parseVersion(firstVersion(line)); ok {
			info.MajorVersion, info.MinorVersion = ma, mi
		}
		return
	}
}

var versionRE = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

func firstVersion(s string) string { return versionRE.FindString(s) }

// parseVersion reads "12", "22.04", "3.19.1", "9.3" as major and minor
// (further parts ignored, as libguestfs does).
func parseVersion(s string) (major, minor int, ok bool) {
	s = strings.TrimSpace(s)
	ma, rest, _ := strings.Cut(s, ".")
	major, err := strconv.Atoi(ma)
	if err != nil || major < 0 {
		return 0, 0, false
	}
	if rest != "" {
		mi, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(mi); err == nil && n >= 0 {
			minor = n
		}
	}
	return major, minor, true
}
