package windows

import (
	"bufio"
	"io"
	iofs "io/fs"
	"path"
	"regexp"
	"strings"
)

// systemRootCandidates are the directories libguestfs tries, in order,
// matched case-insensitively, before boot.ini
// (daemon/inspect_fs_windows.ml: systemroot_paths).
var systemRootCandidates = []string{"windows", "winnt", "win32", "win", "reactos"}

// maxBootIni caps how much of boot.ini is read.
const maxBootIni = 64 << 10

// SystemRoot returns the Windows system root of fsys as a path relative
// to its root with the names as stored ("Windows", "WINNT"): the first of
// /windows, /winnt, /win32, /win, /reactos (matched case-insensitively),
// else the first directory boot.ini's [operating systems] lines name,
// that is a system root as libguestfs' is_systemroot has it: a
// System32 directory holding a config directory and cmd.exe. (The hives
// in config are read when they are there; a root without them is still
// Windows, with fewer facts.) It returns ErrNotWindows when there is
// none.
func SystemRoot(fsys iofs.FS) (string, error) {
	for _, c := range systemRootCandidates {
		if root, ok := checkRoot(fsys, c); ok {
			return root, nil
		}
	}
	if name, ok := lookupFold(fsys, "boot.ini"); ok {
		for _, dir := range bootIniRoots(fsys, name) {
			if root, ok := checkRoot(fsys, dir); ok {
				return root, nil
			}
		}
	}
	return "", ErrNotWindows
}

// checkRoot resolves dir case-insensitively and reports whether it is a
// system root: System32 and System32/config directories and a
// System32/cmd.exe file.
func checkRoot(fsys iofs.FS, dir string) (string, bool) {
	root, ok := lookupFold(fsys, dir)
	if !ok {
		return "", false
	}
	for _, c := range []struct {
		name string
		dir  bool
	}{{"", true}, {"System32", true}, {"System32/config", true}, {"System32/cmd.exe", false}} {
		p, ok := lookupFold(fsys, path.Join(root, c.name))
		if !ok {
			return "", false
		}
		st, err := iofs.Stat(fsys, p)
		if err != nil || st.IsDir() != c.dir || (!c.dir && !st.Mode().IsRegular()) {
			return "", false
		}
	}
	return root, true
}

// bootIniRoots returns the system root directories boot.ini's
// [operating systems] section names, in order.
func bootIniRoots(fsys iofs.FS, name string) []string {
	f, err := fsys.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseBootIni(io.LimitReader(f, maxBootIni))
}

// bootIniOS is libguestfs' re_boot_ini_os: an [operating systems] line
// such as multi(0)disk(0)rdisk(0)partition(1)\WINDOWS="Windows XP".
var bootIniOS = regexp.MustCompile(`^(multi|scsi)\((\d+)\)disk\((\d+)\)rdisk\((\d+)\)partition\((\d+)\)([^=]+)=`)

// parseBootIni returns the directories of the lines that follow
// "[operating systems]" and start with multi( or scsi(, up to the first
// line that does not, as libguestfs reads them. The partition numbers are
// ignored: the system root is taken to be on the filesystem at hand, as
// there.
func parseBootIni(r io.Reader) []string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "[operating systems]") {
			break
		}
	}
	var dirs []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasPrefix(line, "multi(") && !strings.HasPrefix(line, "scsi(") {
			break
		}
		m := bootIniOS.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dir := strings.Trim(strings.ReplaceAll(m[6], `\`, "/"), "/")
		if dir != "" && iofs.ValidPath(dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
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
