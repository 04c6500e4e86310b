package fs

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const fixedUUID = "12345678-1234-4234-9234-123456789abc"

// blkidExport parses `blkid -p -o export` output; values are unescaped.
func blkidExport(t testing.TB, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		m[k] = b.String()
	}
	return m
}

// blkid asks `blkid -p` for TYPE, UUID, LABEL and VERSION, one at a time
// with -o value so that non-ASCII labels come back as raw bytes.
func blkid(t testing.TB, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, k := range []string{"TYPE", "UUID", "LABEL", "VERSION"} {
		out, err := exec.Command("blkid", "-p", "-o", "value", "-s", k, path).Output()
		if err != nil {
			t.Fatalf("blkid -p -s %s %s: %v", k, path, err)
		}
		m[k] = strings.TrimSuffix(string(out), "\n")
	}
	return m
}

func detectFile(t testing.TB, path string) Type {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Detect(f, fi.Size())
}

// compareBlkid checks TYPE, UUID and LABEL against blkid's.
func compareBlkid(t *testing.T, got Type, b map[string]string) {
	t.Helper()
	if got.Name != b["TYPE"] || got.UUID != b["UUID"] || got.Label != b["LABEL"] {
		t.Errorf("Detect: TYPE=%q UUID=%q LABEL=%q\nblkid:  TYPE=%q UUID=%q LABEL=%q",
			got.Name, got.UUID, got.Label, b["TYPE"], b["UUID"], b["LABEL"])
	}
}

