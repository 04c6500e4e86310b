package ext

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// dumpe2fsHeader parses "dumpe2fs -h": field name -> value.
func dumpe2fsHeader(t testing.TB, img string) map[string]string {
	t.Helper()
	out := run(t, "dumpe2fs", "-h", img)
	res := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			res[k] = strings.TrimSpace(v)
		}
	}
	return res
}

// TestSuperblockAgainstDumpe2fs decodes the superblocks of images of every
// shape and compares the fields with dumpe2fs -h, and the type with blkid.
func TestSuperblockAgainstDumpe2fs(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "dumpe2fs")
	t.Parallel()
	cases := []struct {
		typ  string
		opts []string
	}{
		{"ext2", []string{"-b", "1024"}},
		{"ext2", []string{"-b", "4096", "-O", "^sparse_super,^resize_inode"}},
		{"ext3", []string{"-b", "2048"}},
		{"ext4", []string{"-b", "4096"}},
		{"ext4", []string{"-O", "bigalloc", "-C", "16384"}},
		{"ext4", []string{"-b", "1024", "-O", "^64bit,^metadata_csum"}},
		{"ext2", []string{"-b", "1024", "-O", "extent"}}, // ext2 with extents is ext4 to blkid
	}
	for _, c := range cases {
		t.Run(c.typ+strings.Join(c.opts, ""), func(t *testing.T) {
			img := mkfs(t, c.typ, "", "32M", c.opts...)
			b, err := os.ReadFile(img)
			must(t, err)
			sb, err := parseSuperblock(b[superblockOff : superblockOff+superblockSize])
			must(t, err)
			must(t, sb.check(int64(len(b))))
			h := dumpe2fsHeader(t, img)
			num := func(k string) uint64 {
				n, err := strconv.ParseUint(h[k], 10, 64)
				if err != nil {
					t.Fatalf("dumpe2fs %s: %q", k, h[k])
				}
				return n
			}
			for _, c := range []struct {
				name      string
				got, want uint64
			}{
				{"Block count", sb.blocksCount, num("Block count")},
				{"Inode count", uint64(sb.inodesCount), num("Inode count")},
				{"Block size", uint64(sb.blockSize()), num("Block size")},
				{"Blocks per group", uint64(sb.blocksPerGroup), num("Blocks per group")},
				{"Inodes per group", uint64(sb.inodesPerGroup), num("Inodes per group")},
				{"Inode size", uint64(sb.inodeSize), num("Inode size")},
				{"First block", uint64(sb.firstDataBlock), num("First block")},
			} {
				if c.got != c.want {
					t.Errorf("%s = %d, dumpe2fs %d", c.name, c.got, c.want)
				}
			}
			if h["Reserved GDT blocks"] != "" && uint64(sb.reservedGDT) != num("Reserved GDT blocks") {
				t.Errorf("reserved GDT %d, dumpe2fs %s", sb.reservedGDT, h["Reserved GDT blocks"])
			}
			if h["Cluster size"] != "" && uint64(sb.blockSize())*uint64(sb.clusterRatio()) != num("Cluster size") {
				t.Errorf("cluster ratio %d, dumpe2fs cluster size %s", sb.clusterRatio(), h["Cluster size"])
			}
			if sb.uuidString() != h["Filesystem UUID"] || sb.label() != h["Filesystem volume name"] {
				t.Errorf("uuid %q label %q, dumpe2fs %q %q", sb.uuidString(), sb.label(), h["Filesystem UUID"], h["Filesystem volume name"])
			}
			if !sb.checksumOK() {
				t.Error("superblock checksum mismatch")
			}
			if _, err := os.Stat("/usr/sbin/blkid"); err == nil {
				want := strings.TrimSpace(string(run(t, "blkid", "-p", "-o", "value", "-s", "TYPE", img)))
				if got := sb.fsType(); got != want {
					t.Errorf("type %q, blkid %q", got, want)
				}
			}
		})
	}
}

func TestSuperblockChecksum(t *testing.T) {
	b := loadFixture(t, "small-ext4.img.gz")
	sb, err := parseSuperblock(b[superblockOff:])
	must(t, err)
	if !sb.checksumOK() {
		t.Fatal("pristine superblock checksum does not match")
	}
	b[superblockOff+0x78] ^= 1 // the label
	sb, err = parseSuperblock(b[superblockOff:])
	must(t, err)
	if sb.checksumOK() {
		t.Error("checksum still matches after the label changed")
	}
}

func TestSuperblockCorrupt(t *testing.T) {
	base := loadFixture(t, "small-ext4.img.gz")
	tests := []struct {
		name  string
		patch func(b []byte)
		want  string
	}{
		{"short", nil, "short superblock"},
		{"magic", func(b []byte) { b[0x38] = 0 }, "bad magic"},
		{"log block size", func(b []byte) { b[0x18] = 7 }, "bad block size"},
		{"inodes per group", func(b []byte) { b[0x28], b[0x29], b[0x2a], b[0x2b] = 0, 0, 0, 0 }, "s_inodes_per_group"},
		{"inode size", func(b []byte) { b[0x58], b[0x59] = 100, 0 }, "bad inode size"},
		{"first data block", func(b []byte) { b[0x14] = 0 }, "s_first_data_block"},
		{"blocks count", func(b []byte) { b[0x07] = 0x40 }, "but the device has"},
		{"desc size", func(b []byte) { b[0x60] |= 0x80; b[0xFE], b[0xFF] = 48, 0 }, "descriptor size"},
		{"journal device", func(b []byte) { b[0x60] |= 0x08 }, "external journal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), base[superblockOff:superblockOff+superblockSize]...)
			if tc.patch == nil {
				b = b[:100]
			} else {
				tc.patch(b)
			}
			sb, err := parseSuperblock(b)
			if err == nil {
				err = sb.check(int64(len(base)))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFsType(t *testing.T) {
	for _, c := range []struct {
		compat, incompat, ro uint32
		want                 string
	}{
		{0, incompatFiletype, roCompatSparseSuper | roCompatLargeFile, "ext2"},
		{compatHasJournal, incompatFiletype, roCompatSparseSuper, "ext3"},
		{compatHasJournal, incompatFiletype | incompatRecover, 0, "ext3"},
		{compatHasJournal, incompatExtents, 0, "ext4"},
		{0, incompatFlexBG, 0, "ext4"},
		{0, 0, roCompatHugeFile, "ext4"},
		{0, incompatMetaBG, 0, "ext2"},
	} {
		sb := &superblock{featureCompat: c.compat, featureIncompat: c.incompat, featureROCompat: c.ro}
		if got := sb.fsType(); got != c.want {
			t.Errorf("features %#x/%#x/%#x: %s, want %s", c.compat, c.incompat, c.ro, got, c.want)
		}
	}
}
