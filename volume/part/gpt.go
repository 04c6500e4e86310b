package part

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/virt-bmap/virt-bmap/fs"
)

// The GPT is read by go-diskfs (partition/gpt): it parses the header at
// LBA 1, checks the header's and the entry array's CRC32, and falls back to
// the backup header in the disk's last sector when the primary fails.
//
// go-diskfs trusts the header's geometry once its CRC matches: it allocates
// entry count x entry size bytes without a limit (a forged header asks for
// up to 2^64 bytes) and reads them from wherever the header points. So
// every header is first checked here (checkGPTHeader): signature, size,
// CRC, entry size 128, at most maxGPTEntryBytes of entries, the array
// inside the disk, and the entry array's CRC. A primary header that fails
// is hidden from go-diskfs (the adapter reads it as zeros) so that it uses
// the backup; this check also gives the warning its reason, which
// go-diskfs does not return when it recovers.
//
// go-diskfs is only ever given gptFile, a read-only adapter: nothing can
// be written to the image.

const (
	gptEntrySize     = 128
	maxGPTEntryBytes = 1 << 20 // 8192 entries of 128 bytes; sgdisk's default is 128 entries
	gptHeaderSize    = 92
)

var gptSignature = []byte("EFI PART")

// gptSectorSize looks for a GPT header signature at LBA 1 for 512-byte and
// then 4096-byte sectors and returns the sector size it found, or 0.
func gptSectorSize(r io.ReaderAt, size int64) int64 {
	for _, ss := range []int64{512, 4096} {
		if size < 3*ss {
			continue
		}
		var sig [8]byte
		if _, err := r.ReadAt(sig[:], ss); err == nil && bytes.Equal(sig[:], gptSignature) {
			return ss
		}
	}
	return 0
}

// gptHeader is the part of a GPT header this package checks.
type gptHeader struct {
	MyLBA, AltLBA   uint64
	EntriesLBA      uint64
	Count, EntrySz  uint32
	EntriesCRC      uint32
	FirstUsableLBA  uint64
	LastUsableLBA   uint64
	headerOffset    int64
	entriesArrayOff int64
}

// checkGPTHeader reads and validates the header in the sector at off and
// its entry array. The header must say it is at the LBA where it is found.
func checkGPTHeader(r io.ReaderAt, size, ss, off int64) (*gptHeader, error) {
	ferr := func(format string, a ...any) error {
		return &diskerr.FormatError{FS: "gpt", Off: off, What: "header", Msg: fmt.Sprintf(format, a...)}
	}
	if off < 0 || off+ss > size {
		return nil, ferr("outside the disk (%d bytes)", size)
	}
	b := make([]byte, gptHeaderSize)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("gpt: reading header at %#x: %w", off, err)
	}
	if !bytes.Equal(b[:8], gptSignature) {
		return nil, ferr("no \"EFI PART\" signature")
	}
	if hs := binary.LittleEndian.Uint32(b[12:]); hs != gptHeaderSize {
		return nil, ferr("header size %d, want %d", hs, gptHeaderSize)
	}
	if rev := binary.LittleEndian.Uint32(b[8:]); rev != 0x00010000 {
		return nil, ferr("revision %#x, want 0x10000", rev)
	}
	if binary.LittleEndian.Uint32(b[20:]) != 0 {
		return nil, ferr("reserved field at +20 is not zero") // go-diskfs refuses it too
	}
	want := binary.LittleEndian.Uint32(b[16:])
	copy(b[16:20], []byte{0, 0, 0, 0})
	if got := crc32.ChecksumIEEE(b); got != want {
		return nil, ferr("header CRC32 %#08x does not match the stored %#08x", got, want)
	}
	h := &gptHeader{
		MyLBA:          binary.LittleEndian.Uint64(b[24:]),
		AltLBA:         binary.LittleEndian.Uint64(b[32:]),
		FirstUsableLBA: binary.LittleEndian.Uint64(b[40:]),
		LastUsableLBA:  binary.LittleEndian.Uint64(b[48:]),
		EntriesLBA:     binary.LittleEndian.Uint64(b[72:]),
		Count:          binary.LittleEndian.Uint32(b[80:]),
		EntrySz:        binary.LittleEndian.Uint32(b[84:]),
		EntriesCRC:     binary.LittleEndian.Uint32(b[88:]),
		headerOffset:   off,
	}
	if h.MyLBA != uint64(off/ss) {
		return nil, ferr("header says it is at LBA %d, found at LBA %d", h.MyLBA, off/ss)
	}
	if h.EntrySz != gptEntrySize {
		return nil, ferr("entry size %d not supported (want %d)", h.EntrySz, gptEntrySize)
	}
	n := int64(h.Count) * gptEntrySize
	if n > maxGPTEntryBytes {
		return nil, ferr("%d entries: more than the %d this reader accepts", h.Count, maxGPTEntryBytes/gptEntrySize)
	}
	if h.EntriesLBA > uint64(size/ss) || int64(h.EntriesLBA)*ss+n > size {
		return nil, ferr("entry array at LBA %d (%d bytes) lies past the disk's end", h.EntriesLBA, n)
	}
	h.entriesArrayOff = int64(h.EntriesLBA) * ss
	arr := make([]byte, n)
	if _, err := r.ReadAt(arr, h.entriesArrayOff); err != nil {
		return nil, fmt.Errorf("gpt: reading entry array at %#x: %w", h.entriesArrayOff, err)
	}
	if got := crc32.ChecksumIEEE(arr); got != h.EntriesCRC {
		return nil, &diskerr.FormatError{FS: "gpt", Off: h.entriesArrayOff, What: "entry array",
			Msg: fmt.Sprintf("CRC32 %#08x does not match the %#08x stored in the header at %#x", got, h.EntriesCRC, off)}
	}
	return h, nil
}

