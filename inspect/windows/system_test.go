package windows

import (
	"encoding/hex"
	"testing"
)

func TestDecodeMountedDevice(t *testing.T) {
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		desc, name, data string
		want             DriveLetter
		ok               bool
	}{
		{"mbr", `\DosDevices\C:`, "314e495700001000" + "00000000", DriveLetter{Letter: "C", Kind: DriveMBR, MBRSignature: 0x57494e31, MBROffset: 0x100000}, true},
		{"mbr high offset", `\DosDevices\D:`, "efbeadde" + "00807e0a03000000", DriveLetter{Letter: "D", Kind: DriveMBR, MBRSignature: 0xdeadbeef, MBROffset: 0x30a7e8000}, true},
		{"lower-case letter and prefix", `\dosdevices\e:`, "01000000" + "0000100000000000", DriveLetter{Letter: "E", Kind: DriveMBR, MBRSignature: 1, MBROffset: 0x100000}, true},
		{"gpt", `\DosDevices\E:`, hex.EncodeToString([]byte("DMIO:ID:")) + "a2e31c6f6e5b0c4e9a1d2c3b4d5e6f70", DriveLetter{Letter: "E", Kind: DriveGPT, GPTGUID: "6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70"}, true},
		{"gpt short", `\DosDevices\E:`, hex.EncodeToString([]byte("DMIO:ID:")) + "a2e31c6f", DriveLetter{}, false},
		{"volume name", `\??\Volume{11111111-2222-3333-4444-555555555555}`, "314e495700001000" + "00000000", DriveLetter{}, false},
		{"utf-16 device path", `\DosDevices\F:`, "5c003f003f005c00", DriveLetter{}, false},
		{"11 bytes", `\DosDevices\C:`, "314e4957000010000000", DriveLetter{}, false},
		{"empty", `\DosDevices\C:`, "", DriveLetter{}, false},
		{"not a letter", `\DosDevices\1:`, "314e495700001000" + "00000000", DriveLetter{}, false},
		{"no colon", `\DosDevices\CC`, "314e495700001000" + "00000000", DriveLetter{}, false},
		{"longer name", `\DosDevices\C:x`, "314e495700001000" + "00000000", DriveLetter{}, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := decodeMountedDevice(tc.name, mustHex(tc.data))
			if ok != tc.ok || got != tc.want {
				t.Errorf("decodeMountedDevice(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}
