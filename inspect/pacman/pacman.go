// Package pacman lists the packages installed on an Arch guest from
// pacman's local database: one directory per package under
// /var/lib/pacman/local, each with a desc file of "%FIELD%" headers
// followed by value lines (parse_desc.go). Written here because the
// format is a few lines to read.
package pacman

import (
	"fmt"
	iofs "io/fs"
	"path"
	"sort"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// LocalDir is pacman's local database, relative to the root.
const LocalDir = "var/lib/pacman/local"

// Caps on what is read from the guest.
const (
	MaxDesc     = 1 << 20 // bytes of one desc file
	MaxPackages = 1 << 17 // package directories read
)

// Installed returns the packages of the guest whose root is fsys, sorted by
// name. A desc file that cannot be read is reported through warn (may be
// nil) and skipped.
func Installed(fsys iofs.FS, warn func(error)) ([]app.Application, error) {
	apps := []app.Application{}
	ents, err := iofs.ReadDir(fsys, LocalDir)
	if err != nil {
		return apps, fmt.Errorf("pacman: %w", err)
	}
	for i, e := range ents {
		if i >= MaxPackages {
			return apps, fmt.Errorf("pacman: %s: more than %d entries", LocalDir, MaxPackages)
		}
		if !e.IsDir() {
			continue
		}
		name := path.Join(LocalDir, e.Name(), "desc")
		b, err := app.ReadFile(fsys, name, MaxDesc)
		if err != nil {
			if warn != nil {
				warn(fmt.Errorf("pacman: %w", err))
			}
			continue
		}
		if a, ok := ParseDesc(b); ok {
			apps = append(apps, a)
		}
	}
	sort.SliceStable(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps, nil
}
