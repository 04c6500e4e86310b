// Package app holds what the inspector reports for one installed
// application, shared by the package-database readers (inspect/dpkg,
// inspect/apk, inspect/pacman) and the inspector (inspect), and the
// capped file reading they all do on a guest filesystem.
package app

import (
	"fmt"
	"io"
	iofs "io/fs"
)

// Application is one installed package, with libguestfs' fields
// (guestfs_inspect_list_applications2). Empty strings are absent values.
type Application struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Epoch       int    `json:"epoch"`
	Version     string `json:"version,omitempty"`
	Release     string `json:"release,omitempty"`
	// FullVersion is the package's version as its database writes it
	// ("1:4.0.33-1+really4.0.32-1"), where Version and Release are split
	// from it by the ecosystem's rule (dpkg: the revision is after the last
	// hyphen); "" when the database stores them apart.
	FullVersion string `json:"full_version,omitempty"`
	// XMLVersion and XMLRelease, when set, are the split libguestfs makes
	// and its XML shows (dpkg: at the first hyphen), where it differs.
	XMLVersion    string `json:"-"`
	XMLRelease    string `json:"-"`
	Arch          string `json:"arch,omitempty"`
	InstallPath   string `json:"install_path,omitempty"`
	Publisher     string `json:"publisher,omitempty"`
	URL           string `json:"url,omitempty"`
	SourcePackage string `json:"source_package,omitempty"`
	Summary       string `json:"summary,omitempty"`
	Description   string `json:"description,omitempty"`
}

// ReadFile reads the file name of fsys, refusing files longer than limit
// bytes (a guest's files are not trusted to be small).
func ReadFile(fsys iofs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: longer than %d bytes", name, limit)
	}
	return b, nil
}
