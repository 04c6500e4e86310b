package windows

import (
	"fmt"
	"strconv"
	"strings"
)

// software is what SOFTWARE\Microsoft\Windows NT\CurrentVersion says.
type software struct {
	ProductName      string
	InstallationType string // "Client", "Server", "Server Core"...
	EditionID        string
	BuildID          string
	Major, Minor     int
}

const currentVersionKey = `Microsoft\Windows NT\CurrentVersion`

// readSoftware reads the product facts from a SOFTWARE hive. As
// libguestfs does, the DWORDs CurrentMajorVersionNumber and
// CurrentMinorVersionNumber (Windows 10 and later, whose CurrentVersion
// stays "6.3") win over CurrentVersion ("6.1").
func readSoftware(h *hive) (software, error) {
	var sw software
	k, err := h.open(currentVersionKey)
	if err != nil {
		return sw, err
	}
	if k == nil {
		return sw, fmt.Errorf("registry key %s not found", currentVersionKey)
	}
	m, err := k.valueMap()
	if err != nil {
		return sw, fmt.Errorf("registry key %s: %w", currentVersionKey, err)
	}
	sw.ProductName, _ = str(m, "ProductName")
	sw.InstallationType, _ = str(m, "InstallationType")
	sw.EditionID, _ = str(m, "EditionID")
	sw.BuildID, _ = str(m, "CurrentBuildNumber")
	major, okMajor := dword(m, "CurrentMajorVersionNumber")
	minor, okMinor := dword(m, "CurrentMinorVersionNumber")
	if okMajor || okMinor {
		sw.Major, sw.Minor = clampInt(major), clampInt(minor)
	} else if cv, ok := str(m, "CurrentVersion"); ok {
		sw.Major, sw.Minor, err = parseVersion(cv)
		if err != nil {
			return sw, fmt.Errorf("registry key %s: CurrentVersion: %w", currentVersionKey, err)
		}
	}
	return sw, nil
}

func clampInt(v uint64) int {
	if v > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(v)
}

// parseVersion parses CurrentVersion, "MAJOR.MINOR" (or "MAJOR").
func parseVersion(s string) (int, int, error) {
	ma, mi, hasMinor := strings.Cut(strings.TrimSpace(s), ".")
	major, err := strconv.ParseUint(ma, 10, 31)
	if err != nil {
		return 0, 0, fmt.Errorf("bad version %q", s)
	}
	var minor uint64
	if hasMinor {
		if minor, err = strconv.ParseUint(mi, 10, 31); err != nil {
			return 0, 0, fmt.Errorf("bad version %q", s)
		}
	}
	return int(major), int(minor), nil
}

// OSInfo returns the libosinfo short id that libguestfs'
// inspect_get_osinfo gives a Windows guest, or "" when it gives none
// ("unknown"). As there, variant is InstallationType and a server is one
// whose variant contains "Server" ("Server", "Server Core"); a 10.0
// server is told apart by the year in its product name, a 10.0 client by
// CurrentBuildNumber (22000 and later is Windows 11).
func OSInfo(major, minor int, variant, build, productName string) string {
	server := strings.Contains(variant, "Server")
	pick := func(srv, client string) string {
		if server {
			return srv
		}
		return client
	}
	switch {
	case major == 5 && minor == 1:
		return "winxp"
	case major == 5 && minor == 2:
		switch {
		case strings.Contains(productName, "XP"):
			return "winxp"
		case strings.Contains(productName, "R2"):
			return "win2k3r2"
		}
		return "win2k3"
	case major == 6 && minor == 0:
		return pick("win2k8", "winvista")
	case major == 6 && minor == 1:
		return pick("win2k8r2", "win7")
	case major == 6 && minor == 2:
		return pick("win2k12", "win8")
	case major == 6 && minor == 3:
		return pick("win2k12r2", "win8.1")
	case major == 10 && minor == 0 && server:
		for _, y := range []struct{ year, id string }{{"2025", "win2k25"}, {"2022", "win2k22"}, {"2019", "win2k19"}} {
			if strings.Contains(productName, y.year) {
				return y.id
			}
		}
		return "win2k16"
	case major == 10 && minor == 0:
		b, err := strconv.ParseUint(build, 10, 32)
		if err != nil {
			return ""
		}
		if b >= 22000 {
			return "win11"
		}
		return "win10"
	}
	return ""
}
