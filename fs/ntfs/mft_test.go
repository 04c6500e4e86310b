package ntfs

import (
	"encoding/binary"
	"strings"
	"testing"
)

// mkRecord builds a 1 KiB FILE record with a valid update sequence.
func mkRecord() []byte {
	b := make([]byte, 1024)
	copy(b, "FILE")
	binary.LittleEndian.PutUint16(b[4:], 0x30) // USA offset
	binary.LittleEndian.PutUint16(b[6:], 3)    // USN + 2 strides
	binary.LittleEndian.PutUint16(b[0x14:], 0x38)
	binary.LittleEndian.PutUint16(b[0x16:], recInUse)
	binary.LittleEndian.PutUint32(b[0x18:], 0x40)
	binary.LittleEndian.PutUint32(b[0x38:], atEnd)
	// USN 0x0007; saved bytes 0xaaaa and 0xbbbb.
	copy(b[0x30:], []byte{7, 0, 0xaa, 0xaa, 0xbb, 0xbb})
	copy(b[510:], []byte{7, 0})
	copy(b[1022:], []byte{7, 0})
	return b
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(b []byte)
		wantErr string
	}{
		{"good", func(b []byte) {}, ""},
		{"bad magic", func(b []byte) { copy(b, "BAAD") }, "magic"},
		{"torn sector", func(b []byte) { b[1022] = 8 }, "bad fixup: sector 1"},
		{"USA count", func(b []byte) { b[6] = 9 }, "update sequence of 9"},
		{"USA offset", func(b []byte) { b[4] = 0xff; b[5] = 0x01 }, "out of bounds"},
		{"used size", func(b []byte) { binary.LittleEndian.PutUint32(b[0x18:], 5000) }, "used size"},
		{"attribute offset", func(b []byte) { binary.LittleEndian.PutUint16(b[0x14:], 0x3fc) }, "first attribute"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			b := mkRecord()
			tc.damage(b)
			var r record
			err := parseRecord(b, &r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b[510] != 0xaa || b[1023] != 0xbb || !r.inUse() || r.isDir() {
				t.Errorf("fixup not applied or flags wrong: %x %x %+v", b[510:512], b[1022:1024], r)
			}
			if err := parseAttrs(&r, func(*attr) error { t.Error("attribute in an empty record"); return nil }); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSizeFromByte(t *testing.T) {
	for _, tc := range []struct {
		b    byte
		cs   int64
		want int64
		ok   bool
	}{
		{0xf6, 4096, 1024, true}, // -10
		{0xf4, 512, 4096, true},  // -12
		{1, 4096, 4096, true},
		{0, 4096, 0, false},
		{0x80, 4096, 0, false},
	} {
		got, ok := sizeFromByte(tc.b, tc.cs)
		if got != tc.want || ok != tc.ok {
			t.Errorf("sizeFromByte(%#x, %d) = %d, %v; want %d, %v", tc.b, tc.cs, got, ok, tc.want, tc.ok)
		}
	}
}
