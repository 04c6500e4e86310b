package fs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// Type is what Detect found on a device: a filesystem or another kind of
// volume (swap, an LVM physical volume, a LUKS container).
type Type struct {
	// Name is blkid's TYPE: "ext2", "ext3", "ext4", "vfat", "ntfs",
	// "swap", "LVM2_member", "exfat", "xfs", "btrfs", "crypto_LUKS",
	// "iso9660", "jbd"; "" when nothing is recognised.
	Name string
	// Walkable is true for the filesystems virt-bmap walks file by file:
	// ext2/3/4, vfat, ntfs, xfs and btrfs. The others are mapped only as a partition,
	// and Note says why.
	Walkable bool
	// Note is a short remark for a person: the FAT variant ("FAT16"), or
	// why the volume is not walked.
	Note string
	// Label and UUID are as blkid prints them (UUID lower-case for ext,
	// xfs, btrfs and swap; "ABCD-1234" for vfat and exfat; 16 upper-case
	// hex digits for ntfs), when they are cheap to read.
	Label string
	UUID  string
}

// probe recognises one kind of volume. It returns ok false when the
// signature is absent or its structure is implausible.
type probe struct {
	name string
	fn   func(r io.ReaderAt, size int64) (t Type, ok bool)
}

// probes is tried in order; the first match wins. The rules behind the
// order:
//
//   - LUKS first: its header is at byte 0 and everything after it is
//     ciphertext, so no other signature in it means anything.
//   - LVM2 before every boot-sector format: pvcreate writes its label in
//     sector 1 (any of 0-3) and leaves sector 0 alone, so a stale FAT or
//     NTFS boot sector can survive in front of a physical volume.
//   - swap before the boot-sector formats for the same reason: mkswap keeps
//     the first 1024 bytes ("boot bits") as they were.
//   - iso9660 before the boot-sector formats: its first 32 KiB are a free
//     system area, where hybrid images put an MBR or a boot sector.
//   - ext, xfs, btrfs: magic numbers at fixed offsets, unambiguous.
//   - exFAT and NTFS before FAT: both are recognised by their OEM name at
//     byte 3, FAT only by plausibility checks on its BPB, the weakest test,
//     so it comes last.
var probes = []probe{
	{"crypto_LUKS", probeLUKS},
	{"LVM2_member", probeLVM2},
	{"swap", probeSwap},
	{"iso9660", probeISO9660},
	{"ext", probeExt},
	{"xfs", probeXFS},
	{"btrfs", probeBtrfs},
	{"ufs", probeUFS},
	{"exfat", probeExFAT},
	{"ntfs", probeNTFS},
	{"vfat", probeFAT},
}

// Detect recognises the filesystem (or swap, LVM2 physical volume, LUKS
// container...) on the device r of size bytes by its signatures, as
// blkid -p would. It never fails: an unreadable or unknown device gives
// a Type with an empty Name.
func Detect(r io.ReaderAt, size int64) Type {
	for _, p := range probes {
		if t, ok := p.fn(r, size); ok {
			return t
		}
	}
	return Type{}
}

// readAt returns n bytes at off, or nil when they are not all inside the
// device or cannot be read. n is always a small constant or capped by the
// caller.
func readAt(r io.ReaderAt, size, off int64, n int) []byte {
	if off < 0 || n <= 0 || off > size || int64(n) > size-off {
		return nil
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil
	}
	return b
}

// uuidString formats 16 bytes as a lower-case canonical UUID.
func uuidString(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// LUKS1 and LUKS2 share the first fields of the header: magic
// "LUKS\xba\xbe", version (big-endian uint16), and the UUID as a string at
// 168. LUKS2 keeps a label at 24.
func probeLUKS(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0, 208)
	if b == nil || string(b[:6]) != "LUKS\xba\xbe" {
		return Type{}, false
	}
	t := Type{Name: "crypto_LUKS", Note: "LUKS encrypted volume: contents not readable", UUID: cString(b[168:208])}
	if binary.BigEndian.Uint16(b[6:]) == 2 {
		t.Label = cString(b[24:72])
	}
	return t, true
}

