package linux

import (
	"strings"
)

// FstabEntry is one line of /etc/fstab.
type FstabEntry struct {
	Spec    string // "UUID=...", "LABEL=...", "PARTUUID=...", "/dev/sda1", "/dev/mapper/vg-root"...
	File    string // mount point, "none" or "swap" for swap
	VfsType string
	Options string
}

// maxFstabEntries caps the entries kept from one fstab.
const maxFstabEntries = 4096

// ParseFstab reads fstab(5): whitespace-separated fields, '#' comments,
// octal escapes (\040 for a space) in the first two fields. Lines with
// fewer than two fields are skipped.
func ParseFstab(b []byte) []FstabEntry {
	out := []FstabEntry{}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		e := FstabEntry{Spec: unescapeOctal(f[0]), File: unescapeOctal(f[1])}
		if len(f) > 2 {
			e.VfsType = f[2]
		}
		if len(f) > 3 {
			e.Options = f[3]
		}
		out = append(out, e)
		if len(out) == maxFstabEntries {
			break
		}
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			sb.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }
