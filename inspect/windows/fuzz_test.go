package windows

import (
	"os"
	"path/filepath"
	"testing"
)

// hiveSeeds adds the minimal hive and, when windows.sh can run, the hives
// it builds.
func hiveSeeds(f *testing.F, names ...string) {
	if b, err := os.ReadFile("testdata/minimal"); err == nil {
		f.Add(b)
	}
	if testing.Short() {
		return
	}
	dir := images(f)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
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
