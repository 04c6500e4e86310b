package bmap

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func writeText(t testing.TB, m *Map) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteText(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// bruteText computes the text form the slow, obvious way, as an oracle
// independent of the sweep: for every pair of neighbouring boundaries,
// scan every extent of every object; join neighbouring intervals with the
// same set of lines; sort each set bytewise as the original's std::set.
func bruteText(m *Map) string {
	var out strings.Builder
	for disk := 1; disk <= MaxDisk; disk++ {
		var bounds []int64
		for _, o := range m.Objects {
			if o.Disk != disk {
				continue
			}
			for _, e := range o.Extents {
				bounds = append(bounds, e.Off, e.End())
			}
		}
		if len(bounds) == 0 {
			if disk > 8 {
				break
			}
			continue
		}
		slices.Sort(bounds)
		bounds = slices.Compact(bounds)
		var curSet []string
		var curStart, curEnd int64
		flush := func() {
			for _, s := range curSet {
				fmt.Fprintf(&out, "%d %x %x %s\n", disk, curStart, curEnd, s)
			}
		}
		for i := 0; i+1 < len(bounds); i++ {
			a, b := bounds[i], bounds[i+1]
			set := map[string]bool{}
			for _, o := range m.Objects {
				if o.Disk != disk {
					continue
				}
				for _, e := range o.Extents {
					if e.Off < b && a < e.End() {
						s := string(o.Kind) + " " + o.Device
						if o.Path != "" {
							s += " " + strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(o.Path)
						}
						set[s] = true
					}
				}
			}
			var lines []string
			for s := range set {
				lines = append(lines, s)
			}
			slices.Sort(lines)
			if len(curSet) > 0 && curEnd == a && slices.Equal(lines, curSet) {
				curEnd = b
				continue
			}
			flush()
			curSet, curStart, curEnd = lines, a, b
		}
		flush()
	}
	return out.String()
}

func TestWriteTextMatchesBruteForce(t *testing.T) {
	if got, want := writeText(t, sampleMap()), bruteText(sampleMap()); got != want {
		t.Fatalf("sample map:\n--- sweep\n%s--- brute force\n%s", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		m := randomMap(r, 1+r.IntN(60))
		if got, want := writeText(t, m), bruteText(m); got != want {
			t.Fatalf("random map %d:\n--- sweep\n%s--- brute force\n%s", i, got, want)
		}
	}
}

// TestWriteTextBoundsPaths checks the sweep's two ways of sorting the
// extents' boundaries against the brute force: packed keys (the default,
// here with offsets that share trailing zero bits and offsets near the
// top of int64, which leave no room to pack) and ranked keys.
func TestWriteTextBoundsPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shift := func(m *Map, mul, base int64) *Map {
		for i := range m.Objects {
			for j := range m.Objects[i].Extents {
				e := &m.Objects[i].Extents[j]
				e.Off, e.Len = base+e.Off*mul, e.Len*mul
			}
		}
		return m
	}
	for i := range 200 {
		m := randomMap(r, 1+r.IntN(60))
		switch i % 4 {
		case 1:
			m = shift(m, 4096, 0)
		case 2:
			m = shift(m, 1, maxOff-1<<14)
		case 3:
			forceRanked = true
		}
		got, want := writeText(t, m), bruteText(m)
		forceRanked = false
		if got != want {
			t.Fatalf("map %d:\n--- sweep\n%s--- brute force\n%s", i, got, want)
		}
	}
}

func TestTextRoundTrip(t *testing.T) {
	maps := []*Map{sampleMap()}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		maps = append(maps, randomMap(r, 1+r.IntN(60)))
	}
	for i, m := range maps {
		first := writeText(t, m)
		back, err := ReadText(strings.NewReader(first))
		if err != nil {
			t.Fatalf("map %d: %v", i, err)
		}
		if second := writeText(t, back); second != first {
			t.Fatalf("map %d: write, read, write differs:\n--- first\n%s--- second\n%s", i, first, second)
		}
	}
}

