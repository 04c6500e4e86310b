package vhdx

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// parentLocator is the VHDX parent locator (MS-VHDX 2.6.2.6): key/value
// pairs in UTF-16LE.
type parentLocator struct {
	linkage  guid     // the parent's DataWriteGuid
	linkage2 guid     // another accepted one, when present
	names    []string // relative_path, then absolute_win32_path, in slash form
}

// parseLocator decodes the parent locator item read at off: its type must
// be the VHDX one, every key and value must lie in the item, and
// parent_linkage must be a GUID. The names are tried in this order:
// relative_path, absolute_win32_path (volume_path, a \\?\Volume{GUID}
// name, cannot be resolved on this host and is skipped).
func parseLocator(b []byte, off int64) (*parentLocator, error) {
	ferr := func(msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: off, What: "parent locator", Msg: msg}
	}
	le := binary.LittleEndian
	var typ guid
	copy(typ[:], b)
	if typ != locatorTypeVHDX {
		return nil, ferr(fmt.Sprintf("locator type %s is not the VHDX one", typ))
	}
	n := int(le.Uint16(b[18:]))
	if 20+12*n > len(b) {
		return nil, ferr(fmt.Sprintf("%d entries do not fit in %d bytes", n, len(b)))
	}
	kv := map[string]string{}
	for i := range n {
		e := b[20+12*i:]
		ko, vo := int64(le.Uint32(e)), int64(le.Uint32(e[4:]))
		kl, vl := int64(le.Uint16(e[8:])), int64(le.Uint16(e[10:]))
		if ko+kl > int64(len(b)) || vo+vl > int64(len(b)) || kl%2 != 0 || vl%2 != 0 {
			return nil, ferr(fmt.Sprintf("entry %d lies outside the locator", i))
		}
		kv[utf16le(b[ko:ko+kl])] = utf16le(b[vo : vo+vl])
	}
	l := &parentLocator{}
	var ok bool
	if l.linkage, ok = parseGUID(kv["parent_linkage"]); !ok {
		return nil, ferr(fmt.Sprintf("parent_linkage %q is not a GUID", kv["parent_linkage"]))
	}
	l.linkage2, _ = parseGUID(kv["parent_linkage2"])
	for _, k := range []string{"relative_path", "absolute_win32_path"} {
		if v := chain.WindowsName(kv[k]); v != "" {
			l.names = append(l.names, v)
		}
	}
	if len(l.names) == 0 {
		return nil, ferr("names no parent path (relative_path, absolute_win32_path)")
	}
	return l, nil
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}
