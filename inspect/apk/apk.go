// Package apk lists the packages installed on an Alpine guest from apk's
// database, /lib/apk/db/installed (parse_installed.go): records of
// one-letter "K:value" lines separated by blank lines. Written here
// because the format is a few lines to read.
package apk

import (
	"fmt"
	iofs "io/fs"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// InstalledPath is apk's database, relative to the root.
const InstalledPath = "lib/apk/db/installed"

// MaxInstalled caps the bytes of the database read.
const MaxInstalled = 64 << 20

// Installed returns the packages of the guest whose root is fsys, sorted by
// name.
func Installed(fsys iofs.FS) ([]app.Application, error) {
	b, err := app.ReadFile(fsys, InstalledPath, MaxInstalled)
	if err != nil {
		return []app.Application{}, fmt.Errorf("apk: %w", err)
	}
	return ParseInstalled(b), nil
}
