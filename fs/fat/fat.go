package fat

import (
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

var _ fs.Walker = (*FS)(nil)

// FS is a FAT12, FAT16 or FAT32 volume opened read-only. Its methods may
// be called from several goroutines at once: each Walk has its own state.
type FS struct {
	r     io.ReaderAt
	size  int64
	p     *bpb
	warn  fs.WarnFunc
	label string
	// pending are New's warnings, until SetWarn.
	pending []error
}

// New opens the FAT volume that starts at r's first byte; size is the size
// of the partition (or image) holding it. It fails with an *diskerr.FormatError
// when the boot sector is missing, inconsistent or describes a volume
// larger than size.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < 512 {
		return nil, &diskerr.FormatError{FS: "fat", Off: 0, What: "boot sector", Msg: fmt.Sprintf("device of %d bytes too small for a boot sector", size)}
	}
	b := make([]byte, 512)
	if err := chunkcache.ReadFull(r, b, 0); err != nil {
		return nil, &diskerr.FormatError{FS: "fat", Off: 0, What: "boot sector", Msg: fmt.Sprintf("reading: %v", err)}
	}
	p, err := parseBPB(b, size)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, p: p}
	f.pickFAT()
	f.label = f.readLabel()
	return f, nil
}

// pickFAT chooses the FAT copy the volume is read through, as fsck.fat
// (dosfstools' read_fat) does: the active copy (the first, or the one a
// FAT32 volume with mirroring off names) when its first entry is intact
// (mediaOK) and readable, else the first other copy that is, with a
// warning; when none is, the active copy.
func (f *FS) pickFAT() {
	p := f.p
	p.useFAT = p.activeFAT()
	check := func(i int64) (bool, uint32, error) {
		t := newTable(f.r, p)
		t.off, t.alt = p.fatOff+i*p.fatLen, -1
		return t.mediaOK()
	}
	ok, v, err := check(p.useFAT)
	if ok || p.nfats < 2 {
		return
	}
	why := fmt.Sprintf("first entry %#x is not a media descriptor (zeroed or overwritten)", v)
	if err != nil {
		why = "unreadable: " + err.Error()
	}
	for i := range p.nfats {
		if i == p.useFAT {
			continue
		}
		if good, _, _ := check(i); good {
			f.pend(&diskerr.FormatError{FS: "fat", Off: p.fatOff + p.useFAT*p.fatLen, What: fmt.Sprintf("FAT %d", p.useFAT+1),
				Msg: fmt.Sprintf("%s; using FAT %d at %#x, as fsck.fat does", why, i+1, p.fatOff+i*p.fatLen)})
			p.useFAT = i
			return
		}
	}
	f.pend(&diskerr.FormatError{FS: "fat", Off: p.fatOff + p.useFAT*p.fatLen, What: fmt.Sprintf("FAT %d", p.useFAT+1),
		Msg: why + "; no other copy is intact either: read anyway"})
}

// pend keeps a problem New worked around, for the warning function
// SetWarn sets.
func (f *FS) pend(err error) { f.pending = append(f.pending, err) }

// SetWarn sets the function that receives the problems Walk works around
// (a broken cluster chain, a bad long name, a directory loop). Without
// one, they are dropped. The problems New worked around (a FAT copy
// other than the active one chosen) are passed to it at once.
func (f *FS) SetWarn(w fs.WarnFunc) {
	f.warn = w
	for _, err := range f.pending {
		f.warnErr(err)
	}
	if w != nil {
		f.pending = nil
	}
}

// Variant says whether the volume is FAT12, FAT16 or FAT32: FAT32 when
// the boot sector has the FAT32 layout (16-bit FAT size 0), else FAT12
// below 4085 clusters and FAT16 from there, as Linux and Microsoft decide.
func (f *FS) Variant() Variant { return f.p.variant }

// Info describes the volume as blkid -p does: Type "vfat", the label of
// the root directory's volume label entry (else the boot sector's, unless
// it is "NO NAME"), the serial number as UUID ("1234-ABCD"); BlockSize is
// the cluster size and Size the bytes the boot sector's total sectors
// span.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type:      "vfat",
		Label:     f.label,
		UUID:      f.p.uuid(),
		BlockSize: f.p.clusterSize,
		Size:      f.p.totalSectors * f.p.bps,
	}
}

// readLabel finds the volume label as blkid does: the root directory's
// volume label entry (looked for in its first 64 KiB), else the boot
// sector's.
func (f *FS) readLabel() string {
	off, n := f.p.rootOff, f.p.rootLen
	if f.p.variant == FAT32 {
		off, n = f.p.clusterOff(f.p.rootCluster), f.p.clusterSize
	}
	n = min(n, 64<<10, f.size-off)
	if n <= 0 {
		return f.p.bpbLabel()
	}
	b := make([]byte, n)
	if chunkcache.ReadFull(f.r, b, off) != nil {
		return f.p.bpbLabel()
	}
	for i := 0; i+direntSize <= len(b); i += direntSize {
		e := b[i : i+direntSize]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 || e[11]&0x3F == attrLFN || e[11]&attrVolume == 0 {
			continue
		}
		return strings.TrimRight(decodeOEM(e[:11]), " ")
	}
	return f.p.bpbLabel()
}

func (f *FS) warnErr(err error) {
	if f.warn != nil && err != nil {
		f.warn(err)
	}
}
