package rpm

import (
	"fmt"
)

// The Berkeley DB rpm database, /var/lib/rpm/Packages up to RHEL 8 and
// SLES 12: a hash table (Berkeley DB's hash access method) whose keys are
// package numbers (4 bytes, the database's byte order) and whose values
// are rpm headers; key 0 holds a counter, the next number to give, not a
// header. Berkeley DB's own lookup goes through buckets (the metadata's
// masks and spares); this reader walks every page from 1 to the last
// instead, as go-rpmdb does, so that a damaged bucket chain loses only
// its own pages: pages that are not hash pages are passed over (overflow
// pages are read through the hash items that point at them, free pages
// have type 0). bdbmeta.go reads the metadata page, bdbhash.go the hash
// pages and bdboverflow.go overflow chains. The layout is from Berkeley
// DB's dbinc/db_page.h; the reader is checked against rpm's own bdb_ro
// backend on files written by Berkeley DB's db_load (testdata/mkbdb.sh).

// walk calls fn with every key/data pair of the database but the
// counter (key 0), in page order, with the offset in the file of the
// data's item on its hash page. A damaged page or item is reported to
// warn, with the page and the offset, and passed over; an error is
// returned only when the pairs read add up to more than MaxDB bytes. val
// is only valid during the call.
func (d *bdbDB) walk(fn func(key uint32, at int64, val []byte), warn func(error)) error {
	page := make([]byte, d.pageSize)
	scratch := make([]byte, d.pageSize)
	var total int64
	pairs := 0
	seen := make(map[uint32]uint32) // package number -> hash page
	for n := uint32(1); n <= d.last && n != 0; n++ {
		if err := d.readPage(n, page); err != nil {
			return err
		}
		h := d.header(page)
		switch h.typ {
		case pageHash, pageHashUnsorted:
		case 0, pageOverflow:
			continue // free or never written; overflow pages are read from their items
		default:
			warn(bdbErr(d.pageOff(n)+25, fmt.Sprintf("page %d", n), "page type %d in a hash database", h.typ))
			continue
		}
		if d.onPage != nil {
			d.onPage(n, false)
		}
		items, err := d.hashItems(n, page)
		if err != nil {
			warn(err)
			continue
		}
		for i := 0; i+1 < len(items); i += 2 {
			pairs++
			key, err := d.keyNumber(n, items[i])
			if err != nil {
				warn(err)
				continue
			}
			if key == 0 {
				continue
			}
			if p, dup := seen[key]; dup {
				warn(bdbErr(d.pageOff(n)+int64(items[i].off), fmt.Sprintf("hash page %d", n), "package number %d again (first on page %d)", key, p))
				continue
			}
			seen[key] = n
			val, err := d.value(n, items[i+1], scratch)
			if err != nil {
				warn(fmt.Errorf("package %d: %w", key, err))
				continue
			}
			if total += int64(len(val)); total > MaxDB {
				return fmt.Errorf("bdb: the headers add up to more than %d bytes", int64(MaxDB))
			}
			fn(key, d.pageOff(n)+int64(items[i+1].off), val)
		}
	}
	// The metadata's key count starts from the size hint given at
	// creation (db_load makes 608 of 304 keys), so only none found is
	// told: every hash page lost.
	if pairs == 0 && d.nelem != 0 {
		warn(bdbErr(88, "metadata page", "counts %d keys, the hash pages hold none", d.nelem))
	}
	return nil
}