// TestDetectMatchesBlkid makes each kind of volume with its own mkfs and
// compares Detect with blkid -p. Each case is skipped when its tool is
// missing (Debian packages: e2fsprogs, dosfstools, ntfs-3g, util-linux,
// exfatprogs, xfsprogs, btrfs-progs, cryptsetup-bin, xorriso).
func TestDetectMatchesBlkid(t *testing.T) {
	testutil.NeedTools(t, "blkid")
	for _, tc := range []struct {
		name     string
		size     int64
		tool     string
		args     []string // the image path is appended, unless an arg is "IMG"
		walkable bool
		note     string // Note must contain it
		version  string // blkid's VERSION, when it should match Note
	}{
		{name: "ext2", size: 8 << 20, tool: "mkfs.ext2", args: []string{"-q", "-F", "-L", "e2label", "-U", fixedUUID}, walkable: true},
		{name: "ext3", size: 8 << 20, tool: "mkfs.ext3", args: []string{"-q", "-F", "-L", "e3label", "-U", fixedUUID}, walkable: true},
		{name: "ext4", size: 8 << 20, tool: "mkfs.ext4", args: []string{"-q", "-F", "-L", "e4label", "-U", fixedUUID}, walkable: true},
		{name: "ext4 without journal", size: 8 << 20, tool: "mkfs.ext4", args: []string{"-q", "-F", "-O", "^has_journal"}, walkable: true},
		{name: "ext3 features only", size: 8 << 20, tool: "mkfs.ext4", args: []string{"-q", "-F", "-O", "^extent,^flex_bg,^huge_file,^dir_nlink,^extra_isize,^metadata_csum,^64bit", "-I", "128"}, walkable: true},
		{name: "jbd", size: 8 << 20, tool: "mkfs.ext4", args: []string{"-q", "-F", "-O", "journal_dev", "-b", "4096", "-L", "jlabel"}, note: "journal"},
		{name: "vfat FAT12", size: 4 << 20, tool: "mkfs.vfat", args: []string{"-F", "12", "-n", "FAT12LBL", "-i", "1234ABCD"}, walkable: true, note: "FAT12", version: "FAT12"},
		{name: "vfat FAT16", size: 20 << 20, tool: "mkfs.vfat", args: []string{"-F", "16", "-n", "FAT16 LBL", "-i", "DEADBEEF"}, walkable: true, note: "FAT16", version: "FAT16"},
		{name: "vfat FAT32", size: 40 << 20, tool: "mkfs.vfat", args: []string{"-F", "32", "-s", "1", "-n", "FAT32LBL", "-i", "0BADF00D"}, walkable: true, note: "FAT32", version: "FAT32"},
		{name: "vfat no label", size: 20 << 20, tool: "mkfs.vfat", args: []string{"-F", "16", "-i", "11112222"}, walkable: true, note: "FAT16"},
		{name: "ntfs", size: 16 << 20, tool: "mkntfs", args: []string{"-q", "-f", "-F", "-L", "NTFS label é"}, walkable: true},
		{name: "ntfs no label", size: 16 << 20, tool: "mkntfs", args: []string{"-q", "-f", "-F"}, walkable: true},
		{name: "swap", size: 4 << 20, tool: "mkswap", args: []string{"-L", "swaplabel", "-U", fixedUUID}, note: "swap"},
		{name: "swap 64k pages", size: 4 << 20, tool: "mkswap", args: []string{"-p", "65536", "-U", fixedUUID}, note: "swap"},
		{name: "exfat", size: 8 << 20, tool: "mkfs.exfat", args: []string{"-L", "exlabel"}, note: "exFAT"},
		{name: "exfat no label", size: 8 << 20, tool: "mkfs.exfat", note: "exFAT"},
		{name: "xfs", size: 300 << 20, tool: "mkfs.xfs", args: []string{"-q", "-L", "xfslabel", "-m", "uuid=" + fixedUUID}, walkable: true},
		{name: "ufs2", size: 32 << 20, tool: "makefs", args: []string{"-t", "ffs", "-o", "version=2", "-s", "32m", "IMG", "DIR"}, note: "UFS2"},
		{name: "ufs2 64k blocks", size: 96 << 20, tool: "makefs", args: []string{"-t", "ffs", "-o", "version=2,bsize=65536,fsize=8192", "-s", "96m", "IMG", "DIR"}, note: "UFS2"},
		{name: "ufs1", size: 32 << 20, tool: "makefs", args: []string{"-t", "ffs", "-o", "version=1", "-s", "32m", "IMG", "DIR"}, note: "UFS1"},
		{name: "btrfs", size: 128 << 20, tool: "mkfs.btrfs", args: []string{"-q", "-L", "btrlabel", "-U", fixedUUID}, walkable: true},
		{name: "luks2", size: 20 << 20, tool: "cryptsetup", args: []string{"luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--label", "lukslabel", "--uuid", fixedUUID, "--key-file", "KEY", "IMG"}, note: "LUKS"},
		{name: "luks1", size: 4 << 20, tool: "cryptsetup", args: []string{"luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--uuid", fixedUUID, "--key-file", "KEY", "IMG"}, note: "LUKS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.NeedTools(t, tc.tool)
			dir := t.TempDir()
			img := testutil.SparseFile(t, tc.size)
			if err := os.WriteFile(filepath.Join(dir, "key"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			args, hasImg := []string{}, false
			for _, a := range tc.args {
				switch a {
				case "IMG":
					a, hasImg = img, true
				case "KEY":
					a = filepath.Join(dir, "key")
				case "DIR":
					a = t.TempDir()
				}
				args = append(args, a)
			}
			if !hasImg {
				args = append(args, img)
			}
			testutil.Run(t, "", tc.tool, args...)
			got := detectFile(t, img)
			b := blkid(t, img)
			if b["TYPE"] == "" {
				t.Fatalf("blkid recognises nothing: %v", b)
			}
			compareBlkid(t, got, b)
			if got.Walkable != tc.walkable {
				t.Errorf("Walkable %v, want %v", got.Walkable, tc.walkable)
			}
			if !strings.Contains(got.Note, tc.note) || (!tc.walkable && got.Note == "") {
				t.Errorf("Note %q, want it to say %q", got.Note, tc.note)
			}
			if tc.version != "" && b["VERSION"] != tc.version {
				t.Errorf("blkid VERSION %q, want %q", b["VERSION"], tc.version)
			}
		})
	}
}

func TestDetectISO9660(t *testing.T) {
	testutil.NeedTools(t, "xorriso", "blkid")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "cd.iso")
	testutil.Run(t, "", "xorriso", "-as", "mkisofs", "-quiet", "-V", "ISO_LABEL", "-o", img, dir)
	got := detectFile(t, img)
	compareBlkid(t, got, blkid(t, img))
	if got.Walkable || got.Note == "" {
		t.Errorf("iso9660: Walkable %v Note %q", got.Walkable, got.Note)
	}
}

