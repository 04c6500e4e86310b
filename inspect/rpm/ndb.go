package rpm

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// SUSE's rpm database since SLES 15 / openSUSE Leap 15, Packages.db: rpm's
// own "ndb" package store (rpm's lib/backend/ndb/rpmpkg.c). Every number
// is a little-endian uint32. The file starts with slot pages of 4096
// bytes: the first 32 bytes of page 0 are the header ("RpmP", version 0,
// generation, slot page count, next package number), then 16-byte slots
// ("Slot", package number, first block, block count; a first block of 0
// is a free slot). The rest of the file is 16-byte blocks holding blobs,
// one per package: a head ("BlbS", package number, time stamp, blob
// length), the rpm header, zero padding to the block, and a tail (the
// Adler-32 of head, header and padding, the length again, "BlbE").
//
// Debian has no ndb backend and no program here writes the format, so
// this reader is tested only against our reading of rpmpkg.c: the test
// builds files the way rpmpkg.c writes them, with rpm headers that rpm
// itself lists from the SQLite fixture (ndb_test.go).
const (
	ndbMagic      = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic  = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbHeadMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbTailMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbPageSize   = 4096
	ndbSlotSize   = 16
	ndbBlkSize    = 16
	ndbHeaderSize = 32
	ndbHeadSize   = 16
	ndbTailSize   = 12
)

// ndbDB is an open, read-only ndb Packages.db.
type ndbDB struct {
	r          io.ReaderAt
	size       int64
	slotnpages uint32
}

func ndbErr(off int64, what, msg string, args ...any) error {
	return &diskerr.FormatError{FS: "ndb", Off: off, What: what, Msg: fmt.Sprintf(msg, args...)}
}

// openNDB reads and checks the header of the ndb file r of size bytes.
func openNDB(r io.ReaderAt, size int64) (*ndbDB, error) {
	var h [ndbHeaderSize]byte
	if size < ndbPageSize {
		return nil, ndbErr(0, "header", "file of %d bytes is shorter than a slot page", size)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("ndb: header: %w", err)
	}
	le := binary.LittleEndian
	if m := le.Uint32(h[0:]); m != ndbMagic {
		return nil, ndbErr(0, "header", "bad magic %#x, not an ndb package database", m)
	}
	if v := le.Uint32(h[4:]); v != 0 {
		return nil, fmt.Errorf("%w: %w", ndbErr(4, "header", "version %d", v), ErrUnsupported)
	}
	// rpm refuses a file that is not whole blocks: a torn write.
	if size%ndbBlkSize != 0 {
		return nil, ndbErr(size, "header", "file of %d bytes is not whole %d-byte blocks", size, ndbBlkSize)
	}
	d := &ndbDB{r: r, size: size, slotnpages: le.Uint32(h[12:])}
	if d.slotnpages == 0 || int64(d.slotnpages)*ndbPageSize > size {
		return nil, ndbErr(12, "header", "%d slot pages, the %d-byte file holds %d", d.slotnpages, size, size/ndbPageSize)
	}
	return d, nil
}

// ndbSlot is a used slot: where package pkgidx's blob is.
type ndbSlot struct {
	pkgidx, blkoff, blkcnt uint32
	off                    int64 // of the slot in the file
}

