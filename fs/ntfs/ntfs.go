package ntfs

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/internal/chunkcache"
)

// chunkSize is the unit in which MFT records and index records are read
// and cached: records of one directory's files usually sit together, so
// one 64 KiB read serves 64 records of 1 KiB.
const chunkSize = 64 << 10

// cacheChunks is how many chunks the cache keeps (8 MiB).
const cacheChunks = 128

var _ fs.Walker = (*FS)(nil)

// FS is an NTFS volume opened read-only.
type FS struct {
	r       io.ReaderAt
	size    int64
	boot    *bootSector
	mftRuns []run // $MFT's unnamed $DATA, sorted by VCN
	nrec    int64 // records in $MFT (its data size / record size)
	label   string
	warn    fs.WarnFunc
	pending []error // New's warnings, until SetWarn
	mirror0 bool    // record 0 was read from $MFTMirr (New warned)
	cache   *chunkcache.Cache
	// unreachable counts, after Walk, the in-use base records that no
	// directory names.
	unreachable int64
}

// New opens the NTFS volume that starts at r's first byte; size is the
// size of the partition (or image) holding it. It fails with an
// *diskerr.FormatError when the boot sector or $MFT's own record cannot be
// used.
func New(r io.ReaderAt, size int64) (*FS, error) {
	if size < bootSize {
		return nil, &diskerr.FormatError{FS: "ntfs", What: "boot sector", Msg: fmt.Sprintf("device of %d bytes too small for a boot sector", size)}
	}
	b := make([]byte, bootSize)
	if err := chunkcache.ReadFull(r, b, 0); err != nil {
		return nil, &diskerr.FormatError{FS: "ntfs", What: "boot sector", Msg: fmt.Sprintf("reading: %v", err)}
	}
	f := &FS{r: r, size: size}
	boot, err := parseBoot(b, 0, size)
	if err != nil {
		bk, off := backupBoot(r, size)
		if bk == nil {
			return nil, err
		}
		f.pend(fmt.Errorf("%w; using the backup boot sector at %#x%w", err, off, fs.ErrRepaired))
		boot = bk
	}
	f.boot = boot
	f.cache = chunkcache.New(r, min(size, boot.volumeSize()), chunkSize, cacheChunks)
	if err := f.loadMFT(); err != nil {
		return nil, err
	}
	f.label = f.readLabel()
	return f, nil
}

// backupBoot looks for the backup boot sector of a volume whose first
// sector is unusable: NTFS keeps a copy in the volume's last sector (the
// partition's last, for mkntfs and Windows; chkdsk and ntfsfix restore
// the boot sector from it). Sector sizes from 512 to 4096 bytes are
// tried. It returns nil if none is valid.
func backupBoot(r io.ReaderAt, size int64) (*bootSector, int64) {
	b := make([]byte, bootSize)
	for bps := int64(512); bps <= 4096; bps *= 2 {
		off := size - bps
		if off < bootSize || chunkcache.ReadFull(r, b, off) != nil {
			continue
		}
		bs, err := parseBoot(b, off, size)
		if err == nil && bs.bytesPerSector == bps && bs.volumeSize() <= off {
			return bs, off
		}
	}
	return nil, 0
}

// pend keeps a problem New worked around, for the warning function
// SetWarn sets.
func (f *FS) pend(err error) { f.pending = append(f.pending, err) }

// mirrorRecords is the number of records $MFTMirr copies, as ntfs-3g
// counts them: 4, or a cluster's worth when a cluster holds more.
func (f *FS) mirrorRecords() int64 {
	if cs, rs := f.boot.clusterSize, f.boot.recordSize; cs > 4*rs {
		return cs / rs
	}
	return 4
}

// mirrorCopy reads $MFTMirr's copy of record n (n < mirrorRecords) into
// buf and parses it. $MFTMirr's data is contiguous from the cluster the
// boot sector names (mkntfs and Windows allocate it so; ntfs-3g reads it
// so). It returns the copy's offset.
func (f *FS) mirrorCopy(n uint64, buf []byte, rec *record) (int64, error) {
	rs := f.boot.recordSize
	off := f.boot.mftMirrLCN*f.boot.clusterSize + int64(n)*rs
	if int64(n) >= f.mirrorRecords() {
		return off, fmt.Errorf("record %d is not in $MFTMirr", n)
	}
	if off+rs > f.size {
		return off, fmt.Errorf("$MFTMirr's copy at %#x beyond the device's %d bytes", off, f.size)
	}
	if err := f.cache.Read(buf, off); err != nil {
		return off, err
	}
	if err := parseRecord(buf, rec); err != nil {
		return off, fmt.Errorf("$MFTMirr's copy at %#x: %w", off, err)
	}
	return off, nil
}

