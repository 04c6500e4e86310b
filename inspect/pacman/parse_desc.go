package pacman

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// ParseDesc reads one package's desc file. %VERSION% is
// "[epoch:]version-release". ok is false when there is no %NAME%.
func ParseDesc(b []byte) (a app.Application, ok bool) {
	var field string
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		l := strings.TrimSuffix(string(line), "\r")
		if l == "" {
			field = ""
			continue
		}
		if len(l) > 2 && l[0] == '%' && l[len(l)-1] == '%' {
			field = l
			continue
		}
		switch field {
		case "%NAME%":
			a.Name = l
		case "%VERSION%":
			v := l
			if e, rest, ok := strings.Cut(v, ":"); ok {
				if n, err := strconv.Atoi(e); err == nil && n >= 0 {
					a.Epoch = n
				}
				v = rest
			}
			if i := strings.LastIndexByte(v, '-'); i >= 0 {
				a.Version, a.Release = v[:i], v[i+1:]
			} else {
				a.Version = v
			}
		case "%DESC%":
			a.Description = l
		case "%URL%":
			a.URL = l
		case "%ARCH%":
			a.Arch = l
		case "%BASE%":
			a.SourcePackage = l
		case "%PACKAGER%":
			a.Publisher = l
		}
		field = "" // each field used here has one line; the rest are ignored
	}
	return a, a.Name != ""
}
