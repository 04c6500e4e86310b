package part

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// readImage runs Read on a file and collects the warnings.
func readImage(t testing.TB, path string) (*Table, []error, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var warns []error
	tab, err := Read(f, fi.Size(), func(e error) { warns = append(warns, e) })
	return tab, warns, err
}

// compareWithSfdisk checks every partition Read found against sfdisk's.
func compareWithSfdisk(t *testing.T, path string, tab *Table) {
	t.Helper()
	compareTables(t, testutil.Sfdisk(t, path), path, tab)
}

// compareTables checks tab against sfdisk's view; node names are path
// followed by the partition number.
func compareTables(t *testing.T, st testutil.SfdiskTable, path string, tab *Table) {
	t.Helper()
	if tab.SectorSize != st.PartitionTable.SectorSize {
		t.Errorf("sector size %d, sfdisk %d", tab.SectorSize, st.PartitionTable.SectorSize)
	}
	switch tab.Scheme {
	case SchemeMBR:
		if id := fmt.Sprintf("0x%08x", tab.DiskID); id != st.PartitionTable.ID {
			t.Errorf("disk id %s, sfdisk %s", id, st.PartitionTable.ID)
		}
	case SchemeGPT:
		if tab.DiskGUID != st.PartitionTable.ID {
			t.Errorf("disk GUID %s, sfdisk %s", tab.DiskGUID, st.PartitionTable.ID)
		}
	}
	if len(tab.Partitions) != len(st.PartitionTable.Partitions) {
		t.Fatalf("Read found %d partitions, sfdisk %d: %+v", len(tab.Partitions), len(st.PartitionTable.Partitions), tab.Partitions)
	}
	ss := st.PartitionTable.SectorSize
	for i, sp := range st.PartitionTable.Partitions {
		p := tab.Partitions[i]
		num, err := strconv.Atoi(strings.TrimPrefix(sp.Node, path))
		if err != nil {
			t.Fatalf("sfdisk node %q: %v", sp.Node, err)
		}
		if p.Number != num {
			t.Errorf("partition %d: Number %d, sfdisk %d", i, p.Number, num)
		}
		if p.Start != sp.Start*ss || p.Size != sp.Size*ss {
			t.Errorf("partition %d: start %d size %d, sfdisk start %d size %d", num, p.Start, p.Size, sp.Start*ss, sp.Size*ss)
		}
		switch tab.Scheme {
		case SchemeMBR:
			want, _ := strconv.ParseUint(sp.Type, 16, 8)
			got, _ := strconv.ParseUint(strings.TrimPrefix(p.Type, "0x"), 16, 8)
			if got != want || !strings.HasPrefix(p.Type, "0x") {
				t.Errorf("partition %d: type %s, sfdisk %s", num, p.Type, sp.Type)
			}
			if p.Bootable != sp.Bootable {
				t.Errorf("partition %d: bootable %v, sfdisk %v", num, p.Bootable, sp.Bootable)
			}
		case SchemeGPT:
			if p.Type != sp.Type || p.GUID != sp.UUID || p.Name != sp.Name {
				t.Errorf("partition %d: type %s guid %s name %q, sfdisk %s %s %q", num, p.Type, p.GUID, p.Name, sp.Type, sp.UUID, sp.Name)
			}
		}
	}
}

func TestDeviceName(t *testing.T) {
	for _, tc := range []struct {
		disk, part int
		want       string
	}{
		{1, 0, "/dev/sda"},
		{1, 1, "/dev/sda1"},
		{2, 5, "/dev/sdb5"},
		{26, 0, "/dev/sdz"},
		{26, 3, "/dev/sdz3"},
		{27, 1, "/dev/sdaa1"},
		{28, 0, "/dev/sdab"},
		{52, 0, "/dev/sdaz"},
		{53, 0, "/dev/sdba"},
		{702, 0, "/dev/sdzz"},
		{703, 2, "/dev/sdaaa2"},
		{1, 128, "/dev/sda128"},
		{0, 1, ""},
		{-3, 0, ""},
	} {
		if got := DeviceName(tc.disk, tc.part); got != tc.want {
			t.Errorf("DeviceName(%d, %d) = %q, want %q", tc.disk, tc.part, got, tc.want)
		}
	}
}

func TestEmptyAndTinyDisks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		scheme Scheme
	}{
		{"empty", nil, SchemeNone},
		{"short", make([]byte, 100), SchemeNone},
		{"zeros", make([]byte, 1<<20), SchemeNone},
		// An empty DOS label, as "label: dos" alone writes it.
		{"signature only", func() []byte { b := make([]byte, 4096); b[510], b[511] = 0x55, 0xAA; return b }(), SchemeMBR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warns []error
			tab, err := Read(bytesReader(tc.data), int64(len(tc.data)), func(e error) { warns = append(warns, e) })
			if err != nil {
				t.Fatal(err)
			}
			if tab.Scheme != tc.scheme || len(tab.Partitions) != 0 {
				t.Errorf("got %+v, want scheme %q and no partitions", tab, tc.scheme)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
		})
	}
}

type bytesReader []byte

func (b bytesReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(b)) {
		return 0, errEOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errEOF
	}
	return n, nil
}

func exec_Command(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func putLE32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
