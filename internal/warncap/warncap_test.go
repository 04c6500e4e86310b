package warncap

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type devErr struct {
	dev string
	err error
}

func (e *devErr) Error() string  { return e.dev + ": " + e.err.Error() }
func (e *devErr) Device() string { return e.dev }
func (e *devErr) Unwrap() error  { return e.err }

func TestLimiter(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, "virt-bmap: warning: ", 3)
	for i := range 8210 {
		l.Warn(&devErr{"/dev/sda1", fmt.Errorf("ext: inode %d at %#x: bad checksum", i+12, 0x1000+i*256)})
	}
	l.Warn(errors.New("/dev/sda2 at 0x100000: ntfs: MFT record 57: bad fixup"))
	l.Warn(errors.New("/dev/sda2 at 0x100000: ntfs: MFT record 58: bad fixup"))
	l.Warn(&devErr{"/dev/sdb1", errors.New("ext: inode 5 at 0x10: bad checksum")})
	l.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		"virt-bmap: warning: /dev/sda1: ext: inode 12 at 0x1000: bad checksum",
		"virt-bmap: warning: /dev/sda1: ext: inode 13 at 0x1100: bad checksum",
		"virt-bmap: warning: /dev/sda1: ext: inode 14 at 0x1200: bad checksum",
		"virt-bmap: warning: /dev/sda2 at 0x100000: ntfs: MFT record 57: bad fixup",
		"virt-bmap: warning: /dev/sda2 at 0x100000: ntfs: MFT record 58: bad fixup",
		"virt-bmap: warning: /dev/sdb1: ext: inode 5 at 0x10: bad checksum",
		"virt-bmap: warning: … and 8,207 more like this in /dev/sda1 (-v shows all)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if l.Total() != 8213 {
		t.Errorf("Total = %d", l.Total())
	}

	out.Reset()
	all := New(&out, "", -1)
	for i := range 10 {
		all.Warn(fmt.Errorf("block %d", i))
	}
	all.Flush()
	if n := strings.Count(out.String(), "\n"); n != 10 {
		t.Errorf("Max -1 printed %d lines, want 10", n)
	}
}

func TestShape(t *testing.T) {
	for _, c := range [][2]string{
		{`fat: "FOO.TXT" cluster 12 loops`, `fat: "…" cluster # loops`},
		{`/dev/sda1 at 0x100000: ext: /home/alice/x: extent past the end`, `/… at #: ext: /…: extent past the end`},
	} {
		if got := Shape(c[0]); got != c[1] {
			t.Errorf("Shape(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	if Thousands(8205) != "8,205" || Thousands(12) != "12" || Thousands(1234567) != "1,234,567" {
		t.Error("Thousands")
	}
}
