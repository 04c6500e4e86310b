// Package rpm lists the packages installed on an rpm-based guest (Fedora,
// RHEL, SUSE...) from rpm's database, which holds one rpm header per
// package (header.go decodes them) in one of three containers:
//   - rpmdb.sqlite (Fedora 33+, RHEL 9+): a SQLite file with a table
//     Packages (hnum INTEGER PRIMARY KEY, blob BLOB). sqlite.go is a small
//     read-only SQLite reader (header, schema, table B-tree walk,
//     overflow chains) and wal.go applies the write-ahead log.
//   - Packages (RHEL/CentOS up to 8, SLES up to 12, old Fedora): a
//     Berkeley DB hash database, read by bdb*.go.
//   - Packages.db (SUSE 15+): rpm's own ndb format, read by ndb.go; no
//     program here writes it, so it is tested against our reading of
//     rpm's source only.
//
// The readers are written here because the Go rpm database reader
// (github.com/knqyf263/go-rpmdb) is not available to us, and a SQLite or
// Berkeley DB library would mean cgo or a large transpiled module for a
// read of one table.
package rpm

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sort"
	"strings"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// Database locations, relative to the root: /var/lib/rpm is the classic
// one, /usr/lib/sysimage/rpm the newer (on Fedora the former is a link to
// the latter).
var dbDirs = []string{"var/lib/rpm", "usr/lib/sysimage/rpm"}

// MaxDB caps the bytes of a database read into memory when the guest's
// file cannot be read at random offsets (a desktop's rpmdb.sqlite is about
// 100 MiB), and the bytes of headers read from a Berkeley DB file, whose
// items could otherwise share overflow chains to make more.
const MaxDB = 1 << 30

// ErrUnsupported is wrapped by the error for a database format this
// package recognises but does not read.
var ErrUnsupported = errors.New("not supported yet")

// Installed returns the packages in the rpm database of the guest whose
// root filesystem is fsys, sorted by name then architecture. gpg-pubkey
// entries (the signing keys rpm --import records as pseudo-packages) are
// skipped: they are not installed software. libguestfs (1.48, through
// librpm) lists them; its oracle test has an allowance for that. A
// package whose header is broken is reported to warn (if not nil) and
// skipped.
func Installed(fsys iofs.FS, warn func(error)) ([]app.Application, error) {
	if warn == nil {
		warn = func(error) {}
	}
	// The newest format first: a guest converted from Berkeley DB to
	// SQLite (Fedora 33 and later, RHEL 9) may keep its old Packages.
	for _, db := range dbFormats {
		for _, dir := range dbDirs {
			name := dir + "/" + db.file
			f, err := fsys.Open(name)
			if err != nil {
				continue
			}
			defer f.Close()
			r, size, err := readerAt(f, name)
			if err != nil {
				return []app.Application{}, fmt.Errorf("rpm: %w", err)
			}
			apps, err := db.read(fsys, name, r, size, warn)
			sortApps(apps)
			if err != nil {
				err = fmt.Errorf("rpm: %s: %w", name, err)
			}
			return apps, err
		}
	}
	return []app.Application{}, fmt.Errorf("rpm: no rpm database in %s: %w", strings.Join(dbDirs, " or "), iofs.ErrNotExist)
}

// dbFormats are the database formats in the order Installed looks for
// them: the first file found is read, the others are not looked at.
var dbFormats = []struct {
	file string
	read func(fsys iofs.FS, name string, r io.ReaderAt, size int64, warn func(error)) ([]app.Application, error)
}{
	{"rpmdb.sqlite", readSQLite},
	{"Packages", readBDB},
	{"Packages.db", readNDB},
}

// readSQLite lists the packages of rpmdb.sqlite, with its write-ahead
// log applied when there is one.
func readSQLite(fsys iofs.FS, name string, r io.ReaderAt, size int64, warn func(error)) ([]app.Application, error) {
	db, err := openSQLite(r, size)
	if err != nil {
		return []app.Application{}, err
	}
	if err := loadWAL(db, fsys, name+"-wal"); err != nil {
		warn(fmt.Errorf("rpm: %s-wal: %w (recent changes may be missing)", name, err))
	}
	return packages(db, warn)
}

// readBDB lists the packages of a Berkeley DB Packages file.
func readBDB(_ iofs.FS, name string, r io.ReaderAt, size int64, warn func(error)) ([]app.Application, error) {
	db, err := openBDB(r, size)
	if err != nil {
		return []app.Application{}, err
	}
	apps := []app.Application{}
	err = db.walk(func(key uint32, at int64, blob []byte) {
		apps = addApp(apps, blob, fmt.Sprintf("%s: package %d (item at %#x)", name, key, at), warn)
	}, func(err error) { warn(fmt.Errorf("rpm: %s: %w", name, err)) })
	return apps, err
}

