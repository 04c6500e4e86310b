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
	boot, err := parseBoot(b, 0, size)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, boot: boot}
	f.cache = chunkcache.New(r, min(size, boot.volumeSize()), chunkSize, cacheChunks)
	if err := f.loadMFT(); err != nil {
		return nil, err
	}
	f.label = f.readLabel()
	return f, nil
}

// loadMFT reads record 0 at the boot sector's $MFT cluster and decodes
// $MFT's unnamed $DATA run list, following an $ATTRIBUTE_LIST into
// extension records (read through the runs known so far).
func (f *FS) loadMFT() error {
	off := f.boot.mftLCN * f.boot.clusterSize
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
	if err != nil || f.readPieces(buf, pieces) != nil {
		return ""
	}
	var rec record
	if parseRecord(buf, &rec) != nil {
		return ""
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
// dropped.
func (f *FS) SetWarn(w fs.WarnFunc) { f.warn = w }

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

// Unreachable returns, after Walk, how many in-use base file records
// (other than the reserved records 0-23) no directory index names: they
// are not mapped (The Sleuth Kit lists them under $OrphanFiles).
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
