package windows

import "testing"

func TestOSInfo(t *testing.T) {
	for _, tc := range []struct {
		major, minor          int
		variant, build, pname string
		want                  string
	}{
		{5, 1, "", "2600", "Microsoft Windows XP", "winxp"},
		{5, 2, "", "3790", "Microsoft Windows XP", "winxp"},
		{5, 2, "", "3790", "Microsoft Windows Server 2003 R2", "win2k3r2"},
		{5, 2, "", "3790", "Microsoft Windows Server 2003", "win2k3"},
		{6, 0, "Client", "6002", "Windows Vista (TM) Business", "winvista"},
		{6, 0, "Server", "6002", "Windows Server (R) 2008 Standard", "win2k8"},
		{6, 1, "Client", "7601", "Windows 7 Professional", "win7"},
		{6, 1, "Server", "7601", "Windows Server 2008 R2 Standard", "win2k8r2"},
		{6, 2, "Client", "9200", "Windows 8 Pro", "win8"},
		{6, 2, "Server", "9200", "Windows Server 2012 Standard", "win2k12"},
		{6, 3, "Client", "9600", "Windows 8.1 Pro", "win8.1"},
		{6, 3, "Server", "9600", "Windows Server 2012 R2 Standard", "win2k12r2"},
		{10, 0, "Client", "19045", "Windows 10 Pro", "win10"},
		{10, 0, "Client", "21999", "Windows 10 Pro", "win10"},
		{10, 0, "Client", "22000", "Windows 10 Pro", "win11"},
		{10, 0, "Client", "22631", "Windows 10 Enterprise", "win11"},
		{10, 0, "Server", "14393", "Windows Server 2016 Standard", "win2k16"},
		{10, 0, "Server", "17763", "Windows Server 2019 Standard", "win2k19"},
		{10, 0, "Server", "20348", "Windows Server 2022 Standard", "win2k22"},
		{10, 0, "Server Core", "17763", "Windows Server 2019 Datacenter", "win2k19"}, // strstr(variant, "Server")
		{10, 0, "Server", "26100", "Windows Server 2025 Datacenter", "win2k25"},
		{10, 0, "Server", "", "Windows Server 2022 Datacenter", "win2k22"}, // no build needed for a server
		{10, 0, "Server", "26100", "Windows Server Datacenter", "win2k16"}, // no year: libguestfs' fallback
		{6, 1, "Server Core", "7601", "Windows Server 2008 R2 Datacenter", "win2k8r2"},
		{10, 0, "Client", "", "Windows 10 Pro", ""},
		{10, 0, "Client", "19045.1", "Windows 10 Pro", ""},
		{6, 4, "Client", "9841", "Windows 10 Technical Preview", ""},
		{4, 0, "", "1381", "Windows NT", ""},
	} {
		t.Run(tc.want+"/"+tc.pname+"/"+tc.build, func(t *testing.T) {
			if got := OSInfo(tc.major, tc.minor, tc.variant, tc.build, tc.pname); got != tc.want {
				t.Errorf("OSInfo(%d, %d, %q, %q, %q) = %q, want %q", tc.major, tc.minor, tc.variant, tc.build, tc.pname, got, tc.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		err          bool
	}{
		{"6.1", 6, 1, false},
		{"6.3", 6, 3, false},
		{"5", 5, 0, false},
		{" 10.0 ", 10, 0, false},
		{"", 0, 0, true},
		{"six", 0, 0, true},
		{"6.x", 0, 0, true},
		{"-1.0", 0, 0, true},
		{"99999999999.0", 0, 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			ma, mi, err := parseVersion(tc.in)
			if (err != nil) != tc.err || ma != tc.major || mi != tc.minor {
				t.Errorf("parseVersion(%q) = %d, %d, %v", tc.in, ma, mi, err)
			}
		})
	}
}