// TestDetectLVM2 reads the committed physical volume made by
// testdata/mklvm.sh and compares with blkid's output saved beside it (and
// with blkid itself, when it is installed).
func TestDetectLVM2(t *testing.T) {
	img := testutil.Gunzip(t, "testdata/lvm2-pv.img.gz")
	saved, err := os.ReadFile("testdata/lvm2-pv.blkid")
	if err != nil {
		t.Fatal(err)
	}
	got := Detect(bytes.NewReader(img), int64(len(img)))
	compareBlkid(t, got, blkidExport(t, string(saved)))
	if got.Walkable || !strings.Contains(got.Note, "LVM2") {
		t.Errorf("Walkable %v Note %q", got.Walkable, got.Note)
	}
	if _, err := exec.LookPath("blkid"); err == nil {
		p := filepath.Join(t.TempDir(), "pv.img")
		if err := os.WriteFile(p, img, 0o644); err != nil {
			t.Fatal(err)
		}
		compareBlkid(t, got, blkid(t, p))
	}
	// A label whose CRC does not match is not LVM2 (blkid agrees).
	bad := bytes.Clone(img)
	bad[512+0x30] ^= 1
	if got := Detect(bytes.NewReader(bad), int64(len(bad))); got.Name == "LVM2_member" {
		t.Errorf("label with a bad CRC detected as %+v", got)
	}
}

func TestDetectNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"zeros", make([]byte, 1<<20)},
		{"0x55AA only", func() []byte { b := make([]byte, 512); b[510], b[511] = 0x55, 0xAA; return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(bytes.NewReader(tc.data), int64(len(tc.data))); got != (Type{}) {
				t.Errorf("Detect = %+v, want nothing", got)
			}
		})
	}
}

