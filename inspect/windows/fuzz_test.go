package windows

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// hiveSeeds adds the minimal hive and the named hives checked in under
// testdata (copies of what testimages/windows.sh builds from
// testimages/windows/*.reg; TestSeedHives keeps them in step). They are
// read from testdata rather than built because every fuzz worker process
// runs this setup again, and building the Windows images takes a while.
func hiveSeeds(f *testing.F, names ...string) {
	for _, n := range append([]string{"minimal"}, names...) {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// TestSeedHives checks that the hives in testdata read the same as the
// ones windows.sh builds now (regenerate them with
// `bash testimages/windows.sh DIR && cp DIR/win*-s* inspect/windows/testdata/`).
func TestSeedHives(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Windows test images")
	}
	for _, g := range []string{"win10", "win2k19"} {
		sw, sys := g+"-software", g+"-system"
		seed := func(name string) *hive {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			h := fuzzHive(b)
			if h == nil {
				t.Fatalf("testdata/%s does not open as a hive", name)
			}
			return h
		}
		gotSW, err1 := readSoftware(seed(sw))
		wantSW, err2 := readSoftware(hiveFile(t, sw))
		if err1 != nil || err2 != nil || gotSW != wantSW {
			t.Errorf("testdata/%s: %+v (%v); windows.sh builds %+v (%v): regenerate the seeds", sw, gotSW, err1, wantSW, err2)
		}
		gotApps, err1 := readApplications(seed(sw))
		wantApps, err2 := readApplications(hiveFile(t, sw))
		if err1 != nil || err2 != nil || !reflect.DeepEqual(gotApps, wantApps) {
			t.Errorf("testdata/%s: applications %+v (%v); windows.sh builds %+v (%v): regenerate the seeds", sw, gotApps, err1, wantApps, err2)
		}
		gotSys, err1 := readSystem(seed(sys))
		wantSys, err2 := readSystem(hiveFile(t, sys))
		if err1 != nil || err2 != nil || !reflect.DeepEqual(gotSys, wantSys) {
			t.Errorf("testdata/%s: %+v (%v); windows.sh builds %+v (%v): regenerate the seeds", sys, gotSys, err1, wantSys, err2)
		}
	}
}

// fuzzHive opens data as a hive; nil if it does not open.
func fuzzHive(data []byte) *hive {
	h, err := openHive(bytesReaderAt(data), int64(len(data)))
	if err != nil {
		return nil
	}
	return h
}

func FuzzSoftware(f *testing.F) {
	hiveSeeds(f, "win10-software", "win2k19-software")
	f.Fuzz(func(t *testing.T, data []byte) {
		h := fuzzHive(data)
		if h == nil {
			return
		}
		if sw, err := readSoftware(h); err == nil {
			OSInfo(sw.Major, sw.Minor, sw.InstallationType, sw.BuildID, sw.ProductName)
		}
		apps, _ := readApplications(h)
		if apps == nil {
			t.Fatal("readApplications returned nil")
		}
	})
}

func FuzzSystem(f *testing.F) {
	hiveSeeds(f, "win10-system", "win2k19-system")
	f.Fuzz(func(t *testing.T, data []byte) {
		h := fuzzHive(data)
		if h == nil {
			return
		}
		sys, _ := readSystem(h)
		if sys.DriveLetters == nil {
			t.Fatal("readSystem returned nil DriveLetters")
		}
		for _, d := range sys.DriveLetters {
			if len(d.Letter) != 1 || (d.Kind != DriveMBR && d.Kind != DriveGPT) {
				t.Fatalf("bad drive letter %+v", d)
			}
		}
	})
}

func FuzzPEArch(f *testing.F) {
	f.Add(peImage(512, 0x80, 0x8664))
	f.Add(peImage(512, 0x80, 0x14c))
	f.Add(peImage(256, 0xf8, 0xaa64))
	f.Fuzz(func(t *testing.T, data []byte) {
		arch, err := peArch(bytesReaderAt(data), int64(len(data)))
		if err == nil && arch == "" {
			t.Fatal("no arch and no error")
		}
	})
}

func FuzzMountedDevice(f *testing.F) {
	f.Add(`\DosDevices\C:`, []byte("1NIW\x00\x00\x10\x00\x00\x00\x00\x00"))
	f.Add(`\DosDevices\E:`, []byte("DMIO:ID:0123456789abcdef"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		decodeMountedDevice(name, data)
	})
}
