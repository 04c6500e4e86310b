package vhd

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// maxLocatorData bounds the bytes of one parent locator read: a path.
const maxLocatorData = 64 << 10

// parentNames returns the names a differencing disk gives its parent, in
// the order they are tried: the relative Windows path (W2ru), the
// absolute one (W2ku), the Mac OS X URL (MacX), then the parent's file
// name from the header. Windows names are turned to slash form
// (windowsName); the opener's policy decides which may be opened.
// Locators whose data lies outside the file are errors; unknown platform
// codes (and the old "Mac " alias records, "Wi2r" and "Wi2k") are
// skipped.
func parentNames(r io.ReaderAt, fileSize int64, h *dynHeader) ([]string, error) {
	var rel, abs, mac []string
	for i, l := range h.locators {
		code := string(l.code[:])
		if l.code == [4]byte{} || l.length == 0 {
			continue
		}
		var list *[]string
		switch code {
		case "W2ru":
			list = &rel
		case "W2ku":
			list = &abs
		case "MacX":
			list = &mac
		default:
			continue
		}
		what := fmt.Sprintf("parent locator %d (%s)", i, code)
		if l.length > maxLocatorData || l.offset > uint64(fileSize) || int64(l.length) > fileSize-int64(l.offset) {
			return nil, &diskerr.FormatError{FS: "vhd", Off: int64(min(l.offset, 1<<62)), What: what,
				Msg: fmt.Sprintf("%d bytes at %#x do not lie in the %d-byte file", l.length, l.offset, fileSize)}
		}
		b := make([]byte, l.length)
		if n, err := r.ReadAt(b, int64(l.offset)); n < len(b) {
			return nil, &diskerr.FormatError{FS: "vhd", Off: int64(l.offset), What: what, Msg: "reading", Err: err}
		}
		var name string
		if code == "MacX" {
			name = macName(b)
		} else {
			name = windowsName(utf16String(b, binary.LittleEndian))
		}
		if name != "" {
			*list = append(*list, name)
		}
	}
	names := append(append(rel, abs...), mac...)
	if h.parentName != "" {
		names = append(names, windowsName(h.parentName))
	}
	return names, nil
}

// windowsName turns a Windows path as a locator stores it into slash
// form, as qemu does for VHDX parent locators: backslashes become
// slashes, a "\\?\" prefix and a drive letter ("C:") are dropped (leaving
// an absolute path, which the chain policy refuses unless the user allows
// it), and a leading ".\" goes.
func windowsName(s string) string {
	s = strings.ReplaceAll(s, `\`, "/")
	s = strings.TrimPrefix(s, "//?/")
	if len(s) >= 2 && s[1] == ':' && (s[0]|0x20 >= 'a' && s[0]|0x20 <= 'z') {
		s = s[2:]
	}
	for strings.HasPrefix(s, "./") {
		s = s[2:]
	}
	return s
}

// macName turns a MacX locator (a UTF-8 file URL) into a path.
func macName(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return ""
	}
	s := string(b)
	s = strings.TrimPrefix(s, "file://")
	s = strings.TrimPrefix(s, "localhost")
	return s
}