// loadMFT reads record 0 at the boot sector's $MFT cluster and decodes
// $MFT's unnamed $DATA run list, following an $ATTRIBUTE_LIST into
// extension records (read through the runs known so far). When record 0
// is unusable (unreadable, not "FILE", bad fixup, bad attributes or run
// list), $MFTMirr's copy is used, as ntfs-3g does, with a warning.
func (f *FS) loadMFT() error {
	err := f.loadMFTFrom(f.boot.mftLCN * f.boot.clusterSize)
	if err == nil {
		return nil
	}
	moff := f.boot.mftMirrLCN * f.boot.clusterSize
	if moff == f.boot.mftLCN*f.boot.clusterSize {
		return err
	}
	if merr := f.loadMFTFrom(moff); merr != nil {
		return fmt.Errorf("%w; $MFTMirr's copy: %v", err, merr)
	}
	f.pend(fmt.Errorf("%w; using $MFTMirr's copy at %#x%w", err, moff, fs.ErrRepaired))
	f.mirror0 = true
	return nil
}

// loadMFTFrom reads $MFT's record 0 from off (the $MFT or $MFTMirr copy).
func (f *FS) loadMFTFrom(off int64) error {
	f.mftRuns, f.nrec = f.mftRuns[:0], 0
	bad := func(format string, args ...any) error {
		return &diskerr.FormatError{FS: "ntfs", Off: off, What: "MFT record 0 ($MFT)", Msg: fmt.Sprintf(format, args...)}
	}
	rs := f.boot.recordSize
	if off+rs > f.size {
		return bad("record of %d bytes beyond the device's %d bytes", rs, f.size)
	}
	buf := make([]byte, rs)
	if err := chunkcache.ReadFull(f.r, buf, off); err != nil {
		return bad("reading: %v", err)
	}
	var rec record
	if err := parseRecord(buf, &rec); err != nil {
		return bad("%v", err)
	}
	dataSize := int64(-1)
	var ext []uint64
	collect := func(rec *record) error {
		return parseAttrs(rec, func(a *attr) error {
			switch {
			case a.typ == atData && a.name == "" && !a.resident:
				var err error
				if f.mftRuns, err = decodeRuns(a.runBytes(rec), a.startVCN, f.boot.clusters(), f.mftRuns); err != nil {
					return err
				}
				if a.startVCN == 0 {
					dataSize = a.dataSize
				}
			case a.typ == atAttributeList && a.resident:
				var err error
				ext, err = attrListRecords(a.value(rec), 0, ext)
				return err
			}
			return nil
		})
	}
	if err := collect(&rec); err != nil {
		return bad("%v", err)
	}
	// Extension records of $MFT (a very fragmented $MFT on a large volume).
	for i := 0; i < len(ext); i++ {
		sortRuns(f.mftRuns)
		f.nrec = int64(len(f.mftRuns)) // provisional bound for locate
		var x record
		pieces, err := f.locate(ext[i], nil, true)
		if err == nil {
			err = f.readPieces(buf, pieces)
		}
		if err == nil {
			err = parseRecord(buf, &x)
		}
		if err == nil {
			err = collect(&x)
		}
		if err != nil {
			return bad("extension record %d: %v", ext[i], err)
		}
	}
	sortRuns(f.mftRuns)
	if dataSize < rs || len(f.mftRuns) == 0 {
		return bad("no unnamed $DATA attribute starting at VCN 0")
	}
	// $MFT's data starts where the boot sector says: a run list that
	// puts record 0 elsewhere is damaged.
	if r := f.mftRuns[0]; r.VCN != 0 || r.LCN != f.boot.mftLCN {
		return bad("$DATA runs put VCN 0 at cluster %d, the boot sector says $MFT is at cluster %d", r.LCN, f.boot.mftLCN)
	}
	// Records beyond the runs or the volume cannot exist, whatever the
	// data size says.
	last := f.mftRuns[len(f.mftRuns)-1]
	f.nrec = min(dataSize, (last.VCN+last.Len)*f.boot.clusterSize, f.boot.volumeSize()) / rs
	for i := 1; i < len(f.mftRuns); i++ {
		if p := f.mftRuns[i-1]; p.VCN+p.Len > f.mftRuns[i].VCN {
			return bad("$DATA runs overlap at VCN %d", f.mftRuns[i].VCN)
		}
	}
	return nil
}

func sortRuns(rs []run) { sort.Slice(rs, func(i, j int) bool { return rs[i].VCN < rs[j].VCN }) }

