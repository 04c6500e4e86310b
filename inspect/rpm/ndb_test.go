package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// ndbPkg is a package for makeNDB: its number and header.
type ndbPkg struct {
	idx  uint32
	blob []byte
}

// sqliteHeaders returns the rows of the Packages table of the SQLite
// database b (headers that rpm lists: rpmqa.txt).
func sqliteHeaders(t testing.TB, b []byte) []ndbPkg {
	t.Helper()
	d, err := openSQLite(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	var out []ndbPkg
	if err := d.walkTable(root, func(rowid int64, rec []byte) error {
		v, err := d.parseRecord(rec)
		if err != nil {
			return err
		}
		out = append(out, ndbPkg{uint32(rowid), bytes.Clone(v[1].([]byte))})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// makeNDB writes pkgs as rpm's lib/backend/ndb/rpmpkg.c does (see
// ndb.go): header and slots in 4096-byte slot pages, then the blobs,
// each a head, the header, zero padding and a tail with the Adler-32.
// To look like a database that has lived, every fifth slot is left free
// and every seventh blob is followed by a gap of zero blocks, as
// rpmpkgDelInternal leaves them.
func makeNDB(pkgs []ndbPkg) []byte {
	le := binary.LittleEndian
	nslots := len(pkgs) + len(pkgs)/4 + 1
	slotnpages := (ndbHeaderSize/ndbSlotSize + nslots + ndbPageSize/ndbSlotSize - 1) / (ndbPageSize / ndbSlotSize)
	f := make([]byte, slotnpages*ndbPageSize)
	le.PutUint32(f[0:], ndbMagic)
	le.PutUint32(f[8:], 42) // generation
	le.PutUint32(f[12:], uint32(slotnpages))
	next := uint32(1)
	for _, p := range pkgs {
		next = max(next, p.idx+1)
	}
	le.PutUint32(f[16:], next)
	for o := ndbHeaderSize; o < len(f); o += ndbSlotSize {
		le.PutUint32(f[o:], ndbSlotMagic)
	}
	slot := ndbHeaderSize / ndbSlotSize
	for i, p := range pkgs {
		if slot%5 == 0 {
			slot++ // a free slot
		}
		blkcnt := (ndbHeadSize + len(p.blob) + ndbTailSize + ndbBlkSize - 1) / ndbBlkSize
		blkoff := len(f) / ndbBlkSize
		s := f[slot*ndbSlotSize:]
		le.PutUint32(s[4:], p.idx)
		le.PutUint32(s[8:], uint32(blkoff))
		le.PutUint32(s[12:], uint32(blkcnt))
		slot++
		b := make([]byte, blkcnt*ndbBlkSize)
		le.PutUint32(b[0:], ndbHeadMagic)
		le.PutUint32(b[4:], p.idx)
		le.PutUint32(b[8:], 1700000000)
		le.PutUint32(b[12:], uint32(len(p.blob)))
		copy(b[ndbHeadSize:], p.blob)
		t := b[len(b)-ndbTailSize:]
		le.PutUint32(t[0:], adler32.Checksum(b[:len(b)-ndbTailSize]))
		le.PutUint32(t[4:], uint32(len(p.blob)))
		le.PutUint32(t[8:], ndbTailMagic)
		f = append(f, b...)
		if i%7 == 6 {
			f = append(f, make([]byte, 3*ndbBlkSize)...)
		}
	}
	return f
}

// TestNDB reads a Packages.db made of the SQLite fixture's headers: the
// packages must be those rpm lists from them (rpmqa.txt), field for
// field those the SQLite reader finds. The container is checked only
// against our reading of rpmpkg.c (ndb.go).
func TestNDB(t *testing.T) {
	db := testDB(t)
	b := makeNDB(sqliteHeaders(t, db))
	d, err := openNDB(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if d.slotnpages < 2 {
		t.Errorf("%d slot pages: the test does not cross pages", d.slotnpages)
	}
	fromSQLite, err := Installed(fstest.MapFS{"var/lib/rpm/rpmdb.sqlite": {Data: db}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dbDirs {
		t.Run(dir, func(t *testing.T) {
			apps, err := Installed(fstest.MapFS{dir + "/Packages.db": {Data: b}}, func(err error) { t.Error(err) })
			if err != nil {
				t.Fatal(err)
			}
			compareQA(t, apps, string(mustRead(t, "testdata/rpmqa.txt")))
			if !reflect.DeepEqual(apps, fromSQLite) {
				t.Error("the packages differ from those read from rpmdb.sqlite")
			}
		})
	}
}

// smallNDB is small.sqlite's 12 headers as a Packages.db.
func smallNDB(t testing.TB) []byte {
	return makeNDB(sqliteHeaders(t, mustRead(t, "testdata/small.sqlite")))
}

// TestNDBCorrupt damages a generated Packages.db: an error for the file,
// or a warning naming the slot or blob for a package, never a panic.
func TestNDBCorrupt(t *testing.T) {
	good := smallNDB(t)
	if len(good) > 64<<10 {
		t.Fatalf("seed of %d bytes", len(good))
	}
	le := binary.LittleEndian
	const slot = ndbHeaderSize // the first slot, used
	if le.Uint32(good[slot+8:]) == 0 || le.Uint32(good[slot+ndbSlotSize+8:]) == 0 {
		t.Fatal("slot 2 or 3 is free")
	}
	blob := func(b []byte) int { return int(le.Uint32(b[slot+8:])) * ndbBlkSize }
	tail := func(b []byte) int { return blob(b) + int(le.Uint32(b[slot+12:]))*ndbBlkSize - ndbTailSize }
	total := 12
	for _, tc := range []struct {
		name  string
		mut   func(b []byte) []byte
		fatal bool
		want  string
		lost  int
	}{
		{"empty", func(b []byte) []byte { return nil }, true, "shorter than a slot page", 0},
		{"truncated", func(b []byte) []byte { return b[:4000] }, true, "shorter than a slot page", 0},
		{"torn block", func(b []byte) []byte { return b[:len(b)-1] }, true, "not whole 16-byte blocks", 0},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, true, "bad magic", 0},
		{"bad magic", func(b []byte) []byte { b[0] = 'r'; return b }, true, "header at 0x0: bad magic", 0},
		{"version 1", func(b []byte) []byte { b[4] = 1; return b }, true, "version 1: not supported", 0},
		{"no slot pages", func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }, true, "0 slot pages", 0},
		{"slot pages past the file", func(b []byte) []byte { le.PutUint32(b[12:], 1<<30); return b }, true, "1073741824 slot pages", 0},
		{"slot magic", func(b []byte) []byte { b[slot] = 's'; return b }, false, fmt.Sprintf("slot page 0 at %#x: bad slot magic", slot), total},
		{"slot package 0", func(b []byte) []byte { le.PutUint32(b[slot+4:], 0); return b }, false, "slot for package 0", 1},
		{"slot of 0 blocks", func(b []byte) []byte { le.PutUint32(b[slot+12:], 0); return b }, false, "of 0 blocks", 1},
		{"blob in the slot pages", func(b []byte) []byte { le.PutUint32(b[slot+8:], 3); return b }, false, "inside the slot pages", 1},
		{"blob past the file", func(b []byte) []byte { le.PutUint32(b[slot+12:], 1<<28); return b }, false, "past the end of the file", 1},
		{"package twice", func(b []byte) []byte { copy(b[slot+ndbSlotSize+4:], b[slot+4:slot+8]); return b }, false, "again (first slot at 0x20)", 1},
		{"head magic", func(b []byte) []byte { b[blob(b)] = 0; return b }, false, "bad head magic", 1},
		{"head package", func(b []byte) []byte { le.PutUint32(b[blob(b)+4:], 99); return b }, false, "package 99's", 1},
		{"head length", func(b []byte) []byte { le.PutUint32(b[blob(b)+12:], 5); return b }, false, "length 5 needs 3 blocks", 1},
		{"tail magic", func(b []byte) []byte { b[tail(b)+8] = 0; return b }, false, "bad tail magic", 1},
		{"tail length", func(b []byte) []byte { b[tail(b)+4]++; return b }, false, "tail length", 1},
		{"checksum", func(b []byte) []byte { b[blob(b)+100]++; return b }, false, "Adler-32", 1},
		{"header damaged", func(b []byte) []byte { le.PutUint32(b[blob(b)+ndbHeadSize:], 0); fixSum(b, blob(b), tail(b)); return b }, false, "bad index count", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mut(bytes.Clone(good))
			var warns []error
			apps, err := Installed(fstest.MapFS{"usr/lib/sysimage/rpm/Packages.db": {Data: b}}, func(err error) { warns = append(warns, err) })
			if apps == nil {
				t.Error("nil apps")
			}
			if tc.fatal {
				if err == nil {
					t.Fatalf("no error; %d apps, %d warnings", len(apps), len(warns))
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Packages.db") {
					t.Errorf("error %q, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v, want warnings", err)
			}
			if len(warns) == 0 {
				t.Fatal("no warning")
			}
			if w := warns[0].Error(); !strings.Contains(w, tc.want) || !strings.Contains(w, "Packages.db") || !strings.Contains(w, " at 0x") {
				t.Errorf("warning %q, want %q, the file and an offset", w, tc.want)
			}
			// small.sqlite's 12 headers hold no signing key.
			if lost := total - len(apps); lost != tc.lost {
				t.Errorf("%d packages lost, want %d; warnings %v", lost, tc.lost, warns)
			}
		})
	}
}

// fixSum rewrites the Adler-32 of the blob from off to its tail at tail.
func fixSum(b []byte, off, tail int) {
	binary.LittleEndian.PutUint32(b[tail:], adler32.Checksum(b[off:tail]))
}

func TestNDBUnsupported(t *testing.T) {
	b := smallNDB(t)
	b[4] = 2
	if _, err := openNDB(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("version 2: %v", err)
	}
}

// FuzzNDB feeds damaged Packages.db files to the ndb reader, seeded
// with 3 headers: 8 KiB, small enough for the fuzzer's minimisation of
// each new input to take little of its time.
func FuzzNDB(f *testing.F) {
	f.Add(makeNDB(sqliteHeaders(f, mustRead(f, "testdata/small.sqlite"))[:3]))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := openNDB(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		_ = d.walk(func(_ uint32, _ int64, blob []byte) { _, _ = application(blob) }, func(error) {})
		_, _ = Installed(fstest.MapFS{"var/lib/rpm/Packages.db": {Data: b}}, func(error) {})
	})
}
