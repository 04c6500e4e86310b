package vhdx

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// guid is a GUID as VHDX stores it: the first three fields little-endian,
// the last eight bytes as they are (Microsoft's GUID layout).
type guid [16]byte

// mustGUID parses the text form "2DC27766-F623-4200-9D64-115E9BFD4A08".
func mustGUID(s string) guid {
	g, ok := parseGUID(s)
	if !ok {
		panic("vhdx: bad GUID literal " + s)
	}
	return g
}

// parseGUID parses a GUID in text form, with or without braces, in any
// case.
func parseGUID(s string) (guid, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	var g guid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	if err != nil {
		return g, false
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g, true
}

func (g guid) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}

func (g guid) isZero() bool { return g == guid{} }

// The GUIDs of the regions and metadata items this package knows
// (MS-VHDX 2.2.3.1 and 2.6.2).
var (
	regionBAT      = mustGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	regionMetadata = mustGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")

	metaFileParameters = mustGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	metaVirtualSize    = mustGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	metaPage83         = mustGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	metaLogicalSector  = mustGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	metaPhysicalSector = mustGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	metaParentLocator  = mustGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")

	locatorTypeVHDX = mustGUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")
)
