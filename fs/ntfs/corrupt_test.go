package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// recordOf returns the disk offset of the record of path in the clean
// fixture.
func recordOf(t *testing.T, es []fs.Entry, path string) int64 {
	t.Helper()
	for _, e := range es {
		if e.Path == path {
			for _, x := range e.Extents {
				if x.Role == bmap.RoleRecord {
					return x.Off
				}
			}
		}
	}
	t.Fatalf("%s: no record", path)
	return 0
}

// attrOffset returns the offset inside the record at off of the first
// attribute of type typ.
func attrOffset(t *testing.T, b []byte, off int64, typ uint32) int {
	t.Helper()
	buf := slices.Clone(b[off : off+1024])
	var r record
	if err := parseRecord(buf, &r); err != nil {
		t.Fatal(err)
	}
	found := -1
	_ = parseAttrs(&r, func(a *attr) error {
		if a.typ == typ && found < 0 {
			found = a.off
		}
		return nil
	})
	if found < 0 {
		t.Fatalf("no attribute %#x in the record at %#x", typ, off)
	}
	return found
}

// TestCorruptions damages the small fixture in each way below: New or
// Walk must fail with an error, or Walk must warn, naming what is wrong;
// never panic or hang.
func TestCorruptions(t *testing.T) {
	clean := fixture(t, "small")
	es, _, err := walkAll(t, clean)
	if err != nil {
		t.Fatal(err)
	}
	tiny := recordOf(t, es, "/tiny")
	big := recordOf(t, es, "/big")
	mft := recordOf(t, es, "$MFT")
	var dirIndex int64
	for _, e := range es {
		if e.Path == "/dir" {
			for _, x := range e.Extents {
				if x.Role == bmap.RoleData {
					dirIndex = x.Off
					break
				}
			}
		}
	}
	nameAt := bytes.Index(clean[dirIndex:], utf16le("file-with-a-long-name-1")[:46]) + int(dirIndex)
	if dirIndex == 0 || nameAt < int(dirIndex) {
		t.Fatal("index entry of file-with-a-long-name-1 not found")
	}
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		wantErr string // New or Walk fails with this
		warn    string // else a warning says this
	}{
		// The boot sector damaged: its backup in the last sector is
		// used (TestDamage), unless it is damaged too.
		{"bad boot magic", func(b []byte) []byte { b[3] = 'X'; return b }, "", "OEM id"},
		{"bad boot magic, no backup", func(b []byte) []byte { b[3] = 'X'; clear(b[len(b)-512:]); return b }, "OEM id", ""},
		{"no 0x55aa", func(b []byte) []byte { b[511] = 0; return noBackup(b) }, "signature", ""},
		{"zero cluster size", func(b []byte) []byte { b[0x0D] = 0; return noBackup(b) }, "sectors per cluster", ""},
		{"huge cluster size", func(b []byte) []byte { b[0x0D] = 0xF0; return noBackup(b) }, "sectors per cluster", ""},
		{"MFT beyond the volume", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[0x30:], 1<<40); return noBackup(b) }, "$MFT at cluster", ""},
		{"bad record size", func(b []byte) []byte { b[0x40] = 0x7f; return noBackup(b) }, "MFT record size", ""},
		// $MFT's record damaged: $MFTMirr's copy is used (TestDamage),
		// unless it is damaged too.
		{"$MFT record bad fixup", func(b []byte) []byte { b[mft+510] ^= 0xff; return b }, "", "bad fixup"},
		{"$MFT record not FILE, nor its mirror", func(b []byte) []byte {
			copy(b[mft:], "BAAD")
			copy(b[mirrorOff(b):], "BAAD")
			return b
		}, "magic", ""},
		{"record with a bad fixup", func(b []byte) []byte { b[tiny+1022] ^= 0x55; return b }, "", fmt.Sprintf("MFT record 106 (/tiny) at %#x: bad fixup", tiny)},
		{"bad attribute length", func(b []byte) []byte {
			a := attrOffset(t, b, big, atData)
			binary.LittleEndian.PutUint32(b[big+int64(a)+4:], 3)
			return b
		}, "", fmt.Sprintf("MFT record 105 (/big) at %#x: attribute 0x80", big)},
		{"run list past the volume", func(b []byte) []byte {
			a := int64(attrOffset(t, b, big, atData))
			ro := a + int64(binary.LittleEndian.Uint16(b[big+a+0x20:]))
			h := b[big+ro]
			// The top byte of the first run's LCN.
			setRecordByte(b, big, ro+int64(h&0xf)+int64(h>>4), 0x70)
			return b
		}, "", "beyond the volume"},
		{"directory index that loops", func(b []byte) []byte {
			// An entry of /dir names the root (record 5, sequence 5).
			e := nameAt - 0x42 - 16
			binary.LittleEndian.PutUint64(b[e:], 5|5<<48)
			return b
		}, "", "directory reached twice"},
		{"truncated image", func(b []byte) []byte { return b[:len(b)/3] }, "", "beyond the device"},
		{"truncated in the MFT", func(b []byte) []byte { return b[:mft+4096] }, "", "(the root directory /)"},
		{"all zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "OEM id", ""},
		{"too short", func(b []byte) []byte { return b[:100] }, "too small", ""},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			b := tc.damage(slices.Clone(clean))
			type result struct {
				es    []fs.Entry
				warns []error
				err   error
			}
			done := make(chan result, 1)
			go func() {
				es, warns, err := walkAll(t, b)
				done <- result{es, warns, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("hang: no result after 20 s")
			}
			if tc.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", r.err, tc.wantErr)
				}
				var fe *diskerr.FormatError
				if !errors.As(r.err, &fe) && !strings.Contains(r.err.Error(), "ntfs") {
					t.Errorf("error %v does not say ntfs", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("Walk: %v (want only warnings)", r.err)
			}
			found := false
			for _, w := range r.warns {
				if strings.Contains(w.Error(), tc.warn) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning containing %q; got %v", tc.warn, r.warns)
			}
			if len(r.es) < 3 {
				t.Errorf("only %d entries: one broken object stopped the walk", len(r.es))
			}
		})
	}
}

// noBackup zeroes the backup boot sector, in the last sector.
func noBackup(b []byte) []byte { clear(b[len(b)-512:]); return b }

// mirrorOff is where the boot sector puts $MFTMirr.
func mirrorOff(b []byte) int64 {
	bs, err := parseBoot(b, 0, int64(len(b)))
	if err != nil {
		panic(err)
	}
	return bs.mftMirrLCN * bs.clusterSize
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// setRecordByte sets byte i of the record at off to v as it reads after
// the fixup: the last two bytes of each 512-byte stride live in the update
// sequence array.
func setRecordByte(b []byte, off, i int64, v byte) {
	if i%512 < 510 {
		b[off+i] = v
		return
	}
	usa := int64(binary.LittleEndian.Uint16(b[off+4:]))
	b[off+usa+2+2*(i/512)+i%512-510] = v
}
