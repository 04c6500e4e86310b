package windows

import (
	"fmt"
	"strings"
)

// Application is one installed application from an Uninstall key, with
// libguestfs' fields: its name is the key's name (language-independent,
// unlike DisplayName).
type Application struct {
	Name        string // the Uninstall subkey's name
	DisplayName string // DisplayName
	Version     string // DisplayVersion
	Publisher   string // Publisher
	InstallPath string // InstallLocation
	URL         string // URLInfoAbout
	Description string // Comments
	WOW64       bool   // listed under WOW6432Node (a 32-bit application)
}

var uninstallKeys = []struct {
	path  string
	wow64 bool
}{
	{`Microsoft\Windows\CurrentVersion\Uninstall`, false},
	{`WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall`, true},
}

// readApplications lists the applications of a SOFTWARE hive: the
// subkeys of the 64-bit, then the 32-bit Uninstall key, in hive order,
// skipping those without a DisplayName as libguestfs does. A broken
// entry is skipped and reported; the others are still listed.
func readApplications(h *hive) ([]Application, error) {
	apps := []Application{}
	var errs []string
	for _, u := range uninstallKeys {
		k, err := h.open(u.path)
		if err != nil {
			errs = append(errs, u.path+": "+err.Error())
			continue
		}
		if k == nil {
			continue
		}
		subs, err := k.subkeys()
		if err != nil {
			errs = append(errs, u.path+": "+err.Error())
			continue
		}
		for _, s := range subs {
			m, err := s.key.valueMap()
			if err != nil {
				errs = append(errs, u.path+`\`+s.name+": "+err.Error())
				continue
			}
			dn, ok := str(m, "DisplayName")
			if !ok {
				continue
			}
			a := Application{Name: s.name, DisplayName: dn, WOW64: u.wow64}
			a.Version, _ = str(m, "DisplayVersion")
			a.Publisher, _ = str(m, "Publisher")
			a.InstallPath, _ = str(m, "InstallLocation")
			a.URL, _ = str(m, "URLInfoAbout")
			a.Description, _ = str(m, "Comments")
			apps = append(apps, a)
		}
	}
	if len(errs) > 0 {
		return apps, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return apps, nil
}
