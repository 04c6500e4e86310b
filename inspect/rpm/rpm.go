// Package rpm lists the packages installed on an rpm-based guest (Fedora,
// RHEL, SUSE...) from rpm's database. The modern database is a SQLite file,
// rpmdb.sqlite, with a table Packages (hnum INTEGER PRIMARY KEY, blob BLOB)
// holding one rpm header per package. sqlite.go is a small read-only
// SQLite reader (header, schema, table B-tree walk, overflow chains, the
// write-ahead log) and header.go the rpm header decoder, written here
// because the Go rpm database reader (github.com/knqyf263/go-rpmdb) is not
// available to us and a SQLite library would mean cgo or a large
// transpiled module for a read of one table. The older Berkeley DB
// (Packages) and SUSE's ndb (Packages.db) formats are recognised and
// refused with an error naming them.
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
// 100 MiB).
const MaxDB = 1 << 30

// ErrUnsupported is wrapped by the error for a database format this
// package recognises but does not read.
var ErrUnsupported = errors.New("not supported yet")

// Installed returns the packages in the rpm database of the guest whose
// root filesystem is fsys, sorted by name then architecture. gpg-pubkey
// entries (imported signing keys) are skipped, as libguestfs does. A
// package whose header is broken is reported to warn (if not nil) and
// skipped.
func Installed(fsys iofs.FS, warn func(error)) ([]app.Application, error) {
	for _, dir := range dbDirs {
		name := dir + "/rpmdb.sqlite"
		f, err := fsys.Open(name)
		if err != nil {
			continue
		}
		defer f.Close()
		r, size, err := readerAt(f, name)
		if err != nil {
			return []app.Application{}, fmt.Errorf("rpm: %w", err)
		}
		db, err := openSQLite(r, size)
		if err != nil {
			return []app.Application{}, fmt.Errorf("rpm: %s: %w", name, err)
		}
		if err := loadWAL(db, fsys, name+"-wal"); err != nil && warn != nil {
			warn(fmt.Errorf("rpm: %s-wal: %w (recent changes may be missing)", name, err))
		}
		apps, err := packages(db, warn)
		if err != nil {
			err = fmt.Errorf("rpm: %s: %w", name, err)
		}
		return apps, err
	}
	for _, dir := range dbDirs {
		for _, db := range []struct{ file, format string }{{"Packages", "Berkeley DB"}, {"Packages.db", "ndb"}} {
			if _, err := iofs.Stat(fsys, dir+"/"+db.file); err == nil {
				return []app.Application{}, fmt.Errorf("rpm: %s/%s: %s rpm database: %w", dir, db.file, db.format, ErrUnsupported)
			}
		}
	}
	return []app.Application{}, fmt.Errorf("rpm: no rpm database in %s: %w", strings.Join(dbDirs, " or "), iofs.ErrNotExist)
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
		var a app.Application
		if err == nil {
			a, err = application(blob)
		}
		if err != nil && warn != nil {
			warn(fmt.Errorf("rpm: Packages row %d: %w", rowid, err))
		}
		if a.Name != "" && a.Name != "gpg-pubkey" {
			apps = append(apps, a)
		}
		return nil
	})
	sort.SliceStable(apps, func(i, j int) bool {
		if apps[i].Name != apps[j].Name {
			return apps[i].Name < apps[j].Name
		}
		return apps[i].Arch < apps[j].Arch
	})
	return apps, err
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
