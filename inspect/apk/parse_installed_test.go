package apk

import (
	"os"
	"reflect"
	"testing"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

func TestInstalledFixture(t *testing.T) {
	apps, err := Installed(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	want := []app.Application{
		{Name: "busybox", Version: "1.36.1", Release: "15", Arch: "x86_64", URL: "https://busybox.net/",
			SourcePackage: "busybox", Description: "Size optimized toolbox"},
		{Name: "musl", Version: "1.2.4_git20230717", Release: "4", Arch: "x86_64", URL: "https://musl.libc.org/",
			SourcePackage: "musl", Description: "the musl c library (libc) implementation"},
	}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("got  %+v\nwant %+v", apps, want)
	}
}

func TestParseInstalledBad(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"zeros":     "\x00\x00\x00",
		"no name":   "V:1.0-r0\nA:x86_64\n",
		"no colon":  "Pbusybox\n",
		"one char":  "P\n",
		"truncated": "P",
	} {
		t.Run(name, func(t *testing.T) {
			if apps := ParseInstalled([]byte(in)); apps == nil || len(apps) != 0 {
				t.Errorf("ParseInstalled(%q) = %+v, want empty", in, apps)
			}
		})
	}
}

func FuzzParseInstalled(f *testing.F) {
	b, err := os.ReadFile("testdata/lib/apk/db/installed")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range ParseInstalled(b) {
			if a.Name == "" {
				t.Errorf("application without a name: %+v", a)
			}
		}
	})
}
