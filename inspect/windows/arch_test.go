package windows

import (
	"encoding/binary"
	"testing"
)

// pe returns a minimal PE image header: MZ, e_lfanew, PE\0\0, Machine.
func peImage(size int, lfanew uint32, machine uint16) []byte {
	b := make([]byte, size)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], lfanew)
	if int(lfanew)+6 <= size {
		copy(b[lfanew:], "PE\x00\x00")
		binary.LittleEndian.PutUint16(b[lfanew+4:], machine)
	}
	return b
}

func TestPEArch(t *testing.T) {
	mut := func(b []byte, f func([]byte)) []byte { f(b); return b }
	for _, tc := range []struct {
		name string
		data []byte
		want string
		err  bool
	}{
		{"i386", peImage(512, 0x80, 0x14c), "i386", false},
		{"x86_64", peImage(512, 0x80, 0x8664), "x86_64", false},
		{"aarch64", peImage(512, 0xf8, 0xaa64), "aarch64", false},
		{"header at the very end", peImage(0x86, 0x80, 0x8664), "x86_64", false},
		{"unknown machine", peImage(512, 0x80, 0x1234), "", true},
		{"no MZ", mut(peImage(512, 0x80, 0x8664), func(b []byte) { b[0] = 'X' }), "", true},
		{"no PE signature", mut(peImage(512, 0x80, 0x8664), func(b []byte) { b[0x81] = 'X' }), "", true},
		{"e_lfanew past end", peImage(512, 0x400, 0x8664), "", true},
		{"e_lfanew huge", peImage(512, 0xfffffff0, 0x8664), "", true},
		{"truncated in COFF header", peImage(512, 0x80, 0x8664)[:0x85], "", true},
		{"truncated DOS header", []byte("MZ\x90\x00"), "", true},
		{"empty", nil, "", true},
		{"zeros", make([]byte, 512), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := peArch(bytesReaderAt(tc.data), int64(len(tc.data)))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("peArch = %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
