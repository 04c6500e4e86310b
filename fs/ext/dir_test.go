package ext

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// dirBlock builds a directory block of size bs from entries (inode,
// rec_len, name, file type).
type testDirent struct {
	ino    uint32
	recLen int
	name   string
	ftype  byte
}

func dirBlock(bs int, ents ...testDirent) []byte {
	b := make([]byte, bs)
	p := 0
	for _, e := range ents {
		binary.LittleEndian.PutUint32(b[p:], e.ino)
		binary.LittleEndian.PutUint16(b[p+4:], uint16(e.recLen))
		b[p+6] = byte(len(e.name))
		b[p+7] = e.ftype
		copy(b[p+8:], e.name)
		p += e.recLen
		if p >= bs {
			break
		}
	}
	return b
}

func TestParseDirBlock(t *testing.T) {
	tests := []struct {
		name     string
		block    []byte
		filetype bool
		bs       int64
		want     []string // "ino:name"
		err      string
	}{
		{"linear with dots", dirBlock(64, testDirent{2, 12, ".", 2}, testDirent{2, 12, "..", 2}, testDirent{12, 16, "file", 1}, testDirent{13, 24, "dir", 2}), true, 64, []string{"12:file", "13:dir"}, ""},
		{"deleted entry skipped", dirBlock(64, testDirent{0, 16, "gone", 1}, testDirent{14, 48, "kept", 1}), true, 64, []string{"14:kept"}, ""},
		{"metadata_csum tail", dirBlock(64, testDirent{15, 52, "a", 1}, testDirent{0, 12, "", csumTailType}), true, 64, []string{"15:a"}, ""},
		{"dx_node fake entry", dirBlock(64, testDirent{0, 64, "", 0}), true, 64, nil, ""},
		{"dx_root", dirBlock(64, testDirent{2, 12, ".", 2}, testDirent{2, 52, "..", 2}), true, 64, nil, ""},
		{"rec_len 0", dirBlock(64, testDirent{16, 16, "ok", 1}, testDirent{17, 0, "bad", 1}), true, 64, []string{"16:ok"}, "rec_len 0 too small"},
		{"rec_len unaligned", dirBlock(64, testDirent{17, 18, "bad", 1}), true, 64, nil, "not a multiple of 4"},
		{"rec_len past block", dirBlock(64, testDirent{17, 68, "bad", 1}), true, 64, nil, "past the end"},
		{"name_len past rec_len", dirBlock(64, testDirent{17, 12, "toolongname", 1}, testDirent{0, 52, "", 0}), true, 64, nil, "does not fit"},
		{"short tail", dirBlock(64, testDirent{17, 60, "a", 1})[:64], true, 64, []string{"17:a"}, "too few"},
		{"no filetype: 16-bit name_len", func() []byte {
			b := dirBlock(64, testDirent{18, 64, "abc", 0})
			b[7] = 1 // high byte of name_len: 259 bytes, beyond rec_len
			return b
		}(), false, 64, nil, "does not fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := parseDirBlock(tc.block, 0x1000, tc.filetype, tc.bs, func(d dirent) error {
				got = append(got, fmt.Sprintf("%d:%s", d.ino, d.name))
				return nil
			})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			var fe *diskerr.FormatError
			if err != nil && (!errors.As(err, &fe) || fe.Off < 0x1000) {
				t.Errorf("error %v does not place the entry", err)
			}
		})
	}
}

func TestParseDirBlock64K(t *testing.T) {
	// With 64 KiB blocks a rec_len of 65536 is stored as 65535 (or 0).
	b := make([]byte, 65536)
	binary.LittleEndian.PutUint32(b[0:], 20)
	binary.LittleEndian.PutUint16(b[4:], 65535)
	b[6] = 1
	b[8] = 'x'
	var n int
	if err := parseDirBlock(b, 0, true, 65536, func(d dirent) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("64 KiB block: %d entries, %v", n, err)
	}
}

func TestParseDirBlockStops(t *testing.T) {
	stop := errors.New("stop")
	b := dirBlock(64, testDirent{12, 16, "a", 1}, testDirent{13, 48, "b", 1})
	var n int
	err := parseDirBlock(b, 0, true, 64, func(d dirent) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("got %v after %d entries, want stop after 1", err, n)
	}
}

// TestRawNames checks that names are reported as raw bytes: a newline, a
// backslash, UTF-8 and a 255-byte name, compared with debugfs ncheck.
func TestRawNames(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs")
	t.Parallel()
	src := t.TempDir()
	names := []string{"new\nline", `back\slash`, "ünïcødé", strings.Repeat("n", 255), "sp ace"}
	for _, n := range names {
		must(t, os.WriteFile(filepath.Join(src, n), []byte(n), 0o644))
	}
	img := mkfs(t, "ext4", src, "8M")
	w := walkImage(t, img)
	w.noWarnings(t)
	for _, n := range names {
		e := w.byPath(t, "/"+n)
		out := debugfsOut(t, img, fmt.Sprintf("ncheck %d", e.Inode))
		// debugfs 1.47 prints root entries as "//name".
		if !strings.Contains(out, fmt.Sprintf("%d\t/%s\n", e.Inode, n)) && !strings.Contains(out, fmt.Sprintf("%d\t//%s\n", e.Inode, n)) {
			t.Errorf("debugfs ncheck %d does not name %q:\n%s", e.Inode, n, out)
		}
		if got := string(w.contents(e)); got != n {
			t.Errorf("%q: contents %q", n, got)
		}
	}
}
