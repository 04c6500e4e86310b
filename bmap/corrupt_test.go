package bmap

import (
	"errors"
	"strings"
	"testing"
)

// Every malformed input must give an error that wraps ErrFormat and says
// where, never a panic.
func TestReadTextCorrupt(t *testing.T) {
	good := "1 0 1000 v /dev/sda\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"END before START", good + "1 200 1ff f /dev/sda1 /a\n", "line 2: END 1ff before START 200"},
		{"empty range", "1 200 200 f /dev/sda1 /a\n", "line 1: empty range"},
		{"bad hex START", "1 20g 300 f /dev/sda1 /a\n", `line 1: bad START "20g"`},
		{"0x prefix", "1 0x20 300 f /dev/sda1 /a\n", `bad START "0x20"`},
		{"negative", "1 -20 300 f /dev/sda1 /a\n", `bad START "-20"`},
		{"bad hex END", good + good + "1 0 zz v /dev/sda\n", `line 3: bad END "zz"`},
		{"too big", "1 0 8000000000000000 v /dev/sda\n", "bad END"},
		{"17 digits", "1 0 00000000000000001 v /dev/sda\n", "bad END"},
		{"unknown type", "1 0 10 x /dev/sda\n", `unknown type "x"`},
		{"long type", "1 0 10 ff /dev/sda\n", `unknown type "ff"`},
		{"disk 0", "0 0 10 v /dev/sda\n", `bad disk index "0"`},
		{"absurd disk", "99999999 0 10 v /dev/sda\n", "bad disk index"},
		{"disk not a number", "a 0 10 v /dev/sda\n", "bad disk index"},
		{"missing device", "1 0 10 v\n", "missing fields"},
		{"missing everything", "1\n", "missing fields"},
		{"double space", "1  0 10 v /dev/sda\n", "empty START field"},
		{"empty device", "1 0 10 v  /a\n", "empty DEVICE field"},
		{"tab separated", "1\t0\t10\tv\t/dev/sda\n", "missing fields"},
		{"leading space", " 1 0 10 v /dev/sda\n", "empty DISK field"},
		{"too long", good + "1 0 10 f /dev/sda " + strings.Repeat("x", MaxLine) + "\n", "line 2: line longer than"},
		{"binary", "\x00\x01\x02\n", "line 1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadText(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bmap: line ") {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("err %v does not wrap ErrFormat", err)
			}
			// Read must say the same.
			if _, err2 := Read(strings.NewReader(tc.in)); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Read: %v, ReadText: %v", err2, err)
			}
		})
	}
}

func TestReadJSONCorrupt(t *testing.T) {
	obj := func(s string) string { return `{"version":1,"objects":[` + "\n" + s + "\n]}" }
	ext := func(s string) string {
		return obj(`{"disk":1,"type":"f","device":"/dev/sda1","path":"/a","extents":[` + s + `]}`)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not an object", `[1,2]`, "line 1: map"},
		{"truncated", `{"version":1,"objects":[{"disk":1`, "unexpected end"},
		{"no version", `{"objects":[]}`, "no version"},
		{"version 2", `{"version":2,"objects":[]}`, "unsupported version 2"},
		{"version string", `{"version":"1"}`, "version"},
		{"version 0", `{"version":0}`, "unsupported version 0"},
		{"trailing data", `{"version":1} {}`, "data after the end"},
		{"bad type", obj(`{"disk":1,"type":"q","device":"/dev/sda","extents":[]}`), `line 2: object 0: invalid object kind "q"`},
		{"missing type", obj(`{"disk":1,"device":"/dev/sda","extents":[]}`), "invalid type"},
		{"disk 0", obj(`{"disk":0,"type":"v","device":"/dev/sda","extents":[]}`), "disk index 0"},
		{"absurd disk", obj(`{"disk":1000000,"type":"v","device":"/dev/sda","extents":[]}`), "disk index 1000000"},
		{"no device", obj(`{"disk":1,"type":"v","extents":[]}`), "empty device"},
		{"space in device", obj(`{"disk":1,"type":"v","device":"/dev/s a","extents":[]}`), "contains a space"},
		{"negative size", obj(`{"disk":1,"type":"f","device":"/dev/sda","size":-1,"extents":[]}`), "negative size"},
		{"negative offset", ext(`{"offset":-1,"length":10,"file_offset":0,"role":"data"}`), "line 2: object 0 (f /dev/sda1 /a): extent 0: negative offset -1"},
		{"zero length", ext(`{"offset":0,"length":0,"file_offset":0,"role":"data"}`), "extent 0: length 0"},
		{"negative length", ext(`{"offset":0,"length":-4,"file_offset":0,"role":"data"}`), "length -4"},
		{"overflow", ext(`{"offset":9223372036854775000,"length":1000,"file_offset":0,"role":"data"}`), "overflows"},
		{"file offset overflow", ext(`{"offset":0,"length":1000,"file_offset":9223372036854775000,"role":"data"}`), "file offset 9223372036854775000 + length 1000 overflows"},
		{"file offset -2", ext(`{"offset":0,"length":1,"file_offset":-2,"role":"data"}`), "file offset -2"},
		{"offset too big for int64", ext(`{"offset":9223372036854775808,"length":1}`), "line 2: object 0"},
		{"offset a string", ext(`{"offset":"0","length":1}`), "line 2: object 0"},
		{"disk index 0", `{"version":1,"disks":[{"index":0,"device":"/dev/sda","size":1}]}`, "disk 0: index 0"},
		{"disk twice", `{"version":1,"disks":[{"index":1,"size":1},{"index":1,"size":1}]}`, "index 1 appears twice"},
		{"disk negative size", `{"version":1,"disks":[{"index":1,"size":-1}]}`, "negative size"},
		{"objects not an array", `{"version":1,"objects":{}}`, "objects: want"},
		{"syntax error on line 3", "{\"version\":1,\n\"objects\":[\n{\"disk\":1,,}]}", "line 3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("err %v does not wrap ErrFormat", err)
			}
		})
	}
}