// An LVM2 physical volume has a label header ("LABELONE") in one of the
// first four sectors, with its own sector number at 8, a CRC of bytes
// 0x14-511 at 0x10, the type "LVM2 001" at 0x18 and, at the offset
// stored at 0x14, the PV header whose first 32 bytes are the PV UUID.
func probeLVM2(r io.ReaderAt, size int64) (Type, bool) {
	for s := int64(0); s < 4; s++ {
		b := readAt(r, size, s*512, 512)
		if b == nil || string(b[:8]) != "LABELONE" || string(b[0x18:0x20]) != "LVM2 001" {
			continue
		}
		if binary.LittleEndian.Uint64(b[8:]) != uint64(s) {
			continue // the label says it is in another sector
		}
		if lvmCRC(b[0x14:512]) != binary.LittleEndian.Uint32(b[0x10:]) {
			continue // blkid rejects a label whose CRC does not match
		}
		t := Type{Name: "LVM2_member", Note: "LVM2 physical volume"}
		if off := binary.LittleEndian.Uint32(b[0x14:]); off >= 0x20 && off <= 512-32 {
			u := string(b[off : off+32])
			t.UUID = u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
		}
		return t, true
	}
	return Type{}, false
}

// lvmCRC is LVM's CRC-32: the IEEE polynomial, initial value 0xf597a6cf
// and no final inversion.
func lvmCRC(b []byte) uint32 {
	return ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, b)
}

// Swap ends its first page with "SWAPSPACE2" (or the old "SWAP-SPACE").
// The page size is that of the machine that ran mkswap, so every common
// one is tried. The version 1 header at 1024 holds the UUID at +12 and
// the label at +28.
func probeSwap(r io.ReaderAt, size int64) (Type, bool) {
	for _, page := range []int64{4096, 8192, 16384, 32768, 65536} {
		sig := readAt(r, size, page-10, 10)
		if sig == nil {
			continue
		}
		switch string(sig) {
		case "SWAP-SPACE":
			return Type{Name: "swap", Note: "swap (version 0): not walked"}, true
		case "SWAPSPACE2":
			t := Type{Name: "swap", Note: "swap: not walked"}
			if h := readAt(r, size, 1024, 44); h != nil {
				if !isZero(h[12:28]) {
					t.UUID = uuidString(h[12:28])
				}
				t.Label = cString(h[28:44])
			}
			return t, true
		}
	}
	return Type{}, false
}

// ISO 9660: the primary volume descriptor at 32 KiB: type 1, "CD001",
// version 1. blkid makes a UUID of the modification date (or the creation
// date when that is unset): "2024-01-31-12-00-00-00".
func probeISO9660(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0x8000, 2048)
	if b == nil || b[0] != 1 || string(b[1:6]) != "CD001" {
		return Type{}, false
	}
	t := Type{Name: "iso9660", Note: "ISO 9660: not walked", Label: strings.TrimRight(string(b[40:72]), " \x00")}
	for _, off := range []int{830, 813} { // modification, then creation date
		d := b[off : off+16]
		set := false
		for _, c := range d {
			if c != '0' && c != 0 {
				set = true
			}
		}
		if set {
			t.UUID = fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", d[0:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:14], d[14:16])
			break
		}
	}
	return t, true
}