// readGPT reads the GPT of a disk with ss-byte logical sectors.
func readGPT(r io.ReaderAt, size, ss int64, warn fs.WarnFunc) (*Table, error) {
	primaryOff := ss
	backupOff := (size/ss - 1) * ss
	// Each header and its entry array are read and checked once; the
	// results choose the header, drive the warnings and give the regions.
	ph, perr := checkGPTHeader(r, size, ss, primaryOff)
	bh, berr := checkGPTHeader(r, size, ss, backupOff)
	f := &gptFile{r: r, size: size}
	used := ph
	if perr != nil {
		if berr != nil {
			return nil, fmt.Errorf("gpt: no valid header (primary: %w; backup: %v)", perr, berr)
		}
		used = bh
		// Hide the primary from go-diskfs so that it takes the backup
		// even when the primary only failed one of our own checks.
		f.maskOff, f.maskLen = primaryOff, ss
	}
	t, err := gpt.Read(f, int(ss), int(ss))
	if err != nil {
		return nil, fmt.Errorf("gpt: reading the table at %#x: %w", used.headerOffset, err)
	}
	switch {
	case perr == nil && t.RecoveredFromBackup:
		// Our checks passed the primary but go-diskfs did not.
		warn(&diskerr.FormatError{FS: "gpt", Off: primaryOff, What: "primary header",
			Msg: fmt.Sprintf("refused by go-diskfs, using backup header at %#x", backupOff)})
	case perr == nil:
		checkBackup(size, ss, ph, berr, warn)
	default:
		if !t.RecoveredFromBackup {
			return nil, fmt.Errorf("gpt: primary header at %#x invalid (%w) but go-diskfs did not use the backup", primaryOff, perr)
		}
		warn(fmt.Errorf("gpt: primary header at %#x invalid, using backup header at %#x: %w", primaryOff, backupOff, perr))
	}
	out := &Table{Scheme: SchemeGPT, DiskGUID: t.GUID, SectorSize: ss,
		Regions: []Region{{"protective MBR", 0, sectorSize}}}
	if perr == nil {
		out.Regions = append(out.Regions, ph.regions("GPT header", "GPT entries", ss)...)
	}
	if berr == nil {
		out.Regions = append(out.Regions, bh.regions("GPT backup header", "GPT backup entries", ss)...)
	}
	lbas := uint64(size / ss)
	for _, p := range t.Partitions {
		if p == nil {
			continue
		}
		entryOff := used.entriesArrayOff + int64(p.Index-1)*gptEntrySize
		q := Partition{
			Number:   p.Index,
			Type:     string(p.Type),
			TypeName: gptTypeName(string(p.Type)),
			Name:     p.Name,
			GUID:     p.GUID,
		}
		if p.End < p.Start {
			warn(&diskerr.FormatError{FS: "gpt", Off: entryOff, What: fmt.Sprintf("partition %d", p.Index),
				Msg: fmt.Sprintf("last LBA %d before first LBA %d: skipped", p.End, p.Start)})
			continue
		}
		if p.Start >= lbas {
			warn(&diskerr.FormatError{FS: "gpt", Off: entryOff, What: fmt.Sprintf("partition %d", p.Index),
				Msg: fmt.Sprintf("starts at LBA %d, beyond the disk's end (LBA %d): skipped", p.Start, lbas)})
			continue
		}
		q.Start = int64(p.Start) * ss
		if p.End >= lbas {
			q.Size = size - q.Start
			warn(&diskerr.FormatError{FS: "gpt", Off: entryOff, What: fmt.Sprintf("partition %d", p.Index),
				Msg: fmt.Sprintf("LBAs %d-%d run past the disk's end (%d LBAs): clamped to %d bytes", p.Start, p.End, lbas, q.Size)})
		} else {
			q.Size = int64(p.End-p.Start+1) * ss
		}
		out.Partitions = append(out.Partitions, q)
	}
	warnOverlaps("gpt", out.Partitions, warn)
	return out, nil
}

