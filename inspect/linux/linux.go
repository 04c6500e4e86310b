// Package linux recognises a Linux root filesystem and reads the facts
// libguestfs' inspection gives about it (inspect-fs-unix.c): the
// distribution and its version from /etc/os-release (or
// /usr/lib/os-release), /etc/lsb-release and the distributions' own
// release files, the hostname, the architecture from the ELF header of a
// system binary, the osinfo short id, and /etc/fstab. Everything is read
// through io/fs, every file with a size cap. Mapping fstab's device names
// to the guest's devices is the caller's job: it knows the devices.
package linux

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"strings"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// MaxFile caps the bytes read from any configuration file.
const MaxFile = 1 << 20

// Info is what Inspect found on a Linux root.
type Info struct {
	Distro            string // libguestfs' name: "debian", "ubuntu", "fedora", "alpinelinux", "archlinux"...
	ProductName       string // PRETTY_NAME, or the release file's line
	ProductVariant    string // VARIANT from os-release
	MajorVersion      int
	MinorVersion      int
	BuildID           string
	Arch              string // "x86_64", "i386", "aarch64"...
	Hostname          string
	OSInfo            string // "debian12", "ubuntu22.04"...
	PackageFormat     string // "deb", "rpm", "apk", "pacman"...
	PackageManagement string // "apt", "dnf", "yum", "apk", "pacman"...
	Fstab             []FstabEntry
}

// IsRoot reports whether fsys looks like a Linux root: an /etc directory
// and either an os-release file, a distribution release file or an
// /etc/fstab, or else libguestfs' own test (daemon/inspect_fs.ml): a /bin
// directory (or /bin a link to usr/bin) and /etc/hosts. Every root
// libguestfs finds is found; so are roots without /bin that still name
// their distribution (a minimal tree, a subvolume under construction).
func IsRoot(fsys iofs.FS) bool {
	if fi, err := iofs.Stat(fsys, "etc"); err != nil || !fi.IsDir() {
		return false
	}
	if isFile(fsys, "etc/hosts") {
		if fi, err := iofs.Stat(fsys, "bin"); err == nil && fi.IsDir() {
			return true
		}
		if rl, ok := fsys.(iofs.ReadLinkFS); ok {
			if target, err := rl.ReadLink("bin"); err == nil && target == "usr/bin" {
				return true
			}
		}
	}
	for _, p := range []string{"etc/os-release", "usr/lib/os-release", "etc/fstab", "etc/lsb-release"} {
		if exists(fsys, p) {
			return true
		}
	}
	for _, r := range releaseTests {
		if exists(fsys, r.path) {
			return true
		}
	}
	return false
}

// Inspect reads the facts of the Linux root fsys. Missing files are not
// errors (the fact stays empty); a file that exists but cannot be read is
// passed to warn (may be nil).
func Inspect(fsys iofs.FS, warn func(error)) (*Info, error) {
	if warn == nil {
		warn = func(error) {}
	}
	read := func(name string) ([]byte, bool) {
		b, err := readFile(fsys, name)
		if err != nil {
			if !errors.Is(err, iofs.ErrNotExist) {
				warn(fmt.Errorf("linux: %w", err))
			}
			return nil, false
		}
		return b, true
	}
	info := &Info{}
	if !osRelease(info, read) {
		if !lsbRelease(info, read) {
			releaseFile(info, read)
		}
	}
	info.PackageFormat, info.PackageManagement = packaging(info.Distro, info.MajorVersion, exists(fsys, "usr/bin/dnf"))
	info.OSInfo = osinfoID(info.Distro, info.MajorVersion, info.MinorVersion)
	info.Hostname = hostname(read)
	info.Arch = arch(fsys, warn)
	info.Fstab = []FstabEntry{}
	if b, ok := read("etc/fstab"); ok {
		info.Fstab = ParseFstab(b)
	}
	return info, nil
}

// readFile reads name (relative to the root), following symbolic links.
func readFile(fsys iofs.FS, name string) ([]byte, error) {
	name, err := resolve(fsys, name)
	if err != nil {
		return nil, err
	}
	return app.ReadFile(fsys, name, MaxFile)
}

// maxLinkHops is how many symbolic links resolve follows (Linux's MAXSYMLINKS).
const maxLinkHops = 40

// resolve follows the symbolic links at the end of name through
// ReadLinkFS when fsys has it: a relative target from the link's
// directory, an absolute one from the root (the guest's root, not the
// host's), never above the root. Links in the middle of the path are left
// to fsys.Open. Without ReadLinkFS name is returned as it is.
func resolve(fsys iofs.FS, name string) (string, error) {
	rl, ok := fsys.(iofs.ReadLinkFS)
	if !ok {
		return name, nil
	}
	for hops := 0; ; hops++ {
		fi, err := rl.Lstat(name)
		if err != nil {
			return "", err
		}
		if fi.Mode()&iofs.ModeSymlink == 0 {
			return name, nil
		}
		if hops == maxLinkHops {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		t, err := rl.ReadLink(name)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join("/", path.Dir(name), t)
		}
		name = strings.TrimPrefix(path.Clean(t), "/")
		if name == "" {
			name = "."
		}
	}
}

// isFile reports whether name is a regular file, following links as
// exists does.
func isFile(fsys iofs.FS, name string) bool {
	name, err := resolve(fsys, name)
	if err != nil {
		return false
	}
	st, err := iofs.Stat(fsys, name)
	return err == nil && st.Mode().IsRegular()
}

// exists reports whether name exists, following links with resolve's
// hop limit (never through fsys's own Stat, which may have none).
func exists(fsys iofs.FS, name string) bool {
	name, err := resolve(fsys, name)
	if err != nil {
		return false
	}
	_, err = iofs.Stat(fsys, name)
	return err == nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}
