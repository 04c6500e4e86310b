package apk

import (
	"bytes"
	"sort"
	"strings"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// ParseInstalled reads apk's installed database. P is the name, V the
// version ("1.36.1-r15": version 1.36.1, release r15), A the
// architecture, U the URL, T the description, o the origin (source
// package). File lists (F:, R:, Z: ...) are skipped. Records without a
// name are dropped.
func ParseInstalled(b []byte) []app.Application {
	apps := []app.Application{}
	var cur app.Application
	flush := func() {
		if cur.Name != "" {
			apps = append(apps, cur)
		}
		cur = app.Application{}
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		v := string(line[2:])
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			if i := strings.LastIndexByte(v, '-'); i >= 0 {
				// "1.36.1-r15": release "15", without apk's "r", as
				// libguestfs reports it.
				cur.Version, cur.Release = v[:i], strings.TrimPrefix(v[i+1:], "r")
			} else {
				cur.Version = v
			}
		case 'A':
			cur.Arch = v
		case 'U':
			cur.URL = v
		case 'T':
			cur.Description = v
		case 'o':
			cur.SourcePackage = v
		}
	}
	flush()
	sort.SliceStable(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps
}