// mkfsBytes makes a filesystem image with tool and returns its bytes, or
// skips the test when the tool is missing.
func mkfsBytes(t *testing.T, size int64, tool string, args ...string) []byte {
	t.Helper()
	testutil.NeedTools(t, tool)
	p := testutil.SparseFile(t, size)
	testutil.Run(t, "", tool, append(args, p)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDetectCorrupt damages real images: flipped magic numbers, implausible
// fields, truncation, damaged label structures. Each must give the
// expected type (or none), never a panic.
func TestDetectCorrupt(t *testing.T) {
	put16 := func(b []byte, off int, v uint16) { b[off], b[off+1] = byte(v), byte(v>>8) }
	for _, tc := range []struct {
		name      string
		tool      string
		size      int64
		args      []string
		mutate    func(b []byte) []byte
		want      string // Name
		wantLabel string
	}{
		{"ext4 magic flipped", "mkfs.ext4", 8 << 20, []string{"-q", "-F"}, func(b []byte) []byte { b[0x438] ^= 0xff; return b }, "", ""},
		{"ext4 block size 2^60", "mkfs.ext4", 8 << 20, []string{"-q", "-F"}, func(b []byte) []byte { b[1024+0x18] = 50; return b }, "", ""},
		{"ext4 truncated in the superblock", "mkfs.ext4", 8 << 20, []string{"-q", "-F"}, func(b []byte) []byte { return b[:1100] }, "", ""},
		{"vfat bytes per sector 0", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { put16(b, 11, 0); return b }, "", ""},
		{"vfat bytes per sector 768", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { put16(b, 11, 768); return b }, "", ""},
		{"vfat sectors per cluster 3", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { b[13] = 3; return b }, "", ""},
		{"vfat no reserved sectors", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { put16(b, 14, 0); return b }, "", ""},
		{"vfat three FATs", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { b[16] = 3; return b }, "", ""},
		{"vfat media byte 0", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { b[21] = 0; return b }, "", ""},
		{"vfat FAT bigger than the volume", "mkfs.vfat", 20 << 20, []string{"-F", "16"}, func(b []byte) []byte { put16(b, 22, 0xffff); return b }, "", ""},
		{"vfat truncated to the boot sector", "mkfs.vfat", 20 << 20, []string{"-F", "16", "-n", "BOOTLBL"}, func(b []byte) []byte { return b[:512] }, "vfat", "BOOTLBL"},
		{"FAT32 root cluster beyond the volume", "mkfs.vfat", 40 << 20, []string{"-F", "32", "-s", "1", "-n", "LBL32"}, func(b []byte) []byte {
			b[44], b[45], b[46], b[47] = 0xff, 0xff, 0xff, 0x0f
			return b
		}, "vfat", "LBL32"},
		{"ntfs OEM name flipped", "mkntfs", 16 << 20, []string{"-q", "-f", "-F", "-L", "nt"}, func(b []byte) []byte { b[3] ^= 0xff; return b }, "", ""},
		{"ntfs MFT beyond the volume", "mkntfs", 16 << 20, []string{"-q", "-f", "-F", "-L", "nt"}, func(b []byte) []byte {
			for i := 0x30; i < 0x38; i++ {
				b[i] = 0x7f
			}
			return b
		}, "ntfs", ""},
		{"ntfs record size 2^-100", "mkntfs", 16 << 20, []string{"-q", "-f", "-F", "-L", "nt"}, func(b []byte) []byte { b[0x40] = 0x9c; return b }, "ntfs", ""},
		{"ntfs $Volume record damaged", "mkntfs", 16 << 20, []string{"-q", "-f", "-F", "-L", "nt"}, func(b []byte) []byte {
			// Find $Volume (record 3) as the probe does and break its fixup.
			bps := int64(b[0x0B]) | int64(b[0x0C])<<8
			cluster := bps * int64(b[0x0D])
			mft := int64(b[0x30]) | int64(b[0x31])<<8 | int64(b[0x32])<<16
			rec := int64(1) << -int(int8(b[0x40]))
			off := mft*cluster + 3*rec
			if string(b[off:off+4]) != "FILE" {
				t.Fatalf("no MFT record at %#x", off)
			}
			b[off+bps-1] ^= 0xff
			return b
		}, "ntfs", ""},
		{"swap signature flipped", "mkswap", 4 << 20, []string{"-L", "sw"}, func(b []byte) []byte { b[4096-10] ^= 0xff; return b }, "", ""},
		{"swap truncated before the signature", "mkswap", 4 << 20, []string{"-L", "sw"}, func(b []byte) []byte { return b[:4090] }, "", ""},
		{"exfat root cluster beyond the volume", "mkfs.exfat", 8 << 20, []string{"-L", "ex"}, func(b []byte) []byte {
			b[96], b[97], b[98], b[99] = 0xff, 0xff, 0xff, 0x7f
			return b
		}, "exfat", ""},
		{"exfat bad sector shift", "mkfs.exfat", 8 << 20, []string{"-L", "ex"}, func(b []byte) []byte { b[108] = 200; return b }, "exfat", ""},
		{"all zeros", "mkfs.ext4", 8 << 20, []string{"-q", "-F"}, func(b []byte) []byte { return make([]byte, len(b)) }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(mkfsBytes(t, tc.size, tc.tool, tc.args...))
			got := Detect(bytes.NewReader(b), int64(len(b)))
			if got.Name != tc.want || got.Label != tc.wantLabel {
				t.Errorf("Detect = %+v, want Name %q Label %q", got, tc.want, tc.wantLabel)
			}
		})
	}
}

// TestNTFSBackupBootSector: mkntfs's volume with its first sector zeroed
// is still NTFS, found through the backup boot sector in its last sector
// (as ntfs-3g finds it), and said so; an MBR in the first sector is not
// mistaken for it.
func TestNTFSBackupBootSector(t *testing.T) {
	testutil.NeedTools(t, "mkntfs")
	p := testutil.SparseFile(t, 16<<20)
	testutil.Run(t, "", "mkntfs", "-F", "-Q", "-q", "-L", "win", p)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Detect(bytes.NewReader(b), int64(len(b)))
	clear(b[:512])
	got := Detect(bytes.NewReader(b), int64(len(b)))
	if got.Name != "ntfs" || got.UUID != want.UUID || got.Label != "win" || !strings.Contains(got.Note, "backup") {
		t.Errorf("zeroed boot sector: %+v, want the clean volume's %+v with a note", got, want)
	}
	b[510], b[511] = 0x55, 0xaa
	if got := Detect(bytes.NewReader(b), int64(len(b))); got.Name == "ntfs" {
		t.Errorf("an MBR in the first sector detected as %+v", got)
	}
}
