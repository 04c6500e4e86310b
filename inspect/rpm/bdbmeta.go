package rpm

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The Berkeley DB hash metadata page, page 0 of the file (Berkeley DB's
// dbinc/db_page.h, DBMETA and HMETA). Every field is in the byte order
// of the machine that created the database, told by the magic number:
// rpm on s390x or ppc64 writes big-endian files.
const (
	bdbHashMagic = 0x061561

	bdbMetaLen = 512 // the metadata fits in the smallest page

	bdbPageHeader = 26 // SIZEOF_PAGE: the header of every page
	bdbChksumLen  = 6  // PG_CHKSUM after the header when checksumming

	bdbMetaChksum = 0x01 // metaflags: pages carry a checksum
	bdbHashSubDB  = 0x02 // hash flags: the file holds subdatabases

	pageHashMeta = 8
)

// bdbDB is an open, read-only Berkeley DB hash database.
type bdbDB struct {
	r        io.ReaderAt
	size     int64
	order    binary.ByteOrder
	version  uint32
	pageSize int
	overhead int    // page header length: where a page's index or data starts
	last     uint32 // the last page number (the file has last+1 pages)
	nelem    uint32 // keys in the table, as the metadata counts them

	onPage func(n uint32, overflow bool) // tests: sees every page read
}

func bdbErr(off int64, what, msg string, args ...any) error {
	return &diskerr.FormatError{FS: "bdb", Off: off, What: what, Msg: fmt.Sprintf(msg, args...)}
}

// openBDB reads and checks the metadata page of the hash database r of
// size bytes. It refuses what rpm never writes and this reader does not
// decode: encryption, subdatabases, hash versions before 8 (Berkeley DB
// 4.6) or after 10; it accepts page checksums (not verified).
func openBDB(r io.ReaderAt, size int64) (*bdbDB, error) {
	var m [bdbMetaLen]byte
	if size < bdbMetaLen {
		return nil, bdbErr(0, "metadata page", "file of %d bytes is shorter than the metadata page", size)
	}
	if _, err := r.ReadAt(m[:], 0); err != nil {
		return nil, fmt.Errorf("bdb: metadata page: %w", err)
	}
	d := &bdbDB{r: r, size: size}
	switch {
	case binary.LittleEndian.Uint32(m[12:]) == bdbHashMagic:
		d.order = binary.LittleEndian
	case binary.BigEndian.Uint32(m[12:]) == bdbHashMagic:
		d.order = binary.BigEndian
	default:
		return nil, bdbErr(12, "metadata page", "bad magic %#x, not a Berkeley DB hash database", binary.LittleEndian.Uint32(m[12:]))
	}
	o := d.order
	d.version = o.Uint32(m[16:])
	if d.version < 8 || d.version > 10 {
		return nil, fmt.Errorf("%w: %w", bdbErr(16, "metadata page", "hash version %d", d.version), ErrUnsupported)
	}
	ps := o.Uint32(m[20:])
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, bdbErr(20, "metadata page", "bad page size %d", ps)
	}
	d.pageSize = int(ps)
	if alg := m[24]; alg != 0 {
		return nil, fmt.Errorf("%w: %w", bdbErr(24, "metadata page", "encrypted (algorithm %d)", alg), ErrUnsupported)
	}
	if t := m[25]; t != pageHashMeta {
		return nil, bdbErr(25, "metadata page", "page type %d, want %d (hash metadata)", t, pageHashMeta)
	}
	d.overhead = bdbPageHeader
	if m[26]&bdbMetaChksum != 0 {
		d.overhead += bdbChksumLen
	}
	if f := o.Uint32(m[48:]); f&bdbHashSubDB != 0 {
		return nil, fmt.Errorf("%w: %w", bdbErr(48, "metadata page", "flags %#x: subdatabases", f), ErrUnsupported)
	}
	d.last = o.Uint32(m[32:])
	if need := (int64(d.last) + 1) * int64(ps); need > size {
		return nil, bdbErr(32, "metadata page", "last page %d ends at %#x, past the end of the %d-byte file", d.last, need, size)
	}
	d.nelem = o.Uint32(m[88:])
	return d, nil
}

// pageOff is the byte offset of page n.
func (d *bdbDB) pageOff(n uint32) int64 { return int64(n) * int64(d.pageSize) }

// readPage reads page n into buf (pageSize bytes) and checks that the
// page calls itself n, as Berkeley DB writes in every page it
// initialises: a mismatch is a page from elsewhere or never written.
func (d *bdbDB) readPage(n uint32, buf []byte) error {
	if n > d.last {
		return bdbErr(d.pageOff(n), fmt.Sprintf("page %d", n), "past the last page %d", d.last)
	}
	if _, err := d.r.ReadAt(buf[:d.pageSize], d.pageOff(n)); err != nil {
		return fmt.Errorf("bdb: page %d at %#x: %w", n, d.pageOff(n), err)
	}
	return nil
}

// pageHeader is the part of a page's header this reader uses (PAGE in
// db_page.h).
type pageHeader struct {
	pgno    uint32 // 8: the page's own number
	next    uint32 // 16: the next page of an overflow chain (or bucket)
	entries uint16 // 20: items on a hash page
	hfOff   uint16 // 22: on a hash page, the start of the items; on an overflow page, the bytes it holds
	typ     uint8  // 25
}

func (d *bdbDB) header(p []byte) pageHeader {
	return pageHeader{pgno: d.order.Uint32(p[8:]), next: d.order.Uint32(p[16:]),
		entries: d.order.Uint16(p[20:]), hfOff: d.order.Uint16(p[22:]), typ: p[25]}
}
