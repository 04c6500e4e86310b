package rpm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// qaFormat is the oracle's query format; rpmqa.txt holds its output for
// testdata/rpmdb.sqlite.gz (testdata/mkrpmdb.sh).
const qaFormat = `%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{URL}|%{SUMMARY}|%{SOURCERPM}\n`

func testDB(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open("testdata/rpmdb.sqlite.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// qaLine formats a as rpm -qa does with qaFormat ("(none)" for absent).
func qaLine(a app.Application, srpm string) string {
	none := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	return fmt.Sprintf("%s|%d|%s|%s|%s|%s|%s|%s", a.Name, a.Epoch, a.Version, a.Release, none(a.Arch), none(a.URL), a.Summary, srpm)
}

// compareQA checks apps against rpm -qa's lines: every package but the
// gpg-pubkey ones, field for field.
func compareQA(t *testing.T, apps []app.Application, qa string) {
	t.Helper()
	var want []string
	keys := 0
	for _, l := range strings.Split(strings.TrimSpace(qa), "\n") {
		if strings.HasPrefix(l, "gpg-pubkey|") {
			keys++
			continue
		}
		want = append(want, l)
	}
	if keys == 0 {
		t.Error("the oracle lists no gpg-pubkey: the skip is not tested")
	}
	var got []string
	for _, a := range apps {
		// The source rpm is rebuilt from SourcePackage: rpm prints the
		// file name, we report the name.
		srpm := "(none)"
		if a.SourcePackage != "" {
			srpm = fmt.Sprintf("%s-%s-%s.src.rpm", a.SourcePackage, a.Version, a.Release)
		}
		got = append(got, qaLine(a, srpm))
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(got) != len(want) {
		t.Fatalf("%d packages, rpm -qa lists %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got  %s\nwant %s", got[i], want[i])
		}
	}
}

func TestInstalledFixture(t *testing.T) {
	db := testDB(t)
	qa, err := os.ReadFile("testdata/rpmqa.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dbDirs {
		t.Run(dir, func(t *testing.T) {
			var warns []error
			apps, err := Installed(fstest.MapFS{dir + "/rpmdb.sqlite": {Data: db}}, func(err error) { warns = append(warns, err) })
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			compareQA(t, apps, string(qa))
			if !sort.SliceIsSorted(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name }) {
				t.Error("not sorted by name")
			}
		})
	}
}

// TestFixtureShape checks that the fixture exercises what it is for: an
// interior root page and payloads spilling into overflow pages.
func TestFixtureShape(t *testing.T) {
	b := testDB(t)
	d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.page(root)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != pageInteriorTable {
		t.Errorf("Packages root page %d has type %#x, want an interior page", root, p[0])
	}
	big := 0
	if err := d.walkTable(root, func(_ int64, rec []byte) error {
		if len(rec) > d.usable-35 {
			big++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if big == 0 {
		t.Error("no record needs overflow pages")
	}
}

// TestDescription checks the long (overflowing) description against rpm.
func TestDescription(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rpmdb.sqlite"), testDB(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("rpm", "-q", "--dbpath", dir, "--qf", "%{DESCRIPTION}", "bigdesc").Output()
	if err != nil {
		t.Fatal(err)
	}
	apps, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: testDB(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a.Name == "bigdesc" {
			if a.Description != string(out) {
				t.Errorf("description: %d bytes, rpm says %d", len(a.Description), len(out))
			}
			if len(out) < 30000 {
				t.Errorf("description only %d bytes: no overflow", len(out))
			}
			return
		}
	}
	t.Error("no bigdesc")
}

// TestInstalledLive builds a fresh database with rpm and rpmbuild and
// compares with rpm -qa on it.
func TestInstalledLive(t *testing.T) {
	for _, tool := range []string{"rpm", "rpmbuild", "gpg", "sqlite3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "testdata/mkrpmdb.sh", dir)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkrpmdb.sh: %v\n%s", err, out)
	}
	qa, err := exec.Command("rpm", "-qa", "--dbpath", dir, "--qf", qaFormat).Output()
	if err != nil {
		t.Fatal(err)
	}
	apps, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: mustRead(t, dir+"/rpmdb.sqlite")}}, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	compareQA(t, apps, string(qa))
}

// TestWAL deletes packages through SQLite's write-ahead log and keeps the
// log (copied while the connection is open, before the checkpoint on
// close): we must see the database as rpm does, log applied.
func TestWAL(t *testing.T) {
	for _, tool := range []string{"rpm", "sqlite3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	snap := filepath.Join(dir, "snap")
	for _, d := range []string{work, snap} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db := testDB(t)
	if err := os.WriteFile(filepath.Join(work, "rpmdb.sqlite"), db, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snap, "rpmdb.sqlite"), db, 0o644); err != nil {
		t.Fatal(err)
	}
	script := "PRAGMA journal_mode=WAL;\nPRAGMA wal_autocheckpoint=0;\n" +
		"DELETE FROM Packages WHERE hnum % 7 = 3;\n" +
		".shell cp " + filepath.Join(work, "rpmdb.sqlite-wal") + " " + filepath.Join(snap, "rpmdb.sqlite-wal") + "\n"
	cmd := exec.Command("sqlite3", filepath.Join(work, "rpmdb.sqlite"))
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	wal := mustRead(t, filepath.Join(snap, "rpmdb.sqlite-wal"))
	if len(wal) == 0 {
		t.Fatal("empty WAL")
	}
	// The oracle reads a copy: opening the database checkpoints the log.
	odir := filepath.Join(dir, "oracle")
	if err := os.Mkdir(odir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"rpmdb.sqlite", "rpmdb.sqlite-wal"} {
		if err := os.WriteFile(filepath.Join(odir, f), mustRead(t, filepath.Join(snap, f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	qa, err := exec.Command("rpm", "-qa", "--dbpath", odir, "--qf", qaFormat).Output()
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"var/lib/rpm/rpmdb.sqlite":     {Data: db},
		"var/lib/rpm/rpmdb.sqlite-wal": {Data: wal},
	}
	apps, err := Installed(fsys, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(qa), "\n"); n > 290 || n < 200 {
		t.Fatalf("oracle lists %d packages: the deletion did not happen", n)
	}
	compareQA(t, apps, string(qa))

	// A torn last frame (bad checksum) drops that transaction only.
	bad := bytes.Clone(wal)
	bad[len(bad)-1] ^= 0xff
	fsys["var/lib/rpm/rpmdb.sqlite-wal"] = &fstest.MapFile{Data: bad}
	apps, err = Installed(fsys, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	before, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: db}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != len(before) || len(before) != 302 {
		t.Errorf("torn WAL: %d packages, want the %d before it (302)", len(apps), len(before))
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNotADatabase: a file of each name that is not a database.
func TestNotADatabase(t *testing.T) {
	for _, name := range []string{"rpmdb.sqlite", "Packages", "Packages.db"} {
		apps, err := Installed(fstest.MapFS{"usr/lib/sysimage/rpm/" + name: {Data: []byte("x")}}, nil)
		if err == nil || !strings.Contains(err.Error(), name+": ") {
			t.Errorf("%s: err = %v, want one naming the file", name, err)
		}
		if apps == nil || len(apps) != 0 {
			t.Errorf("%s: apps = %v", name, apps)
		}
	}
	_, err := Installed(fstest.MapFS{"etc/os-release": {Data: []byte("ID=fedora\n")}}, nil)
	if !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("no database: err = %v", err)
	}
}

func TestSourceName(t *testing.T) {
	for in, want := range map[string]string{
		"bash-5.2.26-3.fc40.src.rpm":      "bash",
		"python-foo-bar-1.0-1.src.rpm":    "python-foo-bar",
		"kernel-6.8.5-301.fc40.nosrc.rpm": "kernel",
		"":                                "",
		"(none)":                          "",
		"x.src.rpm":                       "",
		"a-1.src.rpm":                     "",
	} {
		if got := SourceName(in); got != want {
			t.Errorf("SourceName(%q) = %q, want %q", in, got, want)
		}
	}
}
