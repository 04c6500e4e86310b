package linux

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestFreeBSD(t *testing.T) {
	elf := make([]byte, 64)
	copy(elf, "\x7fELF\x02\x01\x01\x09") // OSABI 9: FreeBSD
	elf[18] = 62
	root := fstest.MapFS{
		"etc/freebsd-update.conf": {Data: []byte("KeyPrint 800651ef4b4c71c27e60786d7b487188970f4b4169cc055784e21eb71d410cc5\n")},
		"etc/fstab":               {Data: []byte("# Device\tMountpoint\tFStype\tOptions\tDump\tPass#\n/dev/ada0p2\t/\tufs\trw\t1\t1\n/dev/ada0p3\tnone\tswap\tsw\t0\t0\n")},
		"etc/motd":                {Data: []byte("FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC\n\nWelcome to FreeBSD!\n")},
		"etc/rc.conf":             {Data: []byte("hostname=\"bsd.example.org\"\nifconfig_vtnet0=\"DHCP\"\nhostname=second\n")},
		"etc/hosts":               {Data: []byte("127.0.0.1 localhost\n")},
		"bin/sh":                  {Data: elf},
	}
	if !IsFreeBSDRoot(root) {
		t.Fatal("IsFreeBSDRoot = false")
	}
	got, err := InspectFreeBSD(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Distro: "freebsd", ProductName: "FreeBSD 13.2-RELEASE releng/13.2-n254617-525ecfdad597 GENERIC",
		MajorVersion: 13, MinorVersion: 2, Arch: "x86_64", Hostname: "bsd.example.org", OSInfo: "freebsd13.2",
		Fstab: []FstabEntry{{"/dev/ada0p2", "/", "ufs", "rw"}, {"/dev/ada0p3", "none", "swap", "sw"}}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no freebsd-update.conf": {"etc/fstab": {}, "bin/sh": {}},
		"no fstab":               {"etc/freebsd-update.conf": {}, "bin/sh": {}},
		"no bin":                 {"etc/freebsd-update.conf": {}, "etc/fstab": {}},
		"conf is a directory":    {"etc/freebsd-update.conf/x": {}, "etc/fstab": {}, "bin/sh": {}},
		"linux":                  {"etc/os-release": {}, "etc/fstab": {}, "bin": {Data: []byte("usr/bin"), Mode: os.ModeSymlink}},
	} {
		if IsFreeBSDRoot(fsys) {
			t.Errorf("%s: IsFreeBSDRoot = true", name)
		}
	}
	// Before the first boot the motd says "FreeBSD ?.? (UNKNOWN)": no version.
	root["etc/motd"] = &fstest.MapFile{Data: []byte("FreeBSD ?.? (UNKNOWN)\n")}
	if got, _ := InspectFreeBSD(root, nil); got.MajorVersion != 0 || got.OSInfo != "freebsd0.0" || got.ProductName != "FreeBSD ?.? (UNKNOWN)" {
		t.Errorf("unknown version: %+v", got)
	}
}

func TestRCConfHostname(t *testing.T) {
	for in, want := range map[string]string{
		"hostname=\"a.b\"\n": "a.b", "hostname='c'\n": "c", "hostname=d\n": "d",
		"# hostname=x\nhostname=y": "y", "ifconfig=x\n": "", "hostname=\"\n": "\"", "": "",
	} {
		if got := rcConfHostname(in); got != want {
			t.Errorf("rcConfHostname(%q) = %q, want %q", in, got, want)
		}
	}
}