// The original virt-bmap wrote maps like this one (the layout of its
// sample bmap.txt; names made up): one line per object per joined segment,
// objects of a segment in byte order. Reading and writing it again must
// give it back byte for byte.
const originalShape = `1 0 100000 v /dev/sda
1 100000 541000 p /dev/sda1
1 100000 541000 v /dev/sda
1 541000 541400 d /dev/sda1 /
1 541000 541400 p /dev/sda1
1 541000 541400 v /dev/sda
1 541400 544400 d /dev/sda1 /lost+found
1 541400 544400 p /dev/sda1
1 541400 544400 v /dev/sda
1 544400 941000 p /dev/sda1
1 544400 941000 v /dev/sda
1 941000 941400 f /dev/sda1 /boot/vmlinuz.hmac
1 941000 941400 p /dev/sda1
1 941000 941400 v /dev/sda
1 941400 961800 f /dev/sda1 /boot/config
1 941400 961800 p /dev/sda1
1 941400 961800 v /dev/sda
1 961800 1941000 p /dev/sda1
1 961800 1941000 v /dev/sda
1 1941000 1a27c00 f /dev/sda1 /boot/vmlinuz
1 1941000 1a27c00 p /dev/sda1
1 1941000 1a27c00 v /dev/sda
1 1a27c00 1b00400 p /dev/sda1
1 1a27c00 1b00400 v /dev/sda
1 1b00400 1d00400 f /dev/sda1 /boot/vmlinuz
1 1b00400 1d00400 p /dev/sda1
1 1b00400 1d00400 v /dev/sda
1 1d00400 10500400 p /dev/sda1
1 1d00400 10500400 v /dev/sda
1 10500400 10500800 d /dev/sda1 /grub2
1 10500400 10500800 p /dev/sda1
1 10500400 10500800 v /dev/sda
1 10500800 10500c00 d /dev/sda1 /grub2/themes
1 10500800 10500c00 p /dev/sda1
1 10500800 10500c00 v /dev/sda
1 10500c00 c7fcb000 p /dev/sda1
1 10500c00 c7fcb000 v /dev/sda
1 c7fcb000 c7fcc000 d /dev/sda1 /usr/lib/modules/kernel/arch/x86/kvm
1 c7fcb000 c7fcc000 p /dev/sda1
1 c7fcb000 c7fcc000 v /dev/sda
`

func TestOriginalShape(t *testing.T) {
	m, err := ReadText(strings.NewReader(originalShape))
	if err != nil {
		t.Fatal(err)
	}
	if got := writeText(t, m); got != originalShape {
		t.Fatalf("rewritten:\n%s", got)
	}
	// The two runs of /boot/vmlinuz are one object with two extents,
	// its file offsets counted in disk order.
	var vml *Object
	for i := range m.Objects {
		if m.Objects[i].Path == "/boot/vmlinuz" {
			if vml != nil {
				t.Fatal("/boot/vmlinuz read as two objects")
			}
			vml = &m.Objects[i]
		}
	}
	want := []Extent{
		{Off: 0x1941000, Len: 0x1a27c00 - 0x1941000, FileOff: 0, Role: RoleData},
		{Off: 0x1b00400, Len: 0x1d00400 - 0x1b00400, FileOff: 0x1a27c00 - 0x1941000, Role: RoleData},
	}
	if vml == nil || !reflect.DeepEqual(vml.Extents, want) {
		t.Fatalf("/boot/vmlinuz = %+v, want extents %+v", vml, want)
	}
	wantDisks := []Disk{{Index: 1, Device: "/dev/sda", Size: 0xc7fcc000}}
	if !reflect.DeepEqual(m.Disks, wantDisks) {
		t.Errorf("disks = %+v, want %+v", m.Disks, wantDisks)
	}
	if len(m.Objects) != 10 {
		t.Errorf("%d objects, want 10", len(m.Objects))
	}
}

func TestReadTextObjects(t *testing.T) {
	m, err := ReadText(strings.NewReader(writeText(t, sampleMap())))
	if err != nil {
		t.Fatal(err)
	}
	find := func(dev, path string) *Object {
		for i := range m.Objects {
			if m.Objects[i].Device == dev && m.Objects[i].Path == path {
				return &m.Objects[i]
			}
		}
		t.Fatalf("%s %q not read back", dev, path)
		return nil
	}
	// Name escapes undone.
	odd := find("/dev/sda1", "/etc/odd\nname\\x")
	if odd.Kind != KindFile || len(odd.Extents) != 1 || odd.Extents[0] != (Extent{Off: 0xb000, Len: 0x400, FileOff: 0, Role: RoleData}) {
		t.Errorf("odd name: %+v", odd)
	}
	// The fragmented file: its extent-index block joined the run before
	// it, and file offsets follow disk order (the documented
	// approximation of the text form).
	frag := find("/dev/sda1", "/etc/fragmented")
	want := []Extent{
		{Off: 0x6000, Len: 0x1400, FileOff: 0, Role: RoleData},
		{Off: 0x8000, Len: 0x1000, FileOff: 0x1400, Role: RoleData},
		{Off: 0xa000, Len: 0x800, FileOff: 0x2400, Role: RoleData},
	}
	if !reflect.DeepEqual(frag.Extents, want) {
		t.Errorf("fragmented: %+v, want %+v", frag.Extents, want)
	}
	journal := find("/dev/sda1", "journal")
	if journal.Kind != KindMeta || !reflect.DeepEqual(journal.Extents, []Extent{{Off: 0x10000, Len: 0x2000, FileOff: -1, Role: RoleMeta}}) {
		t.Errorf("journal: %+v", journal)
	}
	if p := find("/dev/sda2", ""); p.Kind != KindPartition || p.Extents[0].Off != 0x81000 || p.Extents[0].End() != 0x100000 {
		t.Errorf("sda2: %+v", p)
	}
	// The file without extents cannot be in the text form.
	for _, o := range m.Objects {
		if o.Path == "/empty" {
			t.Error("/empty read back")
		}
	}
	wantDisks := []Disk{{Index: 1, Device: "/dev/sda", Size: 0x100000}, {Index: 2, Device: "/dev/sdb", Size: 0x10000}}
	if !reflect.DeepEqual(m.Disks, wantDisks) {
		t.Errorf("disks = %+v, want %+v", m.Disks, wantDisks)
	}
}

