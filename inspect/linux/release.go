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
	ma, mi, ok := parseVersion(m["VERSION_ID"])
	if ok {
		info.MajorVersion, info.MinorVersion = ma, mi
	}
	// As libguestfs' parse_os_release: without a version (rolling
	// releases but Void), and for Debian and CentOS, whose VERSION_ID
	// holds only the major number, the release files are read as well
	// and may override what was found here.
	switch {
	case !ok:
		return d == "voidlinux"
	case (d == "debian" || d == "centos") && mi == 0:
		return false
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

// releaseTests are the distributions' own release files, tried in
// libguestfs' order (linux_root_tests in daemon/inspect_fs_unix.ml) when
// os-release and lsb-release do not settle the matter. A test applies
// when its file exists with a non-empty first line: that line becomes the
// product name and the distribution is set; with a pattern, the test is
// settled only if the line matches it (its groups are the major and minor
// versions), else the next test runs; without one, the version is taken
// from the line as far as it goes and the test is settled. Derivatives
// keep their parent's file too (CentOS ships /etc/redhat-release, Ubuntu
// /etc/debian_version), hence the order. /etc/fedora-release and
// /etc/mageia-release are ours (libguestfs reads Fedora from
// redhat-release and Mageia from lsb-release); they say the same.
var releaseTests = []struct {
	path, distro string
	re           *regexp.Regexp
	distroOnly   bool // /etc/arch-release is empty: it only names the distribution
}{
	{path: "etc/oracle-release", distro: "oraclelinux", re: rhelOld("Oracle Linux")},
	{path: "etc/oracle-release", distro: "oraclelinux", re: rhelMinor("Oracle Linux")},
	{path: "etc/oracle-release", distro: "oraclelinux", re: rhelMajor("Oracle Linux")},
	{path: "etc/centos-release", distro: "centos", re: rhelOld("CentOS")},
	{path: "etc/centos-release", distro: "centos", re: rhelMinor("CentOS")},
	{path: "etc/centos-release", distro: "centos", re: rhelMajor("CentOS")},
	{path: "etc/altlinux-release", distro: "altlinux"},
	{path: "etc/fedora-release", distro: "fedora", re: regexp.MustCompile(`Fedora release (\d+)`)},
	{path: "etc/redhat-release", distro: "fedora", re: regexp.MustCompile(`Fedora release (\d+)`)},
	{path: "etc/redhat-release", distro: "rhel", re: rhelOld("Red Hat")},
	{path: "etc/redhat-release", distro: "rhel", re: rhelMinor("Red Hat")},
	{path: "etc/redhat-release", distro: "rhel", re: rhelMajor("Red Hat")},
	{path: "etc/redhat-release", distro: "centos", re: rhelOld("CentOS")},
	{path: "etc/redhat-release", distro: "centos", re: rhelMinor("CentOS")},
	{path: "etc/redhat-release", distro: "centos", re: rhelMajor("CentOS")},
	{path: "etc/redhat-release", distro: "scientificlinux", re: rhelOld("Scientific Linux")},
	{path: "etc/redhat-release", distro: "scientificlinux", re: rhelMinor("Scientific Linux")},
	{path: "etc/redhat-release", distro: "scientificlinux", re: rhelMajor("Scientific Linux")},
	{path: "etc/redhat-release", distro: "redhat-based"},
	{path: "etc/debian_version", distro: "debian"},
	{path: "etc/mageia-release", distro: "mageia"},
	{path: "etc/arch-release", distro: "archlinux", distroOnly: true},
	{path: "etc/gentoo-release", distro: "gentoo"},
	{path: "etc/slackware-version", distro: "slackware"},
	{path: "etc/SuSE-release", distro: "suse-based"},
	{path: "etc/alpine-release", distro: "alpinelinux"},
}

// The three forms of Red Hat-like release lines libguestfs tries, for
// "Red Hat", "CentOS", "Scientific Linux" and "Oracle Linux":
// "... release 4 (Nahant Update 9)", "... release 7.9.2009" and
// "... release 9".
func rhelOld(name string) *regexp.Regexp {
	return regexp.MustCompile(name + `.*release (\d+).*Update (\d+)`)
}

func rhelMinor(name string) *regexp.Regexp {
	return regexp.MustCompile(name + `.*release (\d+)\.(\d+)`)
}

func rhelMajor(name string) *regexp.Regexp { return regexp.MustCompile(name + `.*release (\d+)`) }

func releaseFile(info *Info, read readFunc) {
	// Several tests look at one file (/etc/redhat-release up to eleven
	// times): read each once.
	type file struct {
		b  []byte
		ok bool
	}
	files := map[string]file{}
	for _, r := range releaseTests {
		fl, seen := files[r.path]
		if !seen {
			fl.b, fl.ok = read(r.path)
			files[r.path] = fl
		}
		b, ok := fl.b, fl.ok
		if !ok {
			continue
		}
		if r.distroOnly {
			info.Distro = r.distro
			return
		}
		line := firstLine(b)
		if line == "" {
			continue
		}
		info.Distro, info.ProductName = r.distro, line
		if r.re == nil {
			if ma, mi, ok := parseVersion(firstVersion(line)); ok {
				info.MajorVersion, info.MinorVersion = ma, mi
			}
			return
		}
		m := r.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		major, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		minor := 0
		if len(m) > 2 {
			if minor, err = strconv.Atoi(m[2]); err != nil {
				continue
			}
		}
		info.MajorVersion, info.MinorVersion = major, minor
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
