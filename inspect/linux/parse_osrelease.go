package linux

import (
	"strings"
)

// ParseOSRelease reads the shell-like KEY=VALUE assignments of
// os-release(5) (and of /etc/lsb-release): values may be unquoted, or in
// double or single quotes with backslash escapes in double quotes;
// comments and malformed lines are skipped. Later keys win.
func ParseOSRelease(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			continue
		}
		m[k] = unquote(v)
	}
	return m
}

func unquote(v string) string {
	if len(v) >= 1 && (v[0] == '"' || v[0] == '\'') {
		q := v[0]
		var sb strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			if c == q {
				break
			}
			if q == '"' && c == '\\' && i+1 < len(v) {
				i++
				c = v[i]
			}
			sb.WriteByte(c)
		}
		return sb.String()
	}
	return strings.TrimSpace(v)
}