// readNDB lists the packages of an ndb Packages.db.
func readNDB(_ iofs.FS, name string, r io.ReaderAt, size int64, warn func(error)) ([]app.Application, error) {
	db, err := openNDB(r, size)
	if err != nil {
		return []app.Application{}, err
	}
	apps := []app.Application{}
	err = db.walk(func(pkgidx uint32, at int64, blob []byte) {
		apps = addApp(apps, blob, fmt.Sprintf("%s: package %d (blob at %#x)", name, pkgidx, at), warn)
	}, func(err error) { warn(fmt.Errorf("rpm: %s: %w", name, err)) })
	return apps, err
}

// readerAt gives random access to f: directly when the file offers it,
// else by reading it whole (up to MaxDB bytes).
func readerAt(f iofs.File, name string) (io.ReaderAt, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, st.Size(), nil
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxDB+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxDB {
		return nil, 0, fmt.Errorf("%s: longer than %d bytes", name, MaxDB)
	}
	return strings.NewReader(string(b)), int64(len(b)), nil
}

// packages reads every header of the Packages table.
func packages(db *sqliteDB, warn func(error)) ([]app.Application, error) {
	root, err := db.tableRoot("Packages")
	if err != nil {
		return []app.Application{}, err
	}
	apps := []app.Application{}
	err = db.walkTable(root, func(rowid int64, rec []byte) error {
		vals, err := db.parseRecord(rec)
		if err == nil && len(vals) < 2 {
			err = fmt.Errorf("record has %d columns, want 2", len(vals))
		}
		var blob []byte
		if err == nil {
			var ok bool
			if blob, ok = vals[1].([]byte); !ok {
				err = fmt.Errorf("blob column is %T", vals[1])
			}
		}
		if err != nil {
			warn(fmt.Errorf("rpm: Packages row %d: %w", rowid, err))
			return nil
		}
		apps = addApp(apps, blob, fmt.Sprintf("Packages row %d", rowid), warn)
		return nil
	})
	return apps, err
}

// addApp decodes the header blob and appends its package to apps, unless
// it is an imported signing key (gpg-pubkey) or cannot be named. A
// broken header is reported to warn, naming it by where.
func addApp(apps []app.Application, blob []byte, where string, warn func(error)) []app.Application {
	a, err := application(blob)
	if err != nil {
		warn(fmt.Errorf("rpm: %s: %w", where, err))
	}
	if a.Name != "" && a.Name != "gpg-pubkey" {
		apps = append(apps, a)
	}
	return apps
}

// sortApps sorts by name then architecture.
func sortApps(apps []app.Application) {
	sort.SliceStable(apps, func(i, j int) bool {
		if apps[i].Name != apps[j].Name {
			return apps[i].Name < apps[j].Name
		}
		return apps[i].Arch < apps[j].Arch
	})
}

// application decodes the fields libguestfs reports from one header. A
// broken optional field is left empty and reported in err beside a
// usable a; a.Name is empty when the package cannot be named.
func application(blob []byte) (app.Application, error) {
	var a app.Application
	h, err := ParseHeader(blob)
	if err != nil {
		return a, err
	}
	var errs []error
	str := func(tag int32) string {
		s, _, err := h.String(tag)
		if err != nil {
			errs = append(errs, err)
		}
		return s
	}
	a.Name = str(TagName)
	a.Version = str(TagVersion)
	a.Release = str(TagRelease)
	a.Arch = str(TagArch)
	a.URL = str(TagURL)
	a.Summary = str(TagSummary)
	a.Description = str(TagDescription)
	a.SourcePackage = SourceName(str(TagSourceRPM))
	e, _, err := h.Int32(TagEpoch)
	if err != nil {
		errs = append(errs, err)
	}
	a.Epoch = int(e)
	if a.Name == "" && len(errs) == 0 {
		errs = append(errs, errors.New("rpm header: no package name"))
	}
	return a, errors.Join(errs...)
}

// SourceName gives the source package's name from a SOURCERPM value,
// "bash-5.2.26-3.fc40.src.rpm" → "bash": the file name less its
// ".src.rpm" (or ".nosrc.rpm") and its "-version-release".
func SourceName(srpm string) string {
	s, ok := strings.CutSuffix(srpm, ".src.rpm")
	if !ok {
		if s, ok = strings.CutSuffix(srpm, ".nosrc.rpm"); !ok {
			return ""
		}
	}
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