func TestReadTextLenient(t *testing.T) {
	// Blank lines, a missing final newline, upper-case hex, an unknown
	// escape kept, a \r kept in a name, lines out of order and an
	// object's segments overlapping: all accepted.
	in := "\n1 0 10 v /dev/sda\n\n1 20 30 f /dev/sda1 /a\\tb\r\n1 10 28 f /dev/sda1 /a\\tb\r\n1 2A 2B d /dev/sda1 /d"
	m, err := ReadText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Objects) != 3 {
		t.Fatalf("%d objects: %+v", len(m.Objects), m.Objects)
	}
	f := m.Objects[1]
	if f.Path != "/a\\tb\r" || !reflect.DeepEqual(f.Extents, []Extent{{Off: 0x10, Len: 0x20, FileOff: 0, Role: RoleData}}) {
		t.Errorf("file: %q %+v", f.Path, f.Extents)
	}
	if d := m.Objects[2]; d.Extents[0].Off != 0x2a || d.Extents[0].Len != 1 {
		t.Errorf("dir: %+v", d)
	}
}

func TestWriteTextRefuses(t *testing.T) {
	ext := []Extent{{Off: 0, Len: 1}}
	for _, tc := range []struct {
		name string
		o    Object
		want string
	}{
		{"disk 0", Object{Disk: 0, Kind: KindFile, Device: "/dev/sda", Extents: ext}, "disk index 0"},
		{"bad kind", Object{Disk: 1, Kind: 'x', Device: "/dev/sda", Extents: ext}, "invalid type"},
		{"no device", Object{Disk: 1, Kind: KindFile, Extents: ext}, "empty device"},
		{"space in device", Object{Disk: 1, Kind: KindFile, Device: "/dev/s a", Extents: ext}, "contains a space"},
		{"negative", Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Extents: []Extent{{Off: -5, Len: 1}}}, "bad range"},
		{"overflow", Object{Disk: 1, Kind: KindFile, Device: "/dev/sda", Extents: []Extent{{Off: maxOff, Len: 2}}}, "bad range"},
	} {
		err := WriteText(&bytes.Buffer{}, &Map{Objects: []Object{tc.o}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	if err := WriteText(failWriter{}, sampleMap()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteText: %v", err)
	}
	if err := WriteJSON(failWriter{}, sampleMap()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteJSON: %v", err)
	}
}

// TestWriteTextDeviceOrder checks the order of a segment's lines when
// devices are prefixes of one another, paths are absent or tie for many
// bytes, and (second case) a device holds a control character, which
// sorts before the space that ends a device: against bruteText.
func TestWriteTextDeviceOrder(t *testing.T) {
	for _, devs := range [][]string{
		{"/dev/sda1", "/dev/sda10", "/dev/sda1x", "/dev/sda", "/dev/sdb1", "/dev/sda1\u00e9"},
		{"/dev/sda1", "/dev/sda1\x01", "/dev/sda1\x1f", "/dev/sda", "/dev/sda10"},
	} {
		r := rand.New(rand.NewPCG(3, uint64(len(devs))))
		for round := range 100 {
			b := NewBuilder()
			b.AddDisk(Disk{Index: 1, Device: "/dev/sda", Size: 1 << 12})
			for range 1 + r.IntN(40) {
				o := Object{Disk: 1, Kind: allKinds[r.IntN(len(allKinds))], Device: devs[r.IntN(len(devs))]}
				switch r.IntN(5) {
				case 0: // no path
				case 1:
					o.Path = "/a/long/shared/directory/name/f" + fmt.Sprint(r.IntN(5))
				case 2:
					o.Path = "/a/long/shared/directory/name/f" + fmt.Sprint(r.IntN(5)) + "\x00x"
				case 3:
					// Names that differ where one is escaped: the order
					// is that of the escaped texts (a backslash, "\\\\",
					// before a newline, "\\n", both before "]").
					o.Path = "/a/long/shared/directory/name/f" + []string{"\n", "\\", "[", "]", "n", "\\n", "\nx", "", "\x01"}[r.IntN(9)]
				default:
					o.Path = fmt.Sprint("/", r.IntN(3))
				}
				off := int64(r.IntN(1 << 11))
				o.Extents = []Extent{{Off: off, Len: 1 + int64(r.IntN(1<<10)), FileOff: -1, Role: RoleMeta}}
				b.Add(o)
			}
			m := b.Map()
			if got, want := writeText(t, m), bruteText(m); got != want {
				t.Fatalf("devices %q, round %d:\n--- sweep\n%s--- brute force\n%s", devs, round, got, want)
			}
		}
	}
}
