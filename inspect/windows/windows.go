// Package windows inspects a Windows installation from its system
// volume, read by path through io/fs (fs/ntfs, fs/fat): the system root
// (/Windows, /WINNT, ... or boot.ini), the product, version, build and
// variant from the SOFTWARE hive, the hostname and drive letters from the
// SYSTEM hive, the architecture from the PE header of ntoskrnl.exe or
// cmd.exe, and the installed applications from the Uninstall keys (64-
// and 32-bit), with the names and values libguestfs' inspection gives.
//
// Hives are read with www.velocidex.com/golang/regparser, through a small
// guard layer (hive.go): regparser follows offsets from the file without
// bounds on recursion or counts, so subkey indexes are walked here with
// caps on depth and number, value lists and value sizes are capped before
// regparser reads them, and a panic inside regparser is recovered and
// returned as an error.
package windows

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
)

// ErrNotWindows is returned by Inspect when the filesystem has no
// Windows system root (no candidate directory holding
// System32/config/SOFTWARE and SYSTEM).
var ErrNotWindows = errors.New("windows: no Windows system root")

// Info is what Inspect finds on a Windows system volume. String fields
// are "" when unknown.
type Info struct {
	SystemRoot       string // "/Windows", as named on the volume
	ProductName      string // ProductName: "Windows 10 Pro"
	ProductVariant   string // InstallationType, as libguestfs: "Client", "Server"
	EditionID        string // EditionID: "Professional"
	InstallationType string // InstallationType
	BuildID          string // CurrentBuildNumber: "19045"
	Major, Minor     int    // CurrentMajor/MinorVersionNumber, else CurrentVersion
	OSInfo           string // libosinfo short id: "win10", "win2k19"; "" if none
	Arch             string // "i386", "x86_64", "aarch64"; "" if unknown
	Hostname         string
	ControlSet       string        // SYSTEM\Select\Current as a key name: "ControlSet001"
	DriveLetters     []DriveLetter // from SYSTEM\MountedDevices, sorted by letter
	Applications     []Application // from the Uninstall keys, in hive order
}

// Inspect reads the Windows facts from fsys, the system volume. It
// returns ErrNotWindows (and a nil Info) when there is no system root.
// Otherwise Info is non-nil and holds everything that could be read; a
// non-nil error then reports (errors.Join) the parts that could not be
// (a malformed hive, a corrupt PE header), each naming its file.
func Inspect(fsys iofs.FS) (*Info, error) {
	root, err := SystemRoot(fsys)
	if err != nil {
		return nil, err
	}
	info := &Info{SystemRoot: "/" + root, DriveLetters: []DriveLetter{}, Applications: []Application{}}
	var errs []error

	swPath := path.Join(root, "System32/config/SOFTWARE")
	if err := withFile(fsys, swPath, func(r io.ReaderAt, size int64) error {
		h, err := openHive(r, size)
		if err != nil {
			return err
		}
		sw, err := readSoftware(h)
		if err != nil {
			return err
		}
		info.ProductName = sw.ProductName
		info.ProductVariant = sw.InstallationType
		info.InstallationType = sw.InstallationType
		info.EditionID = sw.EditionID
		info.BuildID = sw.BuildID
		info.Major, info.Minor = sw.Major, sw.Minor
		info.OSInfo = OSInfo(sw.Major, sw.Minor, sw.InstallationType, sw.BuildID, sw.ProductName)
		apps, err := readApplications(h)
		info.Applications = apps
		return err
	}); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		errs = append(errs, err) // a missing hive only means fewer facts, as in libguestfs
	}

	sysPath := path.Join(root, "System32/config/SYSTEM")
	if err := withFile(fsys, sysPath, func(r io.ReaderAt, size int64) error {
		h, err := openHive(r, size)
		if err != nil {
			return err
		}
		sys, err := readSystem(h)
		info.Hostname = sys.Hostname
		info.ControlSet = sys.ControlSet
		info.DriveLetters = sys.DriveLetters
		return err
	}); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		errs = append(errs, err) // a missing hive only means fewer facts, as in libguestfs
	}

	arch, err := Arch(fsys, root)
	info.Arch = arch
	if err != nil {
		errs = append(errs, err)
	}
	return info, errors.Join(errs...)
}

// maxInMemory caps the size of a file read into memory when the io/fs
// file is not an io.ReaderAt.
const maxInMemory = 256 << 20

// withFile opens name (already resolved) and calls fn with it as an
// io.ReaderAt; errors are prefixed with the path.
func withFile(fsys iofs.FS, name string, fn func(io.ReaderAt, int64) error) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("windows: /%s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("windows: /%s: %w", name, err)
	}
	var r io.ReaderAt
	if ra, ok := f.(io.ReaderAt); ok {
		r = ra
	} else {
		if st.Size() > maxInMemory {
			return fmt.Errorf("windows: /%s: %d bytes, more than %d to read into memory", name, st.Size(), maxInMemory)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxInMemory))
		if err != nil {
			return fmt.Errorf("windows: /%s: %w", name, err)
		}
		r = bytesReaderAt(b)
	}
	if err := fn(r, st.Size()); err != nil {
		return fmt.Errorf("windows: /%s: %w", name, err)
	}
	return nil
}

// bytesReaderAt is an io.ReaderAt over a byte slice.
type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
