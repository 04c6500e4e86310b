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
			root + "/System32/cmd.exe":         {Data: []byte("MZ")},
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
		{"ReactOS", hives("ReactOS"), "ReactOS"},
		{"component case folded", fstest.MapFS{"windows/SYSTEM32/CONFIG/x": {}, "windows/SYSTEM32/CMD.EXE": {}}, "windows"},
		{"first candidate wins", merge(hives("Windows"), hives("WINNT")), "Windows"},
		{"no hives is still a root", fstest.MapFS{"Windows/System32/config/x": {}, "Windows/System32/cmd.exe": {}}, "Windows"},
		{"Windows without cmd.exe, WINNT whole", merge(fstest.MapFS{"Windows/System32/config/SOFTWARE": {}, "Windows/System32/config/SYSTEM": {}}, hives("WINNT")), "WINNT"},
		{"no config directory", fstest.MapFS{"Windows/System32/cmd.exe": {}}, ""},
		{"cmd.exe is a directory", fstest.MapFS{"Windows/System32/config/x": {}, "Windows/System32/cmd.exe/x": {}}, ""},
		{"boot.ini", merge(hives("OS/Win2"), bootIni("[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\OS\\WIN2\r\n[operating systems]\r\nmulti(0)disk(0)rdisk(0)partition(1)\\OS\\WIN2=\"Windows XP\" /fastdetect\r\n")), "OS/Win2"},
		{"boot.ini: the first line that is a root", merge(hives("Other"), bootIni("[operating systems]\nmulti(0)disk(0)rdisk(0)partition(1)\\Missing=\"a\"\nscsi(0)disk(0)rdisk(0)partition(2)\\other=\"b\"\n")), "Other"},
		{"boot.ini: lines end at the first other one", merge(hives("Other"), bootIni("[operating systems]\nC:\\=\"DOS\"\nmulti(0)disk(0)rdisk(0)partition(1)\\Other=\"b\"\n")), ""},
		{"boot.ini: default= alone is not read", merge(hives("Other"), bootIni("default=multi(0)disk(0)rdisk(0)partition(1)\\other\n")), ""},
		{"boot.ini escapes", merge(hives("Other"), bootIni("[operating systems]\nmulti(0)disk(0)rdisk(0)partition(1)\\..\\Other=\"x\"\n")), ""},
		{"boot.ini without the section", merge(hives("Other"), bootIni("[boot loader]\ntimeout=30\n")), ""},
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
		{"[operating systems]\nmulti(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"XP\"\n", "WINDOWS"},
		{"[operating systems]\r\nmulti(0)disk(0)rdisk(0)partition(2)\\WINNT\\=\"NT\"\r\nscsi(1)disk(0)rdisk(0)partition(1)\\W2=\"x\"\r\n", "WINNT,W2"},
		{"[operating systems]\nsignature(8b467c12)disk(1)rdisk(0)partition(1)\\WINDOWS=\"x\"\n", ""},
		{"[operating systems]\nmulti(0)disk(0)rdisk(0)partition(1)=\"x\"\n", ""},
		{"[operating systems]\nmulti(0)disk(0)rdisk(0)partition(1)\\W\n", ""},
		{"default=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\n", ""},
		{"[operating systems]\n" + strings.Repeat("x", 100000), ""},
	} {
		if got := strings.Join(parseBootIni(strings.NewReader(tc.in)), ","); got != tc.want {
			t.Errorf("parseBootIni(%.60q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