// slots reads the slot pages. A slot page whose slot has a bad magic is
// reported to warn and its remaining slots passed over (rpm refuses the
// whole file); so is a slot pointing into the slot pages or out of the
// file, or naming package 0 or a package already seen.
func (d *ndbDB) slots(warn func(error)) ([]ndbSlot, error) {
	le := binary.LittleEndian
	page := make([]byte, ndbPageSize)
	minblk := int64(d.slotnpages) * (ndbPageSize / ndbBlkSize)
	fileblks := d.size / ndbBlkSize
	var out []ndbSlot
	seen := map[uint32]int64{}
	for pg := range d.slotnpages {
		base := int64(pg) * ndbPageSize
		if _, err := d.r.ReadAt(page, base); err != nil {
			return nil, fmt.Errorf("ndb: slot page %d at %#x: %w", pg, base, err)
		}
		start := 0
		if pg == 0 {
			start = ndbHeaderSize
		}
		for o := start; o < ndbPageSize; o += ndbSlotSize {
			s := page[o:]
			at := base + int64(o)
			what := fmt.Sprintf("slot page %d", pg)
			if m := le.Uint32(s); m != ndbSlotMagic {
				warn(ndbErr(at, what, "bad slot magic %#x; the page's remaining slots are passed over", m))
				break
			}
			sl := ndbSlot{pkgidx: le.Uint32(s[4:]), blkoff: le.Uint32(s[8:]), blkcnt: le.Uint32(s[12:]), off: at}
			if sl.blkoff == 0 {
				continue // free
			}
			switch {
			case sl.pkgidx == 0 || sl.blkcnt == 0:
				warn(ndbErr(at, what, "slot for package %d of %d blocks", sl.pkgidx, sl.blkcnt))
			case int64(sl.blkoff) < minblk:
				warn(ndbErr(at, what, "package %d: blob at block %d, inside the slot pages", sl.pkgidx, sl.blkoff))
			case int64(sl.blkoff)+int64(sl.blkcnt) > fileblks:
				warn(ndbErr(at, what, "package %d: blob of %d blocks at block %d, past the end of the file (%d blocks)", sl.pkgidx, sl.blkcnt, sl.blkoff, fileblks))
			case seen[sl.pkgidx] != 0:
				warn(ndbErr(at, what, "package %d again (first slot at %#x)", sl.pkgidx, seen[sl.pkgidx]))
			default:
				seen[sl.pkgidx] = at
				out = append(out, sl)
			}
		}
	}
	return out, nil
}

// blob reads and checks the blob of slot s: head and tail magic, the
// package number, the length against the block count, and the Adler-32,
// which rpm checks only when verifying the database, not when reading:
// a blob whose sum is wrong is not what rpm wrote, and is passed over.
func (d *ndbDB) blob(s ndbSlot) ([]byte, error) {
	at := int64(s.blkoff) * ndbBlkSize
	what := fmt.Sprintf("blob of package %d", s.pkgidx)
	n := int64(s.blkcnt) * ndbBlkSize
	if n < ndbHeadSize+ndbTailSize || n > MaxBlob+ndbHeadSize+ndbTailSize+ndbBlkSize {
		return nil, ndbErr(at, what, "%d blocks", s.blkcnt)
	}
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, at); err != nil {
		return nil, fmt.Errorf("ndb: %s at %#x: %w", what, at, err)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != ndbHeadMagic {
		return nil, ndbErr(at, what, "bad head magic %#x", m)
	}
	if p := le.Uint32(b[4:]); p != s.pkgidx {
		return nil, ndbErr(at+4, what, "the blob is package %d's", p)
	}
	l := le.Uint32(b[12:])
	if want := (ndbHeadSize + int64(l) + ndbTailSize + ndbBlkSize - 1) / ndbBlkSize; want != int64(s.blkcnt) {
		return nil, ndbErr(at+12, what, "length %d needs %d blocks, the slot says %d", l, want, s.blkcnt)
	}
	t := b[n-ndbTailSize:]
	tat := at + n - ndbTailSize
	if m := le.Uint32(t[8:]); m != ndbTailMagic {
		return nil, ndbErr(tat+8, what, "bad tail magic %#x", m)
	}
	if tl := le.Uint32(t[4:]); tl != l {
		return nil, ndbErr(tat+4, what, "tail length %d, head length %d", tl, l)
	}
	if sum, want := adler32.Checksum(b[:n-ndbTailSize]), le.Uint32(t); sum != want {
		return nil, ndbErr(tat, what, "Adler-32 %#08x, the tail says %#08x", sum, want)
	}
	return b[ndbHeadSize : ndbHeadSize+int(l)], nil
}

// walk calls fn with every package's header in slot order and the
// offset of its blob. A bad slot or blob is reported to warn and passed
// over; an error is returned when a slot page cannot be read or the
// headers add up to more than MaxDB bytes.
func (d *ndbDB) walk(fn func(pkgidx uint32, at int64, blob []byte), warn func(error)) error {
	slots, err := d.slots(warn)
	if err != nil {
		return err
	}
	var total int64
	for _, s := range slots {
		b, err := d.blob(s)
		if err != nil {
			warn(fmt.Errorf("package %d (slot at %#x): %w", s.pkgidx, s.off, err))
			continue
		}
		if total += int64(len(b)); total > MaxDB {
			return fmt.Errorf("ndb: the headers add up to more than %d bytes", int64(MaxDB))
		}
		fn(s.pkgidx, int64(s.blkoff)*ndbBlkSize, b)
	}
	return nil
}
