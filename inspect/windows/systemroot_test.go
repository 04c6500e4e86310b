package windows

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSystemRoot(t *testing.T) {
	hives := func(root string) fstest.MapFS {
		return fstest.MapFS{
			root + "/System32/config/SOFTWARE": {Data: []byte("x")},
			root + "/System32/config/SYSTEM":   {Data: []byte("x")},
		}
	}
	merge := func(ms ...fstest.MapFS) fstest.MapFS {
		out := fstest.MapFS{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	bootIni := func(s string) fstest.MapFS {
		return fstest.MapFS{"boot.ini": {Data: []byte(s)}}
	}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string // "" : ErrNotWindows
	}{
		{"Windows", hives("Windows"), "Windows"},
		{"upper case", hives("WINDOWS"), "WINDOWS"},
		{"WINNT", hives("WINNT"), "WINNT"},
		{"winnt lower case", hives("winnt"), "winnt"},
		{"WIN32", hives("WIN32"), "WIN32"},
		{"component case folded", fstest.MapFS{"windows/system32/CONFIG/software": {}, "windows/system32/CONFIG/system": {}}, "windows"},
		{"first candidate wins", merge(hives("Windows"), hives("WINNT")), "Windows"},
		{"Windows without SYSTEM, WINNT whole", merge(fstest.MapFS{"Windows/System32/config/SOFTWARE": {}}, hives("WINNT")), "WINNT"},
		{"boot.ini", merge(hives("OS/Win2"), bootIni("[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\OS\\WIN2\r\n[operating systems]\r\n")), "OS/Win2"},
		{"boot.ini DEFAULT upper case", merge(hives("Other"), bootIni("DEFAULT = multi(0)disk(0)rdisk(0)partition(1)\\other\n")), "Other"},
		{"boot.ini names a missing dir", merge(hives("Other"), bootIni("default=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\n")), ""},
		{"boot.ini escapes", merge(hives("Other"), bootIni("default=multi(0)\\..\\Other\n")), ""},
		{"boot.ini without default", merge(hives("Other"), bootIni("[boot loader]\ntimeout=30\n")), ""},
		{"hive is a directory", fstest.MapFS{"Windows/System32/config/SOFTWARE/x": {}, "Windows/System32/config/SYSTEM": {}}, ""},
		{"empty", fstest.MapFS{}, ""},
		{"linux", fstest.MapFS{"etc/os-release": {}, "bin/sh": {}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SystemRoot(tc.fsys)
			if tc.want == "" {
				if !errors.Is(err, ErrNotWindows) {
					t.Errorf("SystemRoot = %q, %v; want ErrNotWindows", got, err)
				}
				info, err := Inspect(tc.fsys)
				if info != nil || !errors.Is(err, ErrNotWindows) {
					t.Errorf("Inspect = %+v, %v; want nil, ErrNotWindows", info, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("SystemRoot = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseBootIni(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[boot loader]\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\n", "WINDOWS"},
		{"default=multi(0)disk(0)rdisk(0)partition(2)\\WINNT\\\n", "WINNT"},
		{"default=signature(8b467c12)disk(1)rdisk(0)partition(1)\\WINDOWS", "WINDOWS"},
		{"default=C:\\", ""},
		{"default=multi(0)disk(0)rdisk(0)partition(1)", ""},
		{"timeout=30", ""},
		{strings.Repeat("x", 100000), ""},
	} {
		if got := parseBootIni(strings.NewReader(tc.in)); got != tc.want {
			t.Errorf("parseBootIni(%.40q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
