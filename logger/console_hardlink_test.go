package logger

import (
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// TestHardLinkOneLine: a read of a file with three names (NTFS hard links,
// one in WinSxS) prints one line, under the name outside WinSxS, whichever
// name the map lists first; another file in the same read keeps its line.
func TestHardLinkOneLine(t *testing.T) {
	obj := func(path string, ino uint64) *bmap.Object {
		return &bmap.Object{Disk: 1, Kind: bmap.KindFile, Device: "/dev/sda3", Path: path, Inode: ino}
	}
	sxs := obj("/Windows/WinSxS/amd64_notepad_31bf3856/notepad.exe", 57)
	sys32 := obj("/Windows/System32/notepad.exe", 57)
	win := obj("/Windows/notepad.exe", 57)
	other := obj("/Windows/System32/calc.exe", 58)
	ev := &Event{Off: 0x1000, Len: 8192, Objects: []Object{
		{Object: sxs, Off: 0x1000, Len: 4096, FileOff: 0},
		{Object: sys32, Off: 0x1000, Len: 4096, FileOff: 0},
		{Object: win, Off: 0x1000, Len: 4096, FileOff: 0},
		{Object: other, Off: 0x2000, Len: 4096, FileOff: 0},
	}}
	lines := Lines(nil, ev)
	if len(lines) != 2 || lines[0] != win || lines[1] != other {
		var got []string
		for _, l := range lines {
			got = append(got, l.Path)
		}
		t.Fatalf("lines %q, want /Windows/notepad.exe then calc.exe", got)
	}
	if !preferredName("/Windows/System32/notepad.exe", "/Windows/WinSxS/x/notepad.exe") ||
		preferredName("/Windows/WinSxS/n.exe", "/Windows/System32/drivers/etc/long/notepad.exe") {
		t.Error("preferredName: a WinSxS name must lose to any other")
	}
}

// TestInWinSxS: the search without allocation says what
// strings.Contains(strings.ToLower(p), "/winsxs/") says.
func TestInWinSxS(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/Windows/WinSxS/amd64_microsoft-windows-notepad/notepad.exe", true},
		{"/windows/winsxs/a", true},
		{"/WINSXS/x", true},
		{"/x/WinSxS/", true},
		{"//winsxs/", true},
		{"/Windows/System32/notepad.exe", false},
		{"/Windows/WinSxS", false},
		{"/a/notwinsxs/b", false},
		{"/a/winsxsx/b", false},
		{"winsxs/a", false},
		{"/", false},
		{"", false},
	} {
		if got := inWinSxS(tc.path); got != tc.want {
			t.Errorf("inWinSxS(%q) = %v, want %v", tc.path, got, tc.want)
		}
		if ref := strings.Contains(strings.ToLower(tc.path), "/winsxs/"); ref != tc.want {
			t.Errorf("table wrong for %q", tc.path)
		}
	}
}
