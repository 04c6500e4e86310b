package ntfs

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		want    []run
		wantErr string
	}{
		{"one run", []byte{0x11, 0x05, 0x10, 0}, []run{{0, 16, 5}}, ""},
		{"relative LCNs", []byte{0x11, 0x02, 0x10, 0x11, 0x03, 0xf0, 0}, []run{{0, 16, 2}, {2, 0, 3}}, ""},
		{"sparse run", []byte{0x11, 0x02, 0x20, 0x01, 0x04, 0x11, 0x01, 0x01, 0}, []run{{0, 32, 2}, {2, -1, 4}, {6, 33, 1}}, ""},
		{"no end marker", []byte{0x11, 0x01, 0x05}, []run{{0, 5, 1}}, ""},
		{"zero length", []byte{0x01, 0x00, 0}, nil, "run of 0 clusters"},
		{"header past the end", []byte{0x22, 0x01}, nil, "runs past"},
		{"nine-byte length", []byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}, nil, "header"},
		{"negative LCN", []byte{0x11, 0x01, 0xf0, 0}, nil, "beyond the volume"},
		{"past the volume", []byte{0x21, 0x10, 0xf0, 0x03, 0}, nil, "beyond the volume"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			got, err := decodeRuns(tc.b, 0, 1000, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("decodeRuns = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLeInt(t *testing.T) {
	for _, tc := range []struct {
		b      []byte
		signed bool
		want   int64
	}{
		{[]byte{0xff}, false, 255},
		{[]byte{0xff}, true, -1},
		{[]byte{0x00, 0x80}, true, -32768},
		{[]byte{0x34, 0x12}, true, 0x1234},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0x80}, true, -1<<63 + 1},
	} {
		if got := leInt(tc.b, tc.signed); got != tc.want {
			t.Errorf("leInt(%x, %v) = %d, want %d", tc.b, tc.signed, got, tc.want)
		}
	}
}
