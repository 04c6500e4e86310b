package dpkg

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// ParseStatus reads a dpkg status file: stanzas of "Field: value" lines
// separated by blank lines, a line starting with a space continuing the
// field before it. Only packages whose Status ends in "installed" are
// kept, as libguestfs does. Malformed lines are skipped.
func ParseStatus(b []byte) []app.Application {
	apps := []app.Application{}
	var cur map[string]string
	var last string
	flush := func() {
		if cur != nil && strings.HasSuffix(cur["status"], " installed") && cur["package"] != "" {
			apps = append(apps, stanza(cur))
		}
		cur, last = nil, ""
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if cur == nil {
			cur = map[string]string{}
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				cur[last] += "\n" + string(line[1:])
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			last = ""
			continue
		}
		last = strings.ToLower(string(k))
		cur[last] = string(bytes.TrimSpace(v))
	}
	flush()
	sort.SliceStable(apps, func(i, j int) bool {
		if apps[i].Name != apps[j].Name {
			return apps[i].Name < apps[j].Name
		}
		return apps[i].Arch < apps[j].Arch
	})
	return apps
}

func stanza(f map[string]string) app.Application {
	a := app.Application{Name: f["package"], Arch: f["architecture"], URL: f["homepage"]}
	a.Epoch, a.Version, a.Release = SplitVersion(f["version"])
	a.FullVersion = f["version"]
	if v, r := libguestfsSplit(f["version"]); v != a.Version {
		a.XMLVersion, a.XMLRelease = v, r
	}
	if src := f["source"]; src != "" {
		a.SourcePackage, _, _ = strings.Cut(src, " ") // "glibc (2.36-9)"
	}
	if d := f["description"]; d != "" {
		sum, rest, _ := strings.Cut(d, "\n")
		a.Summary = sum
		var lines []string
		for _, l := range strings.Split(rest, "\n") {
			if l == "." {
				l = ""
			}
			lines = append(lines, l)
		}
		a.Description = strings.TrimSpace(strings.Join(lines, "\n"))
	}
	return a
}

// SplitVersion splits a Debian version "[epoch:]upstream[-revision]" into
// its parts; the revision is after the last '-'. A bad epoch counts as 0.
func SplitVersion(v string) (epoch int, version, release string) {
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if n, err := strconv.Atoi(e); err == nil && n >= 0 {
			epoch = n
		}
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// libguestfsSplit splits a dpkg version as libguestfs does for its XML
// (daemon/dpkg.ml: the epoch dropped, version and release cut at the FIRST
// hyphen), so that our XML equals its XML: "4.0.33-1+really4.0.32-1" is
// version 4.0.33, release 1+really4.0.32-1, where Debian policy (and our
// JSON) says version 4.0.33-1+really4.0.32, revision 1.
func libguestfsSplit(v string) (version, release string) {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	version, release, _ = strings.Cut(v, "-")
	return version, release
}
