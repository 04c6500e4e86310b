package windows

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs/ntfs"
)

// TestInspectImages runs Inspect on the NTFS partition of each guest
// testimages/windows.sh builds, read through fs/ntfs's io/fs. The
// expected values are those of testimages/windows/*.reg and of the
// script (disk signatures, partition offset, PE Machine); the partition
// offset and disk signature are also read from the image itself.
func TestInspectImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Windows test images")
	}
	dir := images(t)
	for _, tc := range []struct {
		img  string
		want Info
	}{
		{"win10.img", Info{
			SystemRoot: "/Windows", ProductName: "Windows 10 Pro", ProductVariant: "Client", EditionID: "Professional",
			InstallationType: "Client", BuildID: "19045", Major: 10, Minor: 0, OSInfo: "win10", Arch: "x86_64",
			Hostname: "WIN10-DESKTOP", ControlSet: "ControlSet002",
			DriveLetters: []DriveLetter{
				{Letter: "C", Kind: DriveMBR, MBRSignature: 0x57494e31, MBROffset: 1 << 20},
				{Letter: "E", Kind: DriveGPT, GPTGUID: "6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70"},
			},
			Applications: []Application{
				{Name: "Mozilla Firefox 115.0 (x64 en-US)", DisplayName: "Mozilla Firefox (x64 en-US)", Version: "115.0", Publisher: "Mozilla", InstallPath: `C:\Program Files\Mozilla Firefox`, URL: "https://www.mozilla.org"},
				{Name: "{23170F69-40C1-2702-2201-000001000000}", DisplayName: "7-Zip 22.01 (x64 edition)", Version: "22.01.00.0", Publisher: "Igor Pavlov", InstallPath: `C:\Program Files\7-Zip\`, URL: "https://www.7-zip.org/", Description: "File archiver"},
				{Name: "Notepad++", DisplayName: "Notepad++ (32-bit x86)", Version: "8.5.4", Publisher: "Notepad++ Team", InstallPath: `C:\Program Files (x86)\Notepad++`, URL: "https://notepad-plus-plus.org/", WOW64: true},
			},
		}},
		{"win2k19.img", Info{
			SystemRoot: "/winnt", ProductName: "Windows Server 2019 Standard", ProductVariant: "Server", EditionID: "ServerStandard",
			InstallationType: "Server", BuildID: "17763", Major: 10, Minor: 0, OSInfo: "win2k19", Arch: "x86_64",
			Hostname: "WIN2K19-SRV", ControlSet: "ControlSet001",
			DriveLetters: []DriveLetter{{Letter: "C", Kind: DriveMBR, MBRSignature: 0x32534b32, MBROffset: 1 << 20}},
			Applications: []Application{{Name: "VMware Tools", DisplayName: "VMware Tools", Version: "12.1.5.20735119", Publisher: "VMware, Inc."}},
		}},
	} {
		t.Run(tc.img, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, tc.img))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// The MBR: disk signature at 440, partition 1's start LBA at 454.
			var mbr [512]byte
			if _, err := f.ReadAt(mbr[:], 0); err != nil {
				t.Fatal(err)
			}
			sig := uint32(mbr[440]) | uint32(mbr[441])<<8 | uint32(mbr[442])<<16 | uint32(mbr[443])<<24
			start := int64(mbr[454]) | int64(mbr[455])<<8 | int64(mbr[456])<<16 | int64(mbr[457])<<24
			sectors := int64(mbr[458]) | int64(mbr[459])<<8 | int64(mbr[460])<<16 | int64(mbr[461])<<24
			vol, err := ntfs.New(io.NewSectionReader(f, start*512, sectors*512), sectors*512)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Inspect(vol)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			if c := got.DriveLetters[0]; c.MBRSignature != sig || c.MBROffset != uint64(start*512) {
				t.Errorf("C: signature 0x%x offset %d; the disk's MBR says 0x%x, partition 1 at %d", c.MBRSignature, c.MBROffset, sig, start*512)
			}
		})
	}
}
