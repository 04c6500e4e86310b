package linux

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestParseOSRelease(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plain", "ID=debian\nVERSION_ID=12\n", map[string]string{"ID": "debian", "VERSION_ID": "12"}},
		{"quotes", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"` + "\nNAME='Arch Linux'\n",
			map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Arch Linux"}},
		{"escapes", `X="a \"b\" \\c"`, map[string]string{"X": `a "b" \c`}},
		{"comments and junk", "# c\n\nnot a line\n=x\nA B=1\nID=fedora\n", map[string]string{"ID": "fedora"}},
		{"unterminated", `ID="ubuntu`, map[string]string{"ID": "ubuntu"}},
		{"later wins", "ID=a\nID=b\n", map[string]string{"ID": "b"}},
		{"empty", "", map[string]string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseOSRelease([]byte(c.in)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseFstab(t *testing.T) {
	in := "# comment\nUUID=abc / ext4 defaults 0 1\nLABEL=My\\040Disk /mnt/my\\040disk vfat ro\n" +
		"/dev/sdb1 none swap sw 0 0\n   \nbroken\nproc /proc proc defaults # trailing\n"
	want := []FstabEntry{
		{"UUID=abc", "/", "ext4", "defaults"},
		{"LABEL=My Disk", "/mnt/my disk", "vfat", "ro"},
		{"/dev/sdb1", "none", "swap", "sw"},
		{"proc", "/proc", "proc", "defaults"},
	}
	if got := ParseFstab([]byte(in)); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := ParseFstab(nil); got == nil || len(got) != 0 {
		t.Errorf("ParseFstab(nil) = %#v, want empty non-nil", got)
	}
	if got := unescapeOctal(`a\04`); got != `a\04` {
		t.Errorf("short escape: %q", got)
	}
}

func TestELFArch(t *testing.T) {
	hdr := func(class, data byte, machine uint16) []byte {
		h := make([]byte, 20)
		copy(h, "\x7fELF")
		h[4], h[5] = class, data
		if data == 2 {
			h[18], h[19] = byte(machine>>8), byte(machine)
		} else {
			h[18], h[19] = byte(machine), byte(machine>>8)
		}
		return h
	}
	for _, c := range []struct {
		name string
		h    []byte
		want string
		err  bool
	}{
		{"x86_64", hdr(2, 1, 62), "x86_64", false},
		{"i386", hdr(1, 1, 3), "i386", false},
		{"aarch64", hdr(2, 1, 183), "aarch64", false},
		{"ppc64le", hdr(2, 1, 21), "ppc64le", false},
		{"ppc64", hdr(2, 2, 21), "ppc64", false},
		{"s390x", hdr(2, 2, 22), "s390x", false},
		{"riscv64", hdr(2, 1, 243), "riscv64", false},
		{"unknown machine", hdr(2, 1, 9999), "", true},
		{"bad class", hdr(7, 1, 62), "", true},
		{"bad data", hdr(2, 9, 62), "", true},
		{"not ELF", []byte("#!/bin/sh\nexec true\n..."), "", true},
		{"short", []byte("\x7fELF"), "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ELFArch(c.h)
			if got != c.want || (err != nil) != c.err {
				t.Errorf("ELFArch = %q, %v; want %q, error %v", got, err, c.want, c.err)
			}
		})
	}
}

// The host's /bin/dash (or whatever /bin/sh is) is a real ELF file.
func TestELFArchHost(t *testing.T) {
	f, err := os.Open("/bin/sh")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	h := make([]byte, 20)
	if _, err := f.Read(h); err != nil {
		t.Fatal(err)
	}
	if a, err := ELFArch(h); err != nil || a == "" {
		t.Errorf("ELFArch(/bin/sh) = %q, %v", a, err)
	}
}

func TestInspectMapFS(t *testing.T) {
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01")
	elf[18] = 62
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want Info
	}{
		{"debian symlinked os-release", fstest.MapFS{
			"usr/lib/os-release": {Data: []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12\"\n")},
			"etc/os-release":     {Data: []byte("../usr/lib/os-release"), Mode: os.ModeSymlink},
			"etc/debian_version": {Data: []byte("12.7\n")},
			"etc/hostname":       {Data: []byte("\n# c\nhost1\n")},
			"etc/fstab":          {Data: []byte("UUID=x / ext4 defaults 0 1\n")},
			"bin/dash":           {Data: elf},
			"bin/sh":             {Data: []byte("dash"), Mode: os.ModeSymlink},
		}, Info{Distro: "debian", ProductName: "12.7", MajorVersion: 12, MinorVersion: 7, Arch: "x86_64",
			Hostname: "host1", OSInfo: "debian12", PackageFormat: "deb", PackageManagement: "apt",
			Fstab: []FstabEntry{{"UUID=x", "/", "ext4", "defaults"}}}},
		{"rhel release file", fstest.MapFS{
			"etc/redhat-release":    {Data: []byte("Red Hat Enterprise Linux release 9.3 (Plow)\n")},
			"etc/sysconfig/network": {Data: []byte("NETWORKING=yes\nHOSTNAME=rh.example.com\n")},
		}, Info{Distro: "rhel", ProductName: "Red Hat Enterprise Linux release 9.3 (Plow)", MajorVersion: 9,
			MinorVersion: 3, Hostname: "rh.example.com", OSInfo: "rhel9.3", PackageFormat: "rpm",
			PackageManagement: "dnf", Fstab: []FstabEntry{}}},
		{"ubuntu lsb-release", fstest.MapFS{
			"etc/lsb-release": {Data: []byte("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\nDISTRIB_DESCRIPTION=\"Ubuntu 20.04.6 LTS\"\n")},
			"etc/HOSTNAME":    {Data: []byte("u\n")},
		}, Info{Distro: "ubuntu", ProductName: "Ubuntu 20.04.6 LTS", MajorVersion: 20, MinorVersion: 4,
			Hostname: "u", OSInfo: "ubuntu20.04", PackageFormat: "deb", PackageManagement: "apt", Fstab: []FstabEntry{}}},
		{"centos 7: os-release has only the major", fstest.MapFS{
			"etc/os-release":        {Data: []byte("NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n")},
			"etc/centos-release":    {Data: []byte("CentOS Linux release 7.9.2009 (Core)\n")},
			"etc/redhat-release":    {Data: []byte("centos-release"), Mode: os.ModeSymlink},
			"etc/sysconfig/network": {Data: []byte("HOSTNAME=c7\n")},
		}, Info{Distro: "centos", ProductName: "CentOS Linux release 7.9.2009 (Core)", MajorVersion: 7, MinorVersion: 9,
			Hostname: "c7", OSInfo: "centos7.0", PackageFormat: "rpm", PackageManagement: "yum", Fstab: []FstabEntry{}}},
		{"centos stream 9: no minor anywhere", fstest.MapFS{
			"etc/os-release":     {Data: []byte("ID=\"centos\"\nVERSION_ID=\"9\"\nPRETTY_NAME=\"CentOS Stream 9\"\n")},
			"etc/redhat-release": {Data: []byte("CentOS Stream release 9\n")},
		}, Info{Distro: "centos", ProductName: "CentOS Stream release 9", MajorVersion: 9,
			OSInfo: "centos9", PackageFormat: "rpm", PackageManagement: "dnf", Fstab: []FstabEntry{}}},
		{"centos 6 update form", fstest.MapFS{
			"etc/os-release":     {Data: []byte("ID=centos\nVERSION_ID=6\nPRETTY_NAME=CentOS\n")},
			"etc/centos-release": {Data: []byte("CentOS release 6 Update 10 (Final)\n")},
		}, Info{Distro: "centos", ProductName: "CentOS release 6 Update 10 (Final)", MajorVersion: 6, MinorVersion: 10,
			OSInfo: "centos6.10", PackageFormat: "rpm", PackageManagement: "yum", Fstab: []FstabEntry{}}},
		{"fedora without dnf says yum", fstest.MapFS{
			"etc/os-release": {Data: []byte("ID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40\"\n")},
		}, Info{Distro: "fedora", ProductName: "Fedora Linux 40", MajorVersion: 40,
			OSInfo: "fedora40", PackageFormat: "rpm", PackageManagement: "yum", Fstab: []FstabEntry{}}},
		{"fedora with dnf (a link)", fstest.MapFS{
			"etc/os-release": {Data: []byte("ID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40\"\n")},
			"usr/bin/dnf":    {Data: []byte("dnf-3"), Mode: os.ModeSymlink},
			"usr/bin/dnf-3":  {Data: []byte("#!/usr/bin/python3\n")},
		}, Info{Distro: "fedora", ProductName: "Fedora Linux 40", MajorVersion: 40,
			OSInfo: "fedora40", PackageFormat: "rpm", PackageManagement: "dnf", Fstab: []FstabEntry{}}},
		{"rhel 4 update form, up2date", fstest.MapFS{
			"etc/redhat-release": {Data: []byte("Red Hat Enterprise Linux AS release 4 (Nahant Update 9)\n")},
		}, Info{Distro: "rhel", ProductName: "Red Hat Enterprise Linux AS release 4 (Nahant Update 9)", MajorVersion: 4,
			MinorVersion: 9, OSInfo: "rhel4.9", PackageFormat: "rpm", PackageManagement: "up2date", Fstab: []FstabEntry{}}},
		{"link loop", fstest.MapFS{
			"etc/os-release": {Data: []byte("os-release"), Mode: os.ModeSymlink},
			"etc/fstab":      {Data: []byte("")},
		}, Info{Fstab: []FstabEntry{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !IsRoot(c.fs) {
				t.Fatal("IsRoot = false")
			}
			got, err := Inspect(c.fs, func(error) {})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("got  %+v\nwant %+v", *got, c.want)
			}
		})
	}
	if IsRoot(fstest.MapFS{"etc/passwd": {}}) {
		t.Error("IsRoot without release files or fstab = true")
	}
	for name, c := range map[string]struct {
		fs   fstest.MapFS
		want bool
	}{
		"libguestfs' test: /bin and /etc/hosts": {fstest.MapFS{"etc/hosts": {}, "bin/sh": {}}, true},
		"/bin a link to usr/bin":                {fstest.MapFS{"etc/hosts": {}, "bin": {Data: []byte("usr/bin"), Mode: os.ModeSymlink}, "usr/bin/sh": {}}, true},
		"/bin a link elsewhere":                 {fstest.MapFS{"etc/hosts": {}, "bin": {Data: []byte("/usr/bin"), Mode: os.ModeSymlink}, "usr/bin/sh": {}}, false},
		"/etc/hosts without /bin":               {fstest.MapFS{"etc/hosts": {}}, false},
		"/etc/hosts a directory":                {fstest.MapFS{"etc/hosts/x": {}, "bin/sh": {}}, false},
	} {
		if got := IsRoot(c.fs); got != c.want {
			t.Errorf("%s: IsRoot = %v, want %v", name, got, c.want)
		}
	}
}

func TestOSInfo(t *testing.T) {
	for _, c := range []struct {
		distro       string
		major, minor int
		want         string
	}{
		{"debian", 12, 5, "debian12"}, {"ubuntu", 22, 4, "ubuntu22.04"}, {"fedora", 40, 0, "fedora40"},
		{"rhel", 9, 3, "rhel9.3"}, {"alpinelinux", 3, 19, "alpinelinux3.19"}, {"archlinux", 0, 0, "archlinux"},
		{"centos", 7, 9, "centos7.0"}, {"centos", 9, 0, "centos9"}, {"centos", 6, 10, "centos6.10"},
		{"centos", 5, 11, "centos5.11"}, {"rocky", 9, 3, "rocky9"}, {"rocky", 7, 1, "rocky7.1"},
		{"oraclelinux", 8, 9, "oraclelinux8.9"}, {"almalinux", 9, 3, "almalinux9.3"},
		{"opensuse", 15, 5, "opensuse15.5"}, {"opensuse", 0, 0, ""}, {"sles", 15, 0, "sles15"},
		{"sles", 15, 5, "sles15sp5"}, {"debian", 3, 1, "debian3.1"}, {"fedora", 0, 0, "fedora0"},
		{"altlinux", 10, 1, "alt10.1"}, {"altlinux", 7, 0, "altlinux7.0"}, {"gentoo", 2, 14, "gentoo"},
		{"nosuch", 1, 0, "nosuch1.0"}, {"nosuch", 0, 0, ""}, {"", 3, 0, ""},
	} {
		if got := osinfoID(c.distro, c.major, c.minor); got != c.want {
			t.Errorf("osinfoID(%s, %d, %d) = %q, want %q", c.distro, c.major, c.minor, got, c.want)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte(`X="a\"b`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ParseOSRelease(b)
		parseVersion(m["VERSION_ID"])
		osinfoID(distroIDs[m["ID"]], 1, 2)
	})
}

func FuzzParseFstab(f *testing.F) {
	f.Add([]byte("UUID=abc / ext4 defaults 0 1\nLABEL=a\\040b /x vfat ro\n"))
	f.Add([]byte(`\0`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range ParseFstab(b) {
			if e.Spec == "" || e.File == "" {
				t.Errorf("empty field: %+v", e)
			}
		}
	})
}
