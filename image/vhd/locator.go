package vhd

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// maxLocatorData bounds the bytes of one parent locator read: a path.
const maxLocatorData = 64 << 10

// parentNames returns the names a differencing disk gives its parent, in
// the order they are tried: the relative Windows path (W2ru), the
// absolute one (W2ku), the Mac OS X URL (MacX), then the parent's file
// name from the header. Windows names are turned to slash form
// (chain.WindowsName); the opener's policy decides which may be opened.
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
			name = chain.WindowsName(utf16String(b, binary.LittleEndian))
		}
		if name != "" {
			*list = append(*list, name)
		}
	}
	names := append(append(rel, abs...), mac...)
	if h.parentName != "" {
		names = append(names, chain.WindowsName(h.parentName))
	}
	return names, nil
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
