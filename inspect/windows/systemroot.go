package windows

import (
	"bufio"
	"io"
	iofs "io/fs"
	"path"
	"strings"
)

// systemRootCandidates are the directories libguestfs tries, in order,
// matched case-insensitively, before boot.ini.
var systemRootCandidates = []string{"Windows", "WINNT", "WIN32", "WIN"}

// maxBootIni caps how much of boot.ini is read.
const maxBootIni = 64 << 10

// SystemRoot returns the Windows system root of fsys as a path relative
// to its root with the names as stored ("Windows", "WINNT"): the first of
// /Windows, /WINNT, /WIN32, /WIN (matched case-insensitively), else the
// directory named by boot.ini's default= entry, that holds
// System32/config/SOFTWARE and System32/config/SYSTEM. It returns
// ErrNotWindows when there is none.
func SystemRoot(fsys iofs.FS) (string, error) {
	for _, c := range systemRootCandidates {
		if root, ok := checkRoot(fsys, c); ok {
			return root, nil
		}
	}
	if name, ok := lookupFold(fsys, "boot.ini"); ok {
		if dir := bootIniRoot(fsys, name); dir != "" {
			if root, ok := checkRoot(fsys, dir); ok {
				return root, nil
			}
		}
	}
	return "", ErrNotWindows
}

// checkRoot resolves dir case-insensitively and reports whether it holds
// both hives.
func checkRoot(fsys iofs.FS, dir string) (string, bool) {
	root, ok := lookupFold(fsys, dir)
	if !ok {
		return "", false
	}
	st, err := iofs.Stat(fsys, root)
	if err != nil || !st.IsDir() {
		return "", false
	}
	for _, h := range []string{"SOFTWARE", "SYSTEM"} {
		p, ok := lookupFold(fsys, path.Join(root, "System32/config", h))
		if !ok {
			return "", false
		}
		if st, err := iofs.Stat(fsys, p); err != nil || !st.Mode().IsRegular() {
			return "", false
		}
	}
	return root, true
}

// bootIniRoot returns the system root directory that boot.ini's
// "default=multi(0)disk(0)rdisk(0)partition(1)\WINDOWS" names ("WINDOWS"),
// or "".
func bootIniRoot(fsys iofs.FS, name string) string {
	f, err := fsys.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	return parseBootIni(io.LimitReader(f, maxBootIni))
}

// parseBootIni returns the directory of the default= line of a boot.ini.
func parseBootIni(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "default") {
			continue
		}
		v = strings.TrimSpace(v)
		i := strings.LastIndexByte(v, ')')
		if i < 0 {
			return ""
		}
		dir := strings.Trim(strings.ReplaceAll(v[i+1:], `\`, "/"), "/")
		if dir == "" || !iofs.ValidPath(dir) {
			return ""
		}
		return dir
	}
	return ""
}

// lookupFold resolves name (slash-separated, relative) in fsys matching
// each component case-insensitively, an exact match first, and returns
// the path with the names as stored.
func lookupFold(fsys iofs.FS, name string) (string, bool) {
	if _, err := iofs.Stat(fsys, name); err == nil {
		// The filesystem may match case-insensitively itself (ntfs,
		// fat): ask it for the stored names component by component
		// only if a component's Stat name differs.
		if stored, ok := storedNames(fsys, name); ok {
			return stored, true
		}
	}
	dir := "."
	for _, comp := range strings.Split(name, "/") {
		ents, err := iofs.ReadDir(fsys, dir)
		if err != nil {
			return "", false
		}
		found := ""
		for _, e := range ents {
			if e.Name() == comp {
				found = comp
				break
			}
			if found == "" && strings.EqualFold(e.Name(), comp) {
				found = e.Name()
			}
		}
		if found == "" {
			return "", false
		}
		dir = path.Join(dir, found)
	}
	return dir, true
}

// storedNames returns name with each component replaced by the name its
// FileInfo reports (the stored name on case-insensitive filesystems).
func storedNames(fsys iofs.FS, name string) (string, bool) {
	comps := strings.Split(name, "/")
	out := make([]string, 0, len(comps))
	for i := range comps {
		st, err := iofs.Stat(fsys, strings.Join(comps[:i+1], "/"))
		if err != nil {
			return "", false
		}
		if !strings.EqualFold(st.Name(), comps[i]) {
			// An 8.3 alias or other name: keep what was asked for.
			out = append(out, comps[i])
			continue
		}
		out = append(out, st.Name())
	}
	return strings.Join(out, "/"), true
}
