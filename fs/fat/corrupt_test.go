package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
)

// fixtureGeom walks a pristine fixture to locate what the corruptions
// change: the clusters of a path and the offset of its 8.3 entry.
type fixtureGeom struct {
	t *testing.T
	w *walked
}

func (g fixtureGeom) clusters(path string) []uint32 {
	return g.w.clusters(g.t, g.w.byPath(g.t, path))
}

// entryOff is the byte offset of path's 8.3 entry (from its TSK address).
func (g fixtureGeom) entryOff(path string) int64 {
	e := g.w.byPath(g.t, path)
	return g.w.f.p.rootOff + int64(e.Inode-3)*direntSize
}

// setFAT writes value v into cluster c's entry of every FAT copy.
func (g fixtureGeom) setFAT(b []byte, c, v uint32) {
	p := g.w.f.p
	for i := range p.nfats {
		tb := &table{variant: p.variant}
		o := p.fatOff + i*p.fatLen + tb.entryOff(c)
		switch p.variant {
		case FAT12:
			old := binary.LittleEndian.Uint16(b[o:])
			if c&1 == 0 {
				old = old&0xF000 | uint16(v&0xFFF)
			} else {
				old = old&0x000F | uint16(v&0xFFF)<<4
			}
			binary.LittleEndian.PutUint16(b[o:], old)
		case FAT16:
			binary.LittleEndian.PutUint16(b[o:], uint16(v))
		default:
			binary.LittleEndian.PutUint32(b[o:], v)
		}
	}
}

