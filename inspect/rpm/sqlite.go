package rpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// The SQLite file format: https://www.sqlite.org/fileformat2.html.

const (
	sqliteMagic = "SQLite format 3\x00"

	// MaxBlob caps one record's payload (an rpm header is a few KiB to a
	// few hundred KiB; rpm itself refuses headers over 256 MiB).
	MaxBlob = 64 << 20
	// maxDepth caps the height of a table B-tree: SQLite's own limit is
	// 20 levels, far more than any real file needs.
	maxDepth = 20

	pageInteriorTable = 0x05
	pageLeafTable     = 0x0d
)

// sqliteDB is an open, read-only SQLite database file.
type sqliteDB struct {
	r        io.ReaderAt
	size     int64
	pageSize int    // bytes per page
	usable   int    // page size less the reserved bytes at each page's end
	npages   uint32 // pages in the file, from its size
	utf16    binary.ByteOrder
	wal      map[uint32][]byte // pages replaced by the write-ahead log

	onPage func(n uint32, overflow bool) // tests: sees every page walked
}

func sqliteErr(off int64, what, msg string, args ...any) error {
	return &diskerr.FormatError{FS: "sqlite", Off: off, What: what, Msg: fmt.Sprintf(msg, args...)}
}

// openSQLite reads the database header of the SQLite file r of size bytes.
func openSQLite(r io.ReaderAt, size int64) (*sqliteDB, error) {
	var h [100]byte
	if size < int64(len(h)) {
		return nil, sqliteErr(0, "header", "file of %d bytes is shorter than the header", size)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("sqlite: header: %w", err)
	}
	if string(h[:16]) != sqliteMagic {
		return nil, sqliteErr(0, "header", "bad magic %q", h[:16])
	}
	ps := int(binary.BigEndian.Uint16(h[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, sqliteErr(16, "header", "bad page size %d", ps)
	}
	reserved := int(h[20])
	usable := ps - reserved
	if usable < 480 {
		return nil, sqliteErr(20, "header", "%d reserved bytes leave %d usable in a page of %d", reserved, usable, ps)
	}
	d := &sqliteDB{r: r, size: size, pageSize: ps, usable: usable}
	n := size / int64(ps)
	if n > 1<<31-1 {
		n = 1<<31 - 1
	}
	d.npages = uint32(n)
	switch enc := binary.BigEndian.Uint32(h[56:]); enc {
	case 0, 1: // 0: an empty database, not yet written
	case 2:
		d.utf16 = binary.LittleEndian
	case 3:
		d.utf16 = binary.BigEndian
	default:
		return nil, sqliteErr(56, "header", "bad text encoding %d", enc)
	}
	return d, nil
}

// page reads page number n (1-based).
func (d *sqliteDB) page(n uint32) ([]byte, error) {
	if p, ok := d.wal[n]; ok {
		return p, nil
	}
	if n == 0 || n > d.npages {
		return nil, fmt.Errorf("sqlite: page number %d outside the file's %d pages", n, d.npages)
	}
	b := make([]byte, d.pageSize)
	if _, err := d.r.ReadAt(b, int64(n-1)*int64(d.pageSize)); err != nil {
		return nil, fmt.Errorf("sqlite: page %d: %w", n, err)
	}
	return b, nil
}

func (d *sqliteDB) pageOff(n uint32) int64 { return int64(n-1) * int64(d.pageSize) }

// varint decodes a SQLite variable-length integer: up to 9 bytes, big
// endian, 7 bits a byte but all 8 in the ninth. n is 0 when b ends first.
func varint(b []byte) (v uint64, n int) {
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return v, 9
}

// walkTable calls fn with the rowid and the whole payload (a record) of
// every row of the table B-tree rooted at page root, in rowid order. A
// page seen twice (a loop), a tree deeper than maxDepth or a payload over
// MaxBlob is an error. fn returning an error stops the walk with it.
func (d *sqliteDB) walkTable(root uint32, fn func(rowid int64, rec []byte) error) error {
	seen := map[uint32]bool{}
	return d.walkPage(root, 0, seen, fn)
}

func (d *sqliteDB) walkPage(n uint32, depth int, seen map[uint32]bool, fn func(int64, []byte) error) error {
	if depth > maxDepth {
		return sqliteErr(d.pageOff(n), fmt.Sprintf("page %d", n), "B-tree deeper than %d levels", maxDepth)
	}
	if seen[n] {
		return sqliteErr(d.pageOff(n), fmt.Sprintf("page %d", n), "page reached twice: the B-tree loops")
	}
	seen[n] = true
	if d.onPage != nil {
		d.onPage(n, false)
	}
	p, err := d.page(n)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("page %d", n)
	hdr := 0
	if n == 1 {
		hdr = 100
	}
	if len(p) < hdr+12 {
		return sqliteErr(d.pageOff(n), what, "page too short")
	}
	kind := p[hdr]
	ncells := int(binary.BigEndian.Uint16(p[hdr+3:]))
	ptrs := hdr + 8
	if kind == pageInteriorTable {
		ptrs = hdr + 12
	} else if kind != pageLeafTable {
		return sqliteErr(d.pageOff(n)+int64(hdr), what, "page type %#x is not a table B-tree page", kind)
	}
	if ptrs+2*ncells > d.usable {
		return sqliteErr(d.pageOff(n)+int64(hdr), what, "%d cells do not fit in the page", ncells)
	}
	for i := 0; i < ncells; i++ {
		off := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
		if off < ptrs+2*ncells || off >= d.usable {
			return sqliteErr(d.pageOff(n)+int64(ptrs+2*i), what, "cell %d at %#x outside the cell content area", i, off)
		}
		cell := p[off:d.usable]
		if kind == pageInteriorTable {
			if len(cell) < 4 {
				return sqliteErr(d.pageOff(n)+int64(off), what, "cell %d truncated", i)
			}
			child := binary.BigEndian.Uint32(cell)
			if err := d.walkPage(child, depth+1, seen, fn); err != nil {
				return err
			}
			continue
		}
		rowid, rec, err := d.leafCell(n, off, cell)
		if err != nil {
			return err
		}
		if err := fn(rowid, rec); err != nil {
			return err
		}
	}
	if kind == pageInteriorTable {
		right := binary.BigEndian.Uint32(p[hdr+8:])
		return d.walkPage(right, depth+1, seen, fn)
	}
	return nil
}

// leafCell decodes the table leaf cell at offset off of page n: payload
// size, rowid, the local part of the payload and its overflow chain.
func (d *sqliteDB) leafCell(n uint32, off int, cell []byte) (int64, []byte, error) {
	what := fmt.Sprintf("page %d cell at %#x", n, off)
	at := d.pageOff(n) + int64(off)
	size, k := varint(cell)
	if k == 0 {
		return 0, nil, sqliteErr(at, what, "truncated payload size")
	}
	cell = cell[k:]
	rowid, k := varint(cell)
	if k == 0 {
		return 0, nil, sqliteErr(at, what, "truncated rowid")
	}
	cell = cell[k:]
	if size > MaxBlob {
		return 0, nil, sqliteErr(at, what, "payload of %d bytes is over the %d byte limit", size, MaxBlob)
	}
	p := int(size)
	u := d.usable
	x := u - 35
	local := p
	if p > x {
		m := (u-12)*32/255 - 23
		local = m + (p-m)%(u-4)
		if local > x {
			local = m
		}
	}
	if local > len(cell) || (local < p && local+4 > len(cell)) {
		return 0, nil, sqliteErr(at, what, "local payload of %d bytes runs past the page", local)
	}
	if local == p {
		return int64(rowid), cell[:p], nil
	}
	if max := int64(local) + (int64(d.npages)+int64(len(d.wal)))*int64(u-4); int64(p) > max {
		return 0, nil, sqliteErr(at, what, "payload of %d bytes is more than the file can hold", p)
	}
	rec := make([]byte, 0, p)
	rec = append(rec, cell[:local]...)
	next := binary.BigEndian.Uint32(cell[local:])
	seen := map[uint32]bool{}
	for len(rec) < p {
		if next == 0 {
			return 0, nil, sqliteErr(at, what, "overflow chain ends after %d of %d payload bytes", len(rec), p)
		}
		if seen[next] {
			return 0, nil, sqliteErr(d.pageOff(next), what, "overflow page %d reached twice: the chain loops", next)
		}
		seen[next] = true
		if d.onPage != nil {
			d.onPage(next, true)
		}
		op, err := d.page(next)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: overflow: %w", what, err)
		}
		chunk := op[4:u]
		if rest := p - len(rec); len(chunk) > rest {
			chunk = chunk[:rest]
		}
		rec = append(rec, chunk...)
		next = binary.BigEndian.Uint32(op)
	}
	return int64(rowid), rec, nil
}

// value is one column of a record: nil (NULL), int64, float64 (left as
// its raw bits, unused here), string (text) or []byte (blob).
type value any

// parseRecord decodes a record: a header of serial types then the values.
func (d *sqliteDB) parseRecord(rec []byte) ([]value, error) {
	hlen, k := varint(rec)
	if k == 0 || hlen < uint64(k) || hlen > uint64(len(rec)) {
		return nil, fmt.Errorf("sqlite: record: bad header length %d of %d bytes", hlen, len(rec))
	}
	hdr := rec[k:hlen]
	body := rec[hlen:]
	var vals []value
	for len(hdr) > 0 {
		st, k := varint(hdr)
		if k == 0 {
			return nil, fmt.Errorf("sqlite: record: truncated serial type")
		}
		hdr = hdr[k:]
		var n uint64
		switch {
		case st <= 4:
			n = st
		case st == 5:
			n = 6
		case st == 6, st == 7:
			n = 8
		case st == 8, st == 9:
		case st == 10, st == 11:
			return nil, fmt.Errorf("sqlite: record: reserved serial type %d", st)
		default:
			n = (st - 12) / 2
		}
		if n > uint64(len(body)) {
			return nil, fmt.Errorf("sqlite: record: value of %d bytes past the record's end", n)
		}
		b := body[:n]
		body = body[n:]
		switch {
		case st == 0:
			vals = append(vals, nil)
		case st == 7:
			vals = append(vals, binary.BigEndian.Uint64(b))
		case st == 8, st == 9:
			vals = append(vals, int64(st-8))
		case st <= 6:
			var v int64
			if len(b) > 0 && b[0]&0x80 != 0 {
				v = -1
			}
			for _, c := range b {
				v = v<<8 | int64(c)
			}
			vals = append(vals, v)
		case st%2 == 0:
			vals = append(vals, b)
		default:
			vals = append(vals, d.text(b))
		}
	}
	return vals, nil
}

func (d *sqliteDB) text(b []byte) string {
	if d.utf16 == nil {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = d.utf16.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// tableRoot finds the root page of the table called name in the schema
// table (sqlite_schema, rooted at page 1: type, name, tbl_name, rootpage,
// sql). Names compare case-insensitively, as in SQL.
func (d *sqliteDB) tableRoot(name string) (uint32, error) {
	var root uint32
	found := errStop
	err := d.walkTable(1, func(_ int64, rec []byte) error {
		v, err := d.parseRecord(rec)
		if err != nil {
			return err
		}
		if len(v) < 4 {
			return nil
		}
		typ, _ := v[0].(string)
		nm, _ := v[1].(string)
		rp, _ := v[3].(int64)
		if typ != "table" || !strings.EqualFold(strings.Trim(nm, `'"`), name) {
			return nil
		}
		if rp < 1 || rp > 1<<31 {
			return sqliteErr(0, "schema", "table %s: bad root page %d", name, rp)
		}
		root = uint32(rp)
		return found
	})
	if err == found {
		return root, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("sqlite: table %q: %w", name, errNoTable)
}

var (
	errStop    = errors.New("stop")
	errNoTable = errors.New("no such table in the schema")
)