// readLabel reads $VOLUME_NAME from $Volume (record 3); "" if absent or
// unreadable.
func (f *FS) readLabel() string {
	buf := make([]byte, f.boot.recordSize)
	pieces, err := f.locate(3, nil, false)
	if err == nil {
		err = f.readPieces(buf, pieces)
	}
	if err != nil {
		clear(buf) // not "FILE": the mirror's copy is tried
	}
	var rec record
	if parseRecord(buf, &rec) != nil {
		if _, err := f.mirrorCopy(3, buf, &rec); err != nil {
			return ""
		}
	}
	label := ""
	_ = parseAttrs(&rec, func(a *attr) error {
		if a.typ == atVolumeName && a.resident {
			label = utf16String(a.value(&rec))
		}
		return nil
	})
	return label
}

// SetWarn sets the function that receives the problems Walk works around
// (a bad record, run list, attribute list or index). Without one, they are
// dropped. The problems New worked around (the backup boot sector or
// $MFTMirr's copy of $MFT's record used) are passed to it at once.
func (f *FS) SetWarn(w fs.WarnFunc) {
	f.warn = w
	for _, err := range f.pending {
		f.warnErr(err)
	}
	if w != nil {
		f.pending = nil
	}
}

// Info describes the volume. UUID is the 64-bit volume serial number as
// blkid prints it for NTFS (16 upper-case hex digits); BlockSize is the
// cluster size; Label comes from $Volume.
func (f *FS) Info() fs.Info {
	return fs.Info{
		Type:      "ntfs",
		Label:     f.label,
		UUID:      fmt.Sprintf("%016X", f.boot.serial),
		BlockSize: f.boot.clusterSize,
		Size:      f.boot.volumeSize(),
	}
}

// ObjectsHint guesses how many objects Walk reports: one per record of
// $MFT (free ones included), a sixteenth more for named streams and the
// extra names of hard links: a hint for preallocation.
func (f *FS) ObjectsHint() int64 { return f.nrec + f.nrec/16 + 1024 }

// Unreachable returns, after Walk, how many in-use base file records
// (other than the reserved records 0-23) no directory index names: they
// are mapped under /$OrphanFiles (see the package documentation).
func (f *FS) Unreachable() int64 { return f.unreachable }

func (f *FS) warnErr(err error) {
	if f.warn != nil && err != nil {
		f.warn(err)
	}
}

// errNoRecord is returned for a record number beyond $MFT.
var errNoRecord = errors.New("beyond $MFT")

// piece is part of a record (or of any byte range of an attribute) on
// disk.
type piece struct{ off, len int64 }

// locate appends to ps where record n lies on disk, through $MFT's run
// list (go-ntfs' VtoP gives wrong offsets, see shared/LIBRARIES.md). A
// record is in one piece unless a cluster is smaller than a record and
// $MFT is fragmented there. provisional skips the check against the
// record count (while $MFT's own runs are still being read).
func (f *FS) locate(n uint64, ps []piece, provisional bool) ([]piece, error) {
	rs := f.boot.recordSize
	if !provisional && n >= uint64(f.nrec) {
		return ps, fmt.Errorf("record %d %w (%d records)", n, errNoRecord, f.nrec)
	}
	if n > 1<<47 {
		return ps, fmt.Errorf("record %d %w", n, errNoRecord)
	}
	return f.mapRange(f.mftRuns, int64(n)*rs, rs, ps)
}

// mapRange appends to ps the disk pieces of bytes [off, off+n) of an
// attribute with runs rs (sorted by VCN). A hole or a range past the
// runs is an error.
func (f *FS) mapRange(rs []run, off, n int64, ps []piece) ([]piece, error) {
	cs := f.boot.clusterSize
	for n > 0 {
		vcn := off / cs
		i := sort.Search(len(rs), func(i int) bool { return rs[i].VCN+rs[i].Len > vcn })
		if i == len(rs) || rs[i].VCN > vcn {
			return ps, fmt.Errorf("byte %d (VCN %d) not mapped by the run list", off, vcn)
		}
		r := rs[i]
		if r.LCN < 0 {
			return ps, fmt.Errorf("byte %d (VCN %d) in a sparse run", off, vcn)
		}
		in := off - r.VCN*cs
		l := min(n, r.Len*cs-in)
		d := r.LCN*cs + in
		if len(ps) > 0 && ps[len(ps)-1].off+ps[len(ps)-1].len == d {
			ps[len(ps)-1].len += l
		} else {
			ps = append(ps, piece{d, l})
		}
		off += l
		n -= l
	}
	return ps, nil
}

// readPieces fills buf from the pieces, in order.
func (f *FS) readPieces(buf []byte, ps []piece) error {
	at := int64(0)
	for _, p := range ps {
		if p.off+p.len > f.size {
			return fmt.Errorf("bytes %#x-%#x beyond the device's %d bytes", p.off, p.off+p.len, f.size)
		}
		if err := f.cache.Read(buf[at:at+p.len], p.off); err != nil {
			return err
		}
		at += p.len
	}
	return nil
}
