package dpkg

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

func TestInstalledFixture(t *testing.T) {
	apps, err := Installed(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	want := []app.Application{
		{Name: "adduser", Epoch: 1, Version: "3.134", FullVersion: "1:3.134", Arch: "all", Summary: "add and remove users and groups"},
		{Name: "bash", Version: "5.2.15", Release: "2+b7", FullVersion: "5.2.15-2+b7", Arch: "amd64",
			URL:     "http://tiswww.case.edu/php/chet/bash/bashtop.html",
			Summary: "GNU Bourne Again SHell",
			Description: "Bash is an sh-compatible command language interpreter.\n\n" +
				"Bash is ultimately intended to be a conformant implementation."},
		{Name: "libc6", Version: "2.36", Release: "9+deb12u4", FullVersion: "2.36-9+deb12u4", Arch: "amd64", SourcePackage: "glibc",
			Summary: "GNU C Library: Shared libraries"},
	}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("got  %+v\nwant %+v", apps, want)
	}
}

func TestSplitVersion(t *testing.T) {
	for _, c := range []struct {
		in           string
		epoch        int
		version, rel string
	}{
		{"1.0", 0, "1.0", ""},
		{"1.0-1", 0, "1.0", "1"},
		{"2:1.0-1-2", 2, "1.0-1", "2"},
		{"x:1.0", 0, "1.0", ""},
		{"-5:1", 0, "1", ""},
		{"", 0, "", ""},
	} {
		t.Run(c.in, func(t *testing.T) {
			e, v, r := SplitVersion(c.in)
			if e != c.epoch || v != c.version || r != c.rel {
				t.Errorf("SplitVersion(%q) = %d %q %q, want %d %q %q", c.in, e, v, r, c.epoch, c.version, c.rel)
			}
		})
	}
}

func TestParseStatusBad(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"zeros":        "\x00\x00\x00\x00",
		"no colon":     "Package bash\nStatus install ok installed\n",
		"no package":   "Status: install ok installed\nVersion: 1\n",
		"continuation": " orphan continuation\n\n",
		"truncated":    "Package: bash\nStatus: install ok inst",
	} {
		t.Run(name, func(t *testing.T) {
			apps := ParseStatus([]byte(in))
			if apps == nil || len(apps) != 0 {
				t.Errorf("ParseStatus(%q) = %+v, want an empty non-nil slice", in, apps)
			}
		})
	}
}

func TestInstalledMissing(t *testing.T) {
	apps, err := Installed(fstest.MapFS{})
	if err == nil || apps == nil {
		t.Errorf("Installed(empty) = %v, %v; want an error and an empty slice", apps, err)
	}
}

func FuzzParseStatus(f *testing.F) {
	b, err := os.ReadFile("testdata/var/lib/dpkg/status")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("Package: a\nStatus: x installed\nVersion: 1:2-3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range ParseStatus(b) {
			if a.Name == "" {
				t.Errorf("application without a name: %+v", a)
			}
			SplitVersion(a.Version)
		}
	})
}

// TestLibguestfsSplit: the XML split is libguestfs' (the first hyphen),
// the JSON's Debian policy's (the last), for a version with two hyphens as
// Debian 12's mtools has.
func TestLibguestfsSplit(t *testing.T) {
	a := stanza(map[string]string{"package": "mtools", "version": "4.0.33-1+really4.0.32-1", "status": "install ok installed"})
	if a.Version != "4.0.33-1+really4.0.32" || a.Release != "1" || a.FullVersion != "4.0.33-1+really4.0.32-1" {
		t.Errorf("Debian split: %q %q %q", a.Version, a.Release, a.FullVersion)
	}
	if a.XMLVersion != "4.0.33" || a.XMLRelease != "1+really4.0.32-1" {
		t.Errorf("libguestfs split: %q %q", a.XMLVersion, a.XMLRelease)
	}
	b := stanza(map[string]string{"package": "bash", "version": "5.2.15-2+b2"})
	if b.XMLVersion != "" || b.Version != "5.2.15" || b.Release != "2+b2" {
		t.Errorf("one hyphen: %+v", b)
	}
}
