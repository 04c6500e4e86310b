// Package dpkg lists the packages installed on a Debian-family guest from
// dpkg's database, /var/lib/dpkg/status (parse_status.go). It is a small
// RFC 822-style stanza parser written here: the file format is simple and
// the libraries that read it pull in far more than we need.
package dpkg

import (
	"fmt"
	iofs "io/fs"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// StatusPath is dpkg's database of package states, relative to the root.
const StatusPath = "var/lib/dpkg/status"

// MaxStatus caps the bytes of the status file read (a full desktop
// install is about 5 MiB).
const MaxStatus = 64 << 20

// Installed returns the packages dpkg records as installed on the guest
// whose root filesystem is fsys, sorted by name then architecture.
func Installed(fsys iofs.FS) ([]app.Application, error) {
	b, err := app.ReadFile(fsys, StatusPath, MaxStatus)
	if err != nil {
		return []app.Application{}, fmt.Errorf("dpkg: %w", err)
	}
	return ParseStatus(b), nil
}
