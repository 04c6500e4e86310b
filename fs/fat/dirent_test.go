package fat

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCP437(t *testing.T) {
	if cp437[0x82-0x80] != 'é' || cp437[0x90-0x80] != 'É' || cp437[0xE1-0x80] != 'ß' || cp437[0xFF-0x80] != '\u00a0' {
		t.Errorf("cp437 table misaligned: %q", string(cp437[:]))
	}
}

func short(name string, nt byte) shortEntry {
	var e shortEntry
	copy(e.raw[:], name)
	e.ntFlags = nt
	return e
}

func TestShortName(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		nt   byte
		want string
	}{
		{"README  TXT", 0, "README.TXT"},
		{"README  TXT", ntLowerBase | ntLowerExt, "readme.txt"},
		{"README  TXT", ntLowerBase, "readme.TXT"},
		{"README  TXT", ntLowerExt, "README.txt"},
		{"MAKEFILE   ", 0, "MAKEFILE"},
		{"\x05BC     TXT", 0, "σBC.TXT"}, // 0x05 stands for 0xE5 (σ in code page 437)
		{"\x90__     TXT", 0, "É__.TXT"},
	} {
		e := short(tc.raw, tc.nt)
		if got := e.name(); got != tc.want {
			t.Errorf("%q nt %#x: %q, want %q", tc.raw, tc.nt, got, tc.want)
		}
	}
}

// lfnEntry builds a long-name entry.
func lfnEntry(ord, sum byte, units []uint16) []byte {
	b := make([]byte, 32)
	b[0], b[11], b[13] = ord, attrLFN, sum
	u := make([]uint16, 13)
	for i := range u {
		u[i] = 0xFFFF
	}
	copy(u, units)
	if len(units) < 13 {
		u[len(units)] = 0
	}
	for i := range 5 {
		binary.LittleEndian.PutUint16(b[1+2*i:], u[i])
	}
	for i := range 6 {
		binary.LittleEndian.PutUint16(b[14+2*i:], u[5+i])
	}
	for i := range 2 {
		binary.LittleEndian.PutUint16(b[28+2*i:], u[11+i])
	}
	return b
}

func TestLFN(t *testing.T) {
	e := short("ALONGF~1CON", 0)
	sum := checksum(e.raw)
	name := []uint16{}
	for _, r := range "A Long File Name.conf" { // 21 units: 2 entries
		name = append(name, uint16(r))
	}
	second, first := name[13:], name[:13]
	for _, tc := range []struct {
		name   string
		parts  [][]byte
		want   string
		reason string
	}{
		{"valid", [][]byte{lfnEntry(0x42, sum, second), lfnEntry(1, sum, first)}, "A Long File Name.conf", ""},
		{"bad checksum", [][]byte{lfnEntry(0x42, sum+1, second), lfnEntry(1, sum+1, first)}, "", "checksum"},
		{"incomplete", [][]byte{lfnEntry(0x42, sum, second)}, "", "incomplete"},
		{"out of order", [][]byte{lfnEntry(1, sum, first), lfnEntry(0x42, sum, second)}, "", "incomplete"},
		{"wrong number", [][]byte{lfnEntry(0x42, sum, second), lfnEntry(3, sum, first)}, "", "out of sequence"},
		{"number 0", [][]byte{lfnEntry(0x40, sum, second)}, "", "outside 1-20"},
		{"number 25", [][]byte{lfnEntry(0x40|25, sum, second)}, "", "outside 1-20"},
		{"unpaired surrogate and slash", [][]byte{lfnEntry(0x41, sum, []uint16{'a', 0xD800, '/', 'b'})}, "a\uFFFD\uFFFDb", ""},
		{"surrogate pair", [][]byte{lfnEntry(0x41, sum, []uint16{0xD83D, 0xDE00})}, "😀", ""},
		{"empty", [][]byte{lfnEntry(0x41, sum, []uint16{})}, "", "empty name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s lfnState
			for i, p := range tc.parts {
				s.add(decodeLFN(p), int64(i*32))
			}
			got, reason := s.take(&e)
			if got != tc.want || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
				t.Errorf("got %q, %q; want %q, %q", got, reason, tc.want, tc.reason)
			}
			if !utf8.ValidString(got) {
				t.Errorf("%q is not valid UTF-8", got)
			}
			if s.active || s.broken != "" {
				t.Error("state not reset by take")
			}
		})
	}
}

// TestChecksumVsMtools: every long name mtools wrote in the fixtures
// carries the checksum of the 8.3 entry after it, as we compute it.
func TestChecksumVsMtools(t *testing.T) {
	for _, name := range fixtures {
		b := loadFixture(t, name)
		w := walkBytes(t, b)
		n := 0
		for _, e := range w.entries {
			if e.Kind != 'd' {
				continue
			}
			for _, x := range e.Extents {
				dir := b[x.Off:x.End()]
				for i := 32; i+32 <= len(dir); i += 32 {
					prev, cur := dir[i-32:i], dir[i:i+32]
					if prev[0] == 0xE5 || cur[0] == 0xE5 || cur[0] == 0 || prev[11]&0x3F != attrLFN || prev[0]&0x1F != 1 || cur[11]&0x3F == attrLFN {
						continue
					}
					var raw [11]byte
					copy(raw[:], cur)
					if checksum(raw) != prev[13] {
						t.Errorf("%s: entry at %#x: checksum %#x, mtools wrote %#x", name, x.Off+int64(i), checksum(raw), prev[13])
					}
					n++
				}
			}
		}
		if n < 40 {
			t.Errorf("%s: only %d long names checked", name, n)
		}
	}
}