func TestCorruptions(t *testing.T) {
	put16 := func(b []byte, off int64, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	put32 := func(b []byte, off int64, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	tests := []struct {
		name    string
		img     string
		corrupt func(g fixtureGeom, b []byte) []byte
		newErr  string // error expected from New
		warn    string // warning expected from Walk
		gone    string // path no longer reported ("" if none)
		check   func(t *testing.T, got map[string]fs.Entry)
	}{
		{name: "flipped boot signature", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			b[510] ^= 0xFF
			return b
		}, newErr: "boot signature"},
		{name: "bytes per sector 0", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			put16(b, 11, 0)
			return b
		}, newErr: "bytes per sector 0"},
		{name: "bytes per sector not a power of two", img: "fat12", corrupt: func(g fixtureGeom, b []byte) []byte {
			put16(b, 11, 1536)
			return b
		}, newErr: "bytes per sector 1536"},
		{name: "sectors per cluster 0", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			b[13] = 0
			return b
		}, newErr: "sectors per cluster 0"},
		{name: "FAT size 0", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			put32(b, 36, 0)
			return b
		}, newErr: "FAT size 0"},
		{name: "total sectors beyond the image", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			put32(b, 32, binary.LittleEndian.Uint32(b[32:])*2)
			return b
		}, newErr: "but the device has"},
		{name: "truncated image", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			return b[:len(b)/3]
		}, newErr: "but the device has"},
		{name: "all zeros", img: "fat12", corrupt: func(g fixtureGeom, b []byte) []byte {
			return make([]byte, len(b))
		}, newErr: "boot signature"},
		{name: "root cluster beyond the volume", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			put32(b, 44, 0x0FFFFF00)
			return b
		}, newErr: "root directory cluster"},
		{name: "chain loops onto itself", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/frag/big")
			g.setFAT(b, cs[4], cs[1])
			return b
		}, warn: "the chain loops", check: func(t *testing.T, got map[string]fs.Entry) {
			if n := extentClusters(got["/frag/big"]); n != 5 {
				t.Errorf("/frag/big: %d clusters mapped, want the 5 before the loop", n)
			}
		}},
		{name: "FAT12 chain loops", img: "fat12", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/dir/sub/deeper/large.bin")
			g.setFAT(b, cs[len(cs)-2], cs[0])
			return b
		}, warn: "the chain loops"},
		{name: "chain into cluster 1", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/dir/sub/deeper/large.bin")
			g.setFAT(b, cs[2], 1)
			return b
		}, warn: "reserved cluster 1", check: func(t *testing.T, got map[string]fs.Entry) {
			if n := extentClusters(got["/dir/sub/deeper/large.bin"]); n != 3 {
				t.Errorf("large.bin: %d clusters, want 3", n)
			}
		}},
		{name: "chain beyond the last cluster", img: "fat12", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/frag/big")
			g.setFAT(b, cs[0], 0xFF0)
			return b
		}, warn: "beyond the last cluster"},
		{name: "chain into a free cluster", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/A Long File Name.conf")
			g.setFAT(b, cs[0], 0)
			return b
		}, warn: "a free cluster"},
		{name: "chain shorter than the size", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			cs := g.clusters("/A Long File Name.conf")
			g.setFAT(b, cs[1], 0xFFFF)
			return b
		}, warn: "shorter than its size 3000"},
		{name: "chain longer than the size", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			put32(b, g.entryOff("/A Long File Name.conf")+28, 1000)
			return b
		}, warn: "goes on past the 2 clusters"},
		{name: "first cluster beyond the volume", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			o := g.entryOff("/hello.txt")
			put16(b, o+20, 0x0FFF)
			return b
		}, warn: "outside the clusters"},
		{name: "directory chain loops into its parent", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			sub := g.clusters("/dir/sub")
			g.setFAT(b, sub[len(sub)-1], g.clusters("/dir")[0])
			return b
		}, warn: "already belongs to another file or directory", check: func(t *testing.T, got map[string]fs.Entry) {
			if _, ok := got["/dir/sub/deeper/large.bin"]; !ok {
				t.Error("/dir/sub/deeper/large.bin lost")
			}
		}},
		{name: "subdirectory entry pointing to an ancestor", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			o := g.entryOff("/dir/sub/deeper")
			c := g.clusters("/dir")[0]
			put16(b, o+26, uint16(c))
			put16(b, o+20, uint16(c>>16))
			return b
		}, warn: "directory reached twice", gone: "/dir/sub/deeper/large.bin"},
		{name: "root directory cluster chain loop", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			r := g.clusters("/")
			g.setFAT(b, r[len(r)-1], r[0])
			return b
		}, warn: "the chain loops"},
		{name: "long name with a bad checksum", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			o := g.entryOff("/A Long File Name.conf")
			for p := o - 32; b[p+11] == attrLFN; p -= 32 {
				b[p+13] ^= 0x55
			}
			return b
		}, warn: "checksum", gone: "/A Long File Name.conf", check: func(t *testing.T, got map[string]fs.Entry) {
			if _, ok := got["/ALONGF~1.CON"]; !ok {
				t.Errorf("no fallback to the 8.3 name: %v", slices.Sorted(mapsKeys(got)))
			}
		}},
		{name: "long name sequence broken", img: "fat32", corrupt: func(g fixtureGeom, b []byte) []byte {
			o := g.entryOff("/many/many-file-with-a-long-name-07")
			b[o-32] = 9 // the last long-name entry (number 1) gets another number
			return b
		}, warn: "out of sequence", gone: "/many/many-file-with-a-long-name-07"},
		{name: "directory without a first cluster", img: "fat12", corrupt: func(g fixtureGeom, b []byte) []byte {
			put16(b, g.entryOff("/case2")+26, 0)
			return b
		}, warn: "without a first cluster", gone: "/case2/README.TXT"},
		{name: "size without a cluster", img: "fat16", corrupt: func(g fixtureGeom, b []byte) []byte {
			put16(b, g.entryOff("/case3/notes.TXT")+26, 0)
			return b
		}, warn: "no first cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := loadFixture(t, tc.img)
			g := fixtureGeom{t: t, w: walkBytes(t, orig)}
			b := tc.corrupt(g, bytes.Clone(orig))
			f, err := New(bytes.NewReader(b), int64(len(b)))
			if tc.newErr != "" {
				var fe *diskerr.FormatError
				if err == nil || !strings.Contains(err.Error(), tc.newErr) || !errors.As(err, &fe) {
					t.Fatalf("New: %v, want a diskerr.FormatError with %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var warns []string
			f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
			got := map[string]fs.Entry{}
			if err := f.Walk(func(e fs.Entry) error {
				if e.Kind != bmap.KindMeta {
					e.Extents = slices.Clone(e.Extents)
					got[e.Path] = e
				}
				return nil
			}); err != nil {
				t.Fatalf("Walk: %v", err)
			}
			found := tc.warn == ""
			for _, w := range warns {
				found = found || strings.Contains(w, tc.warn)
				if !strings.HasPrefix(w, "fat: ") || !strings.Contains(w, " at 0x") {
					t.Errorf("warning %q does not say where", w)
				}
			}
			if !found {
				t.Errorf("warnings %q, want one with %q", warns, tc.warn)
			}
			t.Logf("warnings: %q", warns)
			// untouched files are reported as on the pristine image
			for _, p := range []string{"/hello.txt", "/case1/readme.txt", "/many/many-file-with-a-long-name-01", "/dir/sub/deeper/large.bin"} {
				if p == "/hello.txt" && strings.Contains(tc.name, "first cluster beyond") ||
					p == "/dir/sub/deeper/large.bin" && (strings.Contains(tc.name, "cluster 1") || strings.Contains(tc.name, "FAT12 chain") || strings.Contains(tc.name, "ancestor")) {
					continue
				}
				want := g.w.byPath(t, p)
				if e, ok := got[p]; !ok || fmt.Sprint(e) != fmt.Sprint(want) {
					t.Errorf("%s: got %+v, want %+v", p, e, want)
				}
			}
			if _, ok := got[tc.gone]; tc.gone != "" && ok {
				t.Errorf("%s still reported", tc.gone)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func extentClusters(e fs.Entry) int64 {
	var n int64
	for _, x := range e.Extents {
		n += x.Len
	}
	return n / 512
}

func mapsKeys(m map[string]fs.Entry) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// failingReader fails every read at or past off.
type failingReader struct {
	r   *bytes.Reader
	off int64
}

func (f failingReader) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.off {
		return 0, errors.New("injected I/O error")
	}
	return f.r.ReadAt(b, off)
}

// TestReadErrors: a device that fails past the FATs gives warnings for the
// unreadable directories and files, and the walk ends cleanly.
func TestReadErrors(t *testing.T) {
	b := loadFixture(t, "fat16")
	p, err := parseBPB(b[:512], int64(len(b)))
	must(t, err)
	f, err := New(failingReader{bytes.NewReader(b), p.dataOff + 4*p.clusterSize}, int64(len(b)))
	must(t, err)
	var warns []string
	f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
	if err := f.Walk(func(fs.Entry) error { return nil }); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if len(warns) == 0 || !strings.Contains(strings.Join(warns, "\n"), "injected I/O error") {
		t.Errorf("warnings %q, want the read errors", warns)
	}
}

// TestWalkBudget: entries that all name one long chain (crossed chains)
// would make a walk follow it again and again, quadratic in the volume's
// size; each later file is cut at the first cluster an earlier one owns,
// with a warning, so the walk stays within a budget of a few times the
// chain's clusters. It changes walkBudget, so it must not run in parallel.
func TestWalkBudget(t *testing.T) {
	b := loadFixture(t, "fat16")
	g := fixtureGeom{t: t, w: walkBytes(t, b)}
	big := g.w.byPath(t, "/dir/sub/deeper/large.bin")
	src := g.entryOff("/dir/sub/deeper/large.bin")
	for i := 1; i <= 40; i++ {
		dst := g.entryOff(fmt.Sprintf("/many/many-file-with-a-long-name-%02d", i))
		copy(b[dst+20:dst+32], b[src+20:src+32]) // cluster and size
	}
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var warns []string
	f.SetWarn(func(err error) { warns = append(warns, err.Error()) })
	old := walkBudget
	defer func() { walkBudget = old }()
	walkBudget = func(uint32) int64 { return int64(extentClusters(big)) * 5 }
	n := 0
	err = f.Walk(func(e fs.Entry) error {
		if strings.HasPrefix(e.Path, "/many/many-file") && len(e.Extents) > 0 {
			t.Errorf("%s: mapped %v, want it cut at its first (crossed) cluster", e.Path, e.Extents)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("small budget: %v after %d entries", err, n)
	}
	crossed := 0
	for _, w := range warns {
		if strings.Contains(w, "crossed chains") {
			crossed++
		}
	}
	if crossed != 40 {
		t.Errorf("%d warnings of crossed chains, want 40: %q", crossed, warns)
	}
}

// TestWalkStops: an error from fn ends the walk and is returned.
func TestWalkStops(t *testing.T) {
	b := loadFixture(t, "fat32")
	f, err := New(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	stop := errors.New("stop")
	for _, at := range []int{1, 6, 12, 40} {
		n := 0
		err := f.Walk(func(fs.Entry) error {
			if n++; n == at {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != at {
			t.Errorf("stop at %d: %v after %d entries", at, err, n)
		}
	}
}

// TestFATCopies: copies that differ are not an error (go-diskfs refuses
// such FAT32 volumes) but a warning saying which copy is read, decided as
// fsck.fat decides; with mirroring off (extended flags bit 7) the copy
// the boot sector names is the one read, and the others may differ.
func TestFATCopies(t *testing.T) {
	orig := loadFixture(t, "fat32")
	pristine := walkBytes(t, orig)
	p := pristine.f.p
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		warn string
	}{
		{"second copy zeroed but its media entry", func(b []byte) { clear(b[p.fatOff+p.fatLen+8 : p.fatOff+2*p.fatLen]) },
			fmt.Sprintf("fat: FAT 2 at %#x: differs from FAT 1 in", p.fatOff+p.fatLen+8)},
		{"second copy zeroed", func(b []byte) { clear(b[p.fatOff+p.fatLen : p.fatOff+2*p.fatLen]) },
			fmt.Sprintf("fat: FAT 2 at %#x: first entry 0x0 is not a media descriptor (zeroed or overwritten); FAT 1 is used", p.fatOff+p.fatLen)},
		{"mirroring off, FAT 2 active, FAT 1 zeroed", func(b []byte) {
			binary.LittleEndian.PutUint16(b[40:], 0x81)
			clear(b[p.fatOff+8 : p.fatOff+p.fatLen])
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			tc.edit(b)
			w := walkBytes(t, b)
			if tc.warn == "" && len(w.warns) != 0 || tc.warn != "" && (len(w.warns) != 1 || !strings.Contains(w.warns[0].Error(), tc.warn)) {
				t.Errorf("warnings: %v; want %q", w.warns, tc.warn)
			}
			if fmt.Sprint(w.entries) != fmt.Sprint(pristine.entries) {
				t.Errorf("walk differs from the pristine image's")
			}
		})
	}
}