// checkBackup warns when the primary header is sound but the backup is
// not where it should be or is damaged (berr, from checking the disk's
// last sector), as sgdisk -v does: the table is still read from the
// primary, but one more fault would make it unreadable.
func checkBackup(size, ss int64, ph *gptHeader, berr error, warn fs.WarnFunc) {
	last := uint64(size/ss - 1)
	if ph.AltLBA != last {
		warn(&diskerr.FormatError{FS: "gpt", Off: ph.headerOffset, What: "primary header",
			Msg: fmt.Sprintf("backup header recorded at LBA %d, not in the disk's last sector (LBA %d): was the image resized?", ph.AltLBA, last)})
		return
	}
	if berr != nil {
		warn(fmt.Errorf("gpt: backup header at %#x invalid (the primary is used): %w", int64(last)*ss, berr))
	}
}

// regions are where a valid header and its entry array lie.
func (h *gptHeader) regions(header, entries string, ss int64) []Region {
	return []Region{{header, h.headerOffset, ss}, {entries, h.entriesArrayOff, int64(h.Count) * gptEntrySize}}
}

// gptFile adapts an io.ReaderAt to go-diskfs' backend.File, read-only: it
// has no Write or WriteAt, so go-diskfs cannot write through it. Bytes in
// [maskOff, maskOff+maskLen) read as zeros.
type gptFile struct {
	r                io.ReaderAt
	size             int64
	off              int64
	maskOff, maskLen int64
}

func (f *gptFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("gpt: read at negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > f.size-off {
		p = p[:f.size-off]
	}
	n, err := f.r.ReadAt(p, off)
	if f.maskLen > 0 {
		lo, hi := max(off, f.maskOff), min(off+int64(n), f.maskOff+f.maskLen)
		for i := lo; i < hi; i++ {
			p[i-off] = 0
		}
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

func (f *gptFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *gptFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, errors.New("gpt: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("gpt: seek to a negative offset")
	}
	f.off = offset
	return offset, nil
}

func (f *gptFile) Stat() (iofs.FileInfo, error) { return gptFileInfo{f.size}, nil }
func (f *gptFile) Close() error                 { return nil }

type gptFileInfo struct{ size int64 }

func (i gptFileInfo) Name() string        { return "disk" }
func (i gptFileInfo) Size() int64         { return i.size }
func (i gptFileInfo) Mode() iofs.FileMode { return 0o444 }
func (i gptFileInfo) ModTime() time.Time  { return time.Time{} }
func (i gptFileInfo) IsDir() bool         { return false }
func (i gptFileInfo) Sys() any            { return nil }

// gptTypeName gives fdisk's name for common GPT partition type GUIDs.
func gptTypeName(guid string) string {
	if n, ok := gptTypeNames[guid]; ok {
		return n
	}
	return "Unknown"
}

var gptTypeNames = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"5808C8AA-7E8F-42E0-85D2-E1E90434CFB3": "Microsoft LDM metadata",
	"AF9B60A0-1431-4F62-BC68-3311714A69AD": "Microsoft LDM data",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery environment",
	"E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D": "Microsoft Storage Spaces",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux server data",
	"44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
	"69DAD710-2CE4-4E3C-B16C-21A1D49ABED3": "Linux root (ARM)",
	"8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
	"4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux variable data",
	"7EC6F557-3BC5-4ACA-B293-16EF5DF639D1": "Linux temporary data",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
	"8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
	"7FFEC5C9-2D00-49B7-8941-3EA10A5586B7": "Linux plain dm-crypt",
	"CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
	"516E7CB4-6ECF-11D6-8FF8-00022D09712B": "FreeBSD data",
	"83BD6B9D-7F41-11DC-BE0B-001560B84F0F": "FreeBSD boot",
	"516E7CB5-6ECF-11D6-8FF8-00022D09712B": "FreeBSD swap",
	"516E7CB6-6ECF-11D6-8FF8-00022D09712B": "FreeBSD UFS",
	"516E7CBA-6ECF-11D6-8FF8-00022D09712B": "FreeBSD ZFS",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
	"7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
	"6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
	"FE3A2A5D-4F32-41A7-B725-ACCC3285A309": "ChromeOS kernel",
	"3CB8E202-3B7E-47DD-8A3C-7FF2A13CFCEC": "ChromeOS root fs",
}
