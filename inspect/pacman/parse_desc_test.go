package pacman

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

func TestInstalledFixture(t *testing.T) {
	apps, err := Installed(os.DirFS("testdata"), func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	want := []app.Application{
		{Name: "bash", Version: "5.2.026", Release: "2", Arch: "x86_64", Description: "The GNU Bourne Again shell"},
		{Name: "zlib", Epoch: 1, Version: "1.3.1", Release: "2", Arch: "x86_64", URL: "https://www.zlib.net/",
			SourcePackage: "zlib", Description: "Compression library"},
	}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("got  %+v\nwant %+v", apps, want)
	}
}

func TestInstalledBroken(t *testing.T) {
	fsys := fstest.MapFS{
		"var/lib/pacman/local/ok-1-1/desc":     {Data: []byte("%NAME%\nok\n")},
		"var/lib/pacman/local/nodesc-1-1/x":    {Data: []byte("x")},
		"var/lib/pacman/local/noname-1-1/desc": {Data: []byte("%VERSION%\n1-1\n")},
		"var/lib/pacman/local/ALPM_DB_VERSION": {Data: []byte("9\n")},
	}
	var warned int
	apps, err := Installed(fsys, func(error) { warned++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Name != "ok" || warned != 1 {
		t.Errorf("got %+v with %d warnings, want only ok and 1 warning (nodesc)", apps, warned)
	}
}

func TestParseDescBad(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"zeros":        "\x00\x00",
		"header only":  "%NAME%\n",
		"percent only": "%\n%%\n",
		"bad epoch":    "%VERSION%\nx:1-1\n",
	} {
		t.Run(name, func(t *testing.T) {
			if a, ok := ParseDesc([]byte(in)); ok {
				t.Errorf("ParseDesc(%q) = %+v, true; want false", in, a)
			}
		})
	}
}

func FuzzParseDesc(f *testing.F) {
	for _, p := range []string{"zlib-1.3.1-2", "bash-5.2.026-2"} {
		b, err := os.ReadFile("testdata/var/lib/pacman/local/" + p + "/desc")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok := ParseDesc(b); ok && a.Name == "" {
			t.Errorf("ok without a name: %+v", a)
		}
	})
}
