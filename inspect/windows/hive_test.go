package windows

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"reflect"
	"testing"
)

// The expected values are those written in testimages/windows/*.reg;
// string values are also checked against hivexget's reading of the same
// hives.

func TestReadSoftware(t *testing.T) {
	for _, tc := range []struct {
		hive string
		want software
	}{
		{"win10-software", software{ProductName: "Windows 10 Pro", InstallationType: "Client", EditionID: "Professional", BuildID: "19045", Major: 10, Minor: 0}},
		{"win2k19-software", software{ProductName: "Windows Server 2019 Standard", InstallationType: "Server", EditionID: "ServerStandard", BuildID: "17763", Major: 10, Minor: 0}},
	} {
		t.Run(tc.hive, func(t *testing.T) {
			got, err := readSoftware(hiveFile(t, tc.hive))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			for v, s := range map[string]string{"ProductName": got.ProductName, "InstallationType": got.InstallationType, "EditionID": got.EditionID, "CurrentBuildNumber": got.BuildID} {
				if h := hivexget(t, tc.hive, `\`+currentVersionKey, v); h != s {
					t.Errorf("%s: we read %q, hivexget %q", v, s, h)
				}
			}
		})
	}
}

func TestReadSystem(t *testing.T) {
	for _, tc := range []struct {
		hive string
		want system
	}{
		{"win10-system", system{ControlSet: "ControlSet002", Hostname: "WIN10-DESKTOP", DriveLetters: []DriveLetter{
			{Letter: "C", Kind: DriveMBR, MBRSignature: 0x57494e31, MBROffset: 1 << 20},
			{Letter: "E", Kind: DriveGPT, GPTGUID: "6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70"},
		}}},
		{"win2k19-system", system{ControlSet: "ControlSet001", Hostname: "WIN2K19-SRV", DriveLetters: []DriveLetter{
			{Letter: "C", Kind: DriveMBR, MBRSignature: 0x32534b32, MBROffset: 1 << 20},
		}}},
	} {
		t.Run(tc.hive, func(t *testing.T) {
			got, err := readSystem(hiveFile(t, tc.hive))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if h := hivexget(t, "win10-system", `\ControlSet002\Services\Tcpip\Parameters`, "Hostname"); h != "WIN10-DESKTOP" {
		t.Errorf("hivexget Hostname %q", h)
	}
}

func TestReadApplications(t *testing.T) {
	for _, tc := range []struct {
		hive string
		want []Application
	}{
		{"win10-software", []Application{
			// Hive order: subkeys sorted by upper-cased name ('{' after 'M').
			{Name: "Mozilla Firefox 115.0 (x64 en-US)", DisplayName: "Mozilla Firefox (x64 en-US)", Version: "115.0", Publisher: "Mozilla", InstallPath: `C:\Program Files\Mozilla Firefox`, URL: "https://www.mozilla.org"},
			{Name: "{23170F69-40C1-2702-2201-000001000000}", DisplayName: "7-Zip 22.01 (x64 edition)", Version: "22.01.00.0", Publisher: "Igor Pavlov", InstallPath: `C:\Program Files\7-Zip\`, URL: "https://www.7-zip.org/", Description: "File archiver"},
			{Name: "Notepad++", DisplayName: "Notepad++ (32-bit x86)", Version: "8.5.4", Publisher: "Notepad++ Team", InstallPath: `C:\Program Files (x86)\Notepad++`, URL: "https://notepad-plus-plus.org/", WOW64: true},
		}},
		{"win2k19-software", []Application{
			{Name: "VMware Tools", DisplayName: "VMware Tools", Version: "12.1.5.20735119", Publisher: "VMware, Inc."},
		}},
	} {
		t.Run(tc.hive, func(t *testing.T) {
			got, err := readApplications(hiveFile(t, tc.hive))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			for _, a := range got {
				key := `\Microsoft\Windows\CurrentVersion\Uninstall\` + a.Name
				if a.WOW64 {
					key = `\WOW6432Node` + key
				}
				if h := hivexget(t, tc.hive, key, "DisplayName"); h != a.DisplayName {
					t.Errorf("%s: DisplayName: we read %q, hivexget %q", a.Name, a.DisplayName, h)
				}
			}
		})
	}
}

// TestMinimalHive: the empty hive opens and has none of the keys.
func TestMinimalHive(t *testing.T) {
	b, err := os.ReadFile("testdata/minimal")
	if err != nil {
		t.Fatal(err)
	}
	h, err := openHive(bytesReaderAt(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readSoftware(h); err == nil {
		t.Error("readSoftware on an empty hive: no error")
	}
	apps, err := readApplications(h)
	if err != nil || apps == nil || len(apps) != 0 {
		t.Errorf("readApplications: %v, %v; want empty, non-nil", apps, err)
	}
	sys, err := readSystem(h)
	if err != nil || sys.Hostname != "" || sys.DriveLetters == nil || len(sys.DriveLetters) != 0 {
		t.Errorf("readSystem: %+v, %v", sys, err)
	}
}

// TestCorruptHives: damaged hives give errors or fewer facts, never a
// panic or a hang.
func TestCorruptHives(t *testing.T) {
	good, err := os.ReadFile("testdata/minimal")
	if err != nil {
		t.Fatal(err)
	}
	win10 := good
	if b, err := os.ReadFile(images(t) + "/win10-software"); err == nil {
		win10 = b
	}
	mut := func(src []byte, f func(b []byte) []byte) []byte {
		return f(bytes.Clone(src))
	}
	cases := []struct {
		name    string
		data    []byte
		openErr bool
	}{
		{"flipped magic", mut(win10, func(b []byte) []byte { b[0] ^= 0xff; return b }), true},
		{"empty", nil, true},
		{"header only", win10[:512], false},
		{"no hbins", win10[:4096], false},
		{"zeros", make([]byte, len(win10)), true},
		{"root cell past end", mut(win10, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[0x24:], 0x7ffffff0); return b }), false},
		{"truncated mid-hbin", win10[:4096+1500], false},
		{"hbins zeroed", mut(win10, func(b []byte) []byte { clear(b[4096:]); return b }), false},
		{"every 7th byte flipped", mut(win10, func(b []byte) []byte {
			for i := 4096; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			return b
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := openHive(bytesReaderAt(tc.data), int64(len(tc.data)))
			if tc.openErr {
				if err == nil {
					t.Fatal("openHive: no error")
				}
				return
			}
			if err != nil {
				t.Fatalf("openHive: %v", err)
			}
			sw, err := readSoftware(h)
			if err == nil && sw.ProductName == "Windows 10 Pro" && tc.name != "every 7th byte flipped" {
				t.Errorf("read the intact ProductName from a broken hive")
			}
			readApplications(h)
			readSystem(h)
		})
	}
}

// TestPagedReader: reads across pages and past the end.
func TestPagedReader(t *testing.T) {
	data := make([]byte, 3*hivePage+100)
	for i := range data {
		data[i] = byte(i * 7)
	}
	p := &pagedReader{r: bytesReaderAt(data), size: int64(len(data)), budget: 1 << 30}
	for _, tc := range []struct {
		off, n int64
		wantN  int
		eof    bool
	}{
		{0, 10, 10, false},
		{hivePage - 3, 10, 10, false},
		{0, int64(len(data)), len(data), false},
		{int64(len(data)) - 5, 10, 5, true},
		{int64(len(data)), 1, 0, true},
		{1 << 40, 4, 0, true},
	} {
		b := make([]byte, tc.n)
		n, err := p.ReadAt(b, tc.off)
		if n != tc.wantN || (err != nil) != tc.eof {
			t.Errorf("ReadAt(%d, %d) = %d, %v", tc.n, tc.off, n, err)
			continue
		}
		if n > 0 && !bytes.Equal(b[:n], data[tc.off:tc.off+int64(n)]) {
			t.Errorf("ReadAt(%d, %d): wrong bytes", tc.n, tc.off)
		}
	}
}

// TestPagedReaderBudget: once the budget is spent, reads end with io.EOF.
func TestPagedReaderBudget(t *testing.T) {
	data := make([]byte, 3*hivePage)
	p := &pagedReader{r: bytesReaderAt(data), size: int64(len(data)), budget: 8}
	b := make([]byte, 4)
	for i, want := range []error{nil, nil, io.EOF} {
		if _, err := p.ReadAt(b, 0); err != want {
			t.Errorf("read %d: %v, want %v", i, err, want)
		}
	}
}
