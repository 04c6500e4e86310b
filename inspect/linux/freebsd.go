package linux

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"strings"
)

// FreeBSD is inspected here too: libguestfs reads it through the same
// files as Linux (daemon/inspect_fs_unix.ml, check_freebsd_root), and the
// helpers (links followed within the root, ELF architecture, fstab) are
// this package's.

// IsFreeBSDRoot is libguestfs' FreeBSD root test: /etc and /bin
// directories, /etc/freebsd-update.conf and /etc/fstab files. libguestfs
// tries it before the Linux one, and so must the caller: a FreeBSD root
// also passes IsRoot.
func IsFreeBSDRoot(fsys iofs.FS) bool {
	for _, d := range []string{"etc", "bin"} {
		if fi, err := iofs.Stat(fsys, d); err != nil || !fi.IsDir() {
			return false
		}
	}
	return isFile(fsys, "etc/freebsd-update.conf") && isFile(fsys, "etc/fstab")
}

// InspectFreeBSD reads a FreeBSD root as libguestfs does: the product
// name is the first line of /etc/motd ("FreeBSD 13.2-RELEASE ...") and
// the version the first "N.M" (or "N") in it; the hostname is rc.conf's
// hostname=; the architecture and fstab are read as for Linux. FreeBSD
// has no package format libguestfs knows, so none is reported.
func InspectFreeBSD(fsys iofs.FS, warn func(error)) (*Info, error) {
	if warn == nil {
		warn = func(error) {}
	}
	read := func(name string) ([]byte, bool) {
		b, err := readFile(fsys, name)
		if err != nil {
			if !errors.Is(err, iofs.ErrNotExist) {
				warn(fmt.Errorf("freebsd: %w", err))
			}
			return nil, false
		}
		return b, true
	}
	info := &Info{Distro: "freebsd", Fstab: []FstabEntry{}}
	if b, ok := read("etc/motd"); ok {
		if line := firstLine(b); line != "" {
			info.ProductName = line
			if ma, mi, ok := parseVersion(firstVersion(line)); ok {
				info.MajorVersion, info.MinorVersion = ma, mi
			}
		}
	}
	// libguestfs: "%s%d.%d" for the BSDs, whatever the version.
	info.OSInfo = fmt.Sprintf("freebsd%d.%d", info.MajorVersion, info.MinorVersion)
	if b, ok := read("etc/rc.conf"); ok {
		info.Hostname = rcConfHostname(string(b))
	}
	info.Arch = arch(fsys, warn)
	if b, ok := read("etc/fstab"); ok {
		info.Fstab = ParseFstab(b)
	}
	return info, nil
}

// rcConfHostname returns the value of the first hostname= line of an
// rc.conf, unquoted as libguestfs unquotes it ("x", 'x' or x).
func rcConfHostname(s string) string {
	for _, line := range strings.Split(s, "\n") {
		v, ok := strings.CutPrefix(line, "hostname=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			return v[1 : len(v)-1]
		}
		return v
	}
	return ""
}
