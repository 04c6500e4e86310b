package linux

import "strings"

// hostname reads the guest's hostname the way libguestfs does:
// /etc/hostname, then /etc/HOSTNAME (SUSE), then HOSTNAME= in
// /etc/sysconfig/network (older Red Hat). A fully qualified name is kept
// as written.
func hostname(read readFunc) string {
	for _, p := range []string{"etc/hostname", "etc/HOSTNAME"} {
		if b, ok := read(p); ok {
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
					return l
				}
			}
		}
	}
	if b, ok := read("etc/sysconfig/network"); ok {
		return ParseOSRelease(b)["HOSTNAME"]
	}
	return ""
}