// ext2/3/4: superblock at 1024, magic 0xEF53 at 0x38 in it. The version is
// decided from the feature flags exactly as blkid does: a journal device is
// "jbd"; any feature ext3 does not know makes ext4; else a journal makes
// ext3; else ext2.
func probeExt(r io.ReaderAt, size int64) (Type, bool) {
	sb := readAt(r, size, 1024, 256)
	if sb == nil || binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return Type{}, false
	}
	if binary.LittleEndian.Uint32(sb[0x18:]) > 6 { // s_log_block_size: blocks up to 64 KiB
		return Type{}, false
	}
	const (
		compatHasJournal   = 0x4
		incompatJournalDev = 0x8
		// What ext3 understands (blkid's EXT3_FEATURE_*_SUPP); anything
		// else means ext4.
		ext3Incompat = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
		ext3ROCompat = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	)
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	roCompat := binary.LittleEndian.Uint32(sb[0x64:])
	t := Type{UUID: uuidString(sb[0x68:0x78]), Label: cString(sb[0x78:0x88]), Walkable: true}
	switch {
	case incompat&incompatJournalDev != 0:
		t = Type{Name: "jbd", Note: "ext3/4 external journal: not walked", UUID: t.UUID, Label: t.Label}
	case incompat&^ext3Incompat != 0 || roCompat&^ext3ROCompat != 0:
		t.Name = "ext4"
	case compat&compatHasJournal != 0:
		t.Name = "ext3"
	default:
		t.Name = "ext2"
	}
	return t, true
}

// XFS: superblock at 0, "XFSB", big-endian block size at 4, UUID at 32,
// label at 108.
func probeXFS(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0, 120)
	if b == nil || string(b[:4]) != "XFSB" {
		return Type{}, false
	}
	if bs := binary.BigEndian.Uint32(b[4:]); bs < 512 || bs > 65536 || bs&(bs-1) != 0 {
		return Type{}, false
	}
	return Type{Name: "xfs", Walkable: true, UUID: uuidString(b[32:48]), Label: cString(b[108:120])}, true
}

// btrfs: superblock at 64 KiB, "_BHRfS_M" at 0x40 in it, fsid at 0x20,
// label at 0x12b.
func probeBtrfs(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0x10000, 0x12b+256)
	if b == nil || string(b[0x40:0x48]) != "_BHRfS_M" {
		return Type{}, false
	}
	return Type{Name: "btrfs", Walkable: true, UUID: uuidString(b[0x20:0x30]), Label: cString(b[0x12b:])}, true
}

// UFS (FreeBSD's FFS): the superblock at 64 KiB, 8 KiB, 0 or 256 KiB
// (where blkid looks; makefs puts a UFS2 one at 8 KiB), the magic at
// 1372 in it: 0x00011954 for UFS1, 0x19540119 for UFS2, little-endian.
// blkid's UUID is fs_id (at 144) as two hex words; a UFS2 label is
// fs_volname (at 680). Read by path (fs/ufs, for virt-inspector), not
// walked.
func probeUFS(r io.ReaderAt, size int64) (Type, bool) {
	for _, off := range []int64{0x10000, 0x2000, 0, 0x40000} {
		b := readAt(r, size, off, 1376)
		if b == nil {
			continue
		}
		var t Type
		switch binary.LittleEndian.Uint32(b[1372:]) {
		case 0x00011954:
			t = Type{Name: "ufs", Note: "UFS1: not walked"}
		case 0x19540119:
			t = Type{Name: "ufs", Note: "UFS2: not walked"}
			if h := readAt(r, size, off, 712); h != nil {
				t.Label = cString(h[680:712])
			}
		default:
			continue
		}
		t.UUID = fmt.Sprintf("%08x%08x", binary.LittleEndian.Uint32(b[144:]), binary.LittleEndian.Uint32(b[148:]))
		return t, true
	}
	return Type{}, false
}

// exFAT: "EXFAT   " at 3; volume serial at 100; the label is a directory
// entry (type 0x83) in the root directory.
func probeExFAT(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0, 512)
	if b == nil || string(b[3:11]) != "EXFAT   " {
		return Type{}, false
	}
	serial := binary.LittleEndian.Uint32(b[100:])
	t := Type{Name: "exfat", Note: "exFAT: not walked", UUID: fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)}
	bpsShift, spcShift := b[108], b[109]
	if bpsShift < 9 || bpsShift > 12 || spcShift > 25-bpsShift {
		return t, true
	}
	heap := int64(binary.LittleEndian.Uint32(b[88:])) << bpsShift
	root := int64(binary.LittleEndian.Uint32(b[96:]))
	if root < 2 {
		return t, true
	}
	off := heap + (root-2)<<(bpsShift+spcShift)
	n := min(int64(1)<<(bpsShift+spcShift), 4096) // the label is among the first entries
	dir := readAt(r, size, off, int(n))
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0x83 {
			cnt := min(int(e[1]), 11)
			u := make([]uint16, cnt)
			for j := range u {
				u[j] = binary.LittleEndian.Uint16(e[2+2*j:])
			}
			t.Label = string(utf16.Decode(u))
			break
		}
	}
	return t, true
}

