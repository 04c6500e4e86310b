package fat

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// direntSize is the size of every directory entry, short or long.
const direntSize = 32

// Attribute bits of a short entry.
const (
	attrReadOnly = 0x01
	attrHidden   = 0x02
	attrSystem   = 0x04
	attrVolume   = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLFN      = attrReadOnly | attrHidden | attrSystem | attrVolume
)

// NT reserved byte (offset 12) flags: the 8.3 base name or extension is
// shown in lower case (Windows NT and later, mtools and Linux write them
// for all-lower-case 8.3 names instead of a long name entry).
const (
	ntLowerBase = 0x08
	ntLowerExt  = 0x10
)

// maxLFNEntries is the most long-name entries one name can have: 20 x 13
// UTF-16 units hold the 255-unit maximum.
const maxLFNEntries = 20

// shortEntry is a decoded 8.3 directory entry.
type shortEntry struct {
	raw     [11]byte // name and extension as stored (0x05 first byte kept)
	attr    byte
	ntFlags byte
	cluster uint32 // first cluster (high half only on FAT32)
	size    uint32
}

func (e *shortEntry) isDir() bool { return e.attr&attrDir != 0 }

// isDot reports the "." and ".." entries.
func (e *shortEntry) isDot() bool {
	return string(e.raw[:]) == ".          " || string(e.raw[:]) == "..         "
}

// decodeShort decodes a 32-byte short entry; fat32 says whether the high
// 16 bits of the first cluster are used.
func decodeShort(b []byte, fat32 bool) shortEntry {
	var e shortEntry
	copy(e.raw[:], b[:11])
	e.attr = b[11]
	e.ntFlags = b[12]
	e.cluster = uint32(binary.LittleEndian.Uint16(b[26:]))
	if fat32 {
		e.cluster |= uint32(binary.LittleEndian.Uint16(b[20:])) << 16
		e.cluster &= 0x0FFFFFFF
	}
	e.size = binary.LittleEndian.Uint32(b[28:])
	return e
}

// name is the 8.3 name as a guest shows it without a long name: base and
// extension with their padding removed, joined by a dot when there is an
// extension, each part lower-cased when its NT flag says so, bytes above
// 0x7F decoded as code page 437.
func (e *shortEntry) name() string {
	raw := e.raw
	if raw[0] == 0x05 { // a name starting with 0xE5 (KANJI lead byte)
		raw[0] = 0xE5
	}
	base := strings.TrimRight(decodeOEM(raw[:8]), " ")
	ext := strings.TrimRight(decodeOEM(raw[8:11]), " ")
	if e.ntFlags&ntLowerBase != 0 {
		base = asciiLower(base)
	}
	if e.ntFlags&ntLowerExt != 0 {
		ext = asciiLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checksum is the long-name checksum of an 8.3 name as stored.
func checksum(raw [11]byte) byte {
	var s byte
	for _, c := range raw {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// lfnPart is one decoded long-name entry.
type lfnPart struct {
	ord   byte // sequence number, 1-based, 0x40 set on the last (first stored)
	sum   byte // checksum of the short name it belongs to
	units [13]uint16
}

func decodeLFN(b []byte) lfnPart {
	p := lfnPart{ord: b[0], sum: b[13]}
	for i := range 5 {
		p.units[i] = binary.LittleEndian.Uint16(b[1+2*i:])
	}
	for i := range 6 {
		p.units[5+i] = binary.LittleEndian.Uint16(b[14+2*i:])
	}
	for i := range 2 {
		p.units[11+i] = binary.LittleEndian.Uint16(b[28+2*i:])
	}
	return p
}

// lfnState gathers long-name entries until the short entry they precede.
type lfnState struct {
	active bool
	next   byte // sequence number expected next (0: complete)
	count  byte // entries of the name
	sum    byte
	units  [maxLFNEntries * 13]uint16
	broken string // why a sequence was dropped, for the next short entry
	off    int64  // offset of the sequence's first entry
}

func (s *lfnState) reset() { s.active, s.broken = false, "" }

// add takes one long-name entry at off.
func (s *lfnState) add(p lfnPart, off int64) {
	n := p.ord &^ 0x40
	switch {
	case p.ord&0x40 != 0:
		if s.active && s.next != 0 {
			s.broken = fmt.Sprintf("long name entries at %#x: sequence restarted before it ended", s.off)
		}
		if n == 0 || n > maxLFNEntries {
			s.active = false
			s.broken = fmt.Sprintf("long name entry at %#x: sequence number %d outside 1-%d", off, n, maxLFNEntries)
			return
		}
		s.active, s.count, s.next, s.sum, s.off = true, n, n, p.sum, off
	case !s.active || n != s.next || p.sum != s.sum:
		if s.active || s.broken == "" {
			s.broken = fmt.Sprintf("long name entry at %#x out of sequence (number %d)", off, n)
		}
		s.active = false
		return
	}
	copy(s.units[(n-1)*13:], p.units[:])
	s.next = n - 1
}

// take returns the long name for the short entry e when a complete
// sequence with the right checksum precedes it, or "" and a reason when a
// long name was present but unusable (reason "" when there was none).
// The state is reset.
func (s *lfnState) take(e *shortEntry) (name, reason string) {
	defer s.reset()
	if !s.active {
		return "", s.broken
	}
	if s.next != 0 {
		return "", fmt.Sprintf("long name entries at %#x: sequence incomplete", s.off)
	}
	if want := checksum(e.raw); want != s.sum {
		return "", fmt.Sprintf("long name entries at %#x: checksum %#02x, the 8.3 name's is %#02x", s.off, s.sum, want)
	}
	units := s.units[:int(s.count)*13]
	for i, u := range units {
		if u == 0 {
			units = units[:i]
			break
		}
	}
	if len(units) == 0 {
		return "", fmt.Sprintf("long name entries at %#x: empty name", s.off)
	}
	return lfnString(units), ""
}

// lfnString converts a long name to UTF-8. Unpaired surrogates become
// U+FFFD (utf16.Decode), and so do '/' and NUL, which cannot be part of a
// path component: the name stays printable and one component.
func lfnString(units []uint16) string {
	var b strings.Builder
	for _, r := range utf16.Decode(units) {
		if r == '/' || r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decodeOEM decodes 8.3 name bytes: ASCII as is, bytes above 0x7F as code
// page 437 (Linux's default codepage for vfat).
func decodeOEM(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	var s strings.Builder
	for _, c := range b {
		if c < 0x80 {
			s.WriteByte(c)
		} else {
			s.WriteRune(cp437[c-0x80])
		}
	}
	return s.String()
}

var cp437 = [128]rune([]rune(
	"ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»" +
		"░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
		"αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"))