// NTFS: "NTFS    " at 3; volume serial (64-bit) at 0x48; the label is the
// $VOLUME_NAME attribute (0x60) of MFT record 3, $Volume.
func probeNTFS(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0, 512)
	if b == nil {
		return Type{}, false
	}
	note := ""
	if string(b[3:11]) != "NTFS    " {
		// NTFS keeps a copy of its boot sector in the volume's last
		// sector, which ntfs-3g and chkdsk fall back to: a damaged first
		// sector (that is not an MBR) does not hide the volume.
		if b[510] == 0x55 && b[511] == 0xaa {
			return Type{}, false
		}
		bb := readAt(r, size, size-512, 512)
		if bb == nil || string(bb[3:11]) != "NTFS    " {
			return Type{}, false
		}
		b, note = bb, "boot sector damaged: the backup in the last sector is used"
	}
	t := Type{Name: "ntfs", Walkable: true, Note: note, UUID: fmt.Sprintf("%016X", binary.LittleEndian.Uint64(b[0x48:]))}
	bps := int64(binary.LittleEndian.Uint16(b[0x0B:]))
	spc := int64(b[0x0D])
	if spc > 0x80 { // large clusters: 2^(256-n) sectors
		spc = 1 << (256 - spc)
	}
	if bps < 256 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || spc > 1<<12 {
		return t, true
	}
	cluster := bps * spc
	var rec int64
	if c := int8(b[0x40]); c > 0 {
		rec = int64(c) * cluster
	} else if c < 0 && c >= -20 {
		rec = 1 << -int(c)
	}
	if rec < 512 || rec > 65536 {
		return t, true
	}
	mft := int64(binary.LittleEndian.Uint64(b[0x30:]))
	if mft <= 0 || mft > size/cluster {
		return t, true
	}
	if label, ok := ntfsVolumeName(readAt(r, size, mft*cluster+3*rec, int(rec)), bps); ok {
		t.Label = label
	}
	return t, true
}

// ntfsVolumeName finds the resident $VOLUME_NAME attribute in an MFT
// record after applying its update sequence (fixups).
func ntfsVolumeName(rec []byte, bps int64) (string, bool) {
	if len(rec) < 48 || string(rec[:4]) != "FILE" {
		return "", false
	}
	usaOff := int(binary.LittleEndian.Uint16(rec[4:]))
	usaCnt := int(binary.LittleEndian.Uint16(rec[6:]))
	if usaCnt < 1 || usaOff+2*usaCnt > len(rec) || int64(usaCnt-1)*bps > int64(len(rec)) {
		return "", false
	}
	for i := 1; i < usaCnt; i++ {
		end := int64(i)*bps - 2
		if rec[end] != rec[usaOff] || rec[end+1] != rec[usaOff+1] {
			return "", false
		}
		rec[end], rec[end+1] = rec[usaOff+2*i], rec[usaOff+2*i+1]
	}
	off := int(binary.LittleEndian.Uint16(rec[0x14:]))
	for n := 0; n < 64 && off+24 <= len(rec); n++ {
		typ := binary.LittleEndian.Uint32(rec[off:])
		alen := int(binary.LittleEndian.Uint32(rec[off+4:]))
		if typ == 0xFFFFFFFF || alen < 24 || off+alen > len(rec) {
			return "", false
		}
		if typ == 0x60 && rec[off+8] == 0 {
			vlen := int(binary.LittleEndian.Uint32(rec[off+0x10:]))
			voff := int(binary.LittleEndian.Uint16(rec[off+0x14:]))
			if voff+vlen > alen {
				return "", false
			}
			v := rec[off+voff : off+voff+vlen]
			u := make([]uint16, len(v)/2)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(v[2*i:])
			}
			return string(utf16.Decode(u)), true
		}
		off += alen
	}
	return "", false
}

// FAT12/16/32 have no magic number: the BPB must be plausible (bytes per
// sector a power of two 512-4096, sectors per cluster a power of two,
// reserved sectors > 0, one or two FATs, a valid media byte, non-zero
// sizes) and the sector must start with a jump or carry a "FAT" type
// string. The variant is decided as the FAT specification says, by the
// count of clusters, except that a BPB with no 16-bit FAT size is FAT32
// (as blkid decides). blkid names all three "vfat"; Note holds the variant.
func probeFAT(r io.ReaderAt, size int64) (Type, bool) {
	b := readAt(r, size, 0, 512)
	if b == nil {
		return Type{}, false
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	reserved := int64(binary.LittleEndian.Uint16(b[14:]))
	nfats := int64(b[16])
	rootEnts := int64(binary.LittleEndian.Uint16(b[17:]))
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	media := b[21]
	fatsz := int64(binary.LittleEndian.Uint16(b[22:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	fat32 := fatsz == 0
	if fat32 {
		fatsz = int64(binary.LittleEndian.Uint32(b[36:]))
	}
	switch {
	case bps < 512 || bps > 4096 || bps&(bps-1) != 0,
		spc == 0 || spc&(spc-1) != 0,
		reserved == 0,
		nfats < 1 || nfats > 2,
		media != 0xF0 && media < 0xF8,
		total == 0, fatsz == 0,
		fat32 && rootEnts != 0:
		return Type{}, false
	}
	typeStr := string(b[0x36:0x3B])
	if fat32 {
		typeStr = string(b[0x52:0x57])
	}
	if b[0] != 0xEB && b[0] != 0xE9 && typeStr[:3] != "FAT" {
		return Type{}, false
	}
	rootSecs := (rootEnts*32 + bps - 1) / bps
	meta := reserved + nfats*fatsz + rootSecs
	if meta >= total {
		return Type{}, false
	}
	clusters := (total - meta) / spc
	t := Type{Name: "vfat", Walkable: true}
	var serialOff, labelOff int
	var rootOff, rootLen int64
	switch {
	case fat32:
		t.Note = "FAT32"
		serialOff, labelOff = 0x43, 0x47
		rootClus := int64(binary.LittleEndian.Uint32(b[44:]))
		rootOff = (reserved + nfats*fatsz + (rootClus-2)*spc) * bps
		rootLen = spc * bps
		if rootClus < 2 || rootClus-2 > clusters {
			rootLen = 0
		}
	default:
		t.Note = "FAT16"
		if clusters < 4085 {
			t.Note = "FAT12"
		}
		serialOff, labelOff = 0x27, 0x2B
		rootOff = (reserved + nfats*fatsz) * bps
		rootLen = rootSecs * bps
	}
	if b[serialOff-1] == 0x29 || b[serialOff-1] == 0x28 { // extended boot signature
		serial := binary.LittleEndian.Uint32(b[serialOff:])
		t.UUID = fmt.Sprintf("%04X-%04X", serial>>16, serial&0xffff)
		if l := strings.TrimRight(string(b[labelOff:labelOff+11]), " "); l != "NO NAME" {
			t.Label = l
		}
	}
	// blkid prefers the volume-label entry of the root directory.
	dir := readAt(r, size, rootOff, int(min(rootLen, 64<<10)))
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 || e[11] == 0x0F || e[11]&0x08 == 0 {
			continue
		}
		t.Label = strings.TrimRight(string(e[:11]), " ")
		break
	}
	return t, true
}
