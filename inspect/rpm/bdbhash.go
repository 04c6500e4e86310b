package rpm

import (
	"fmt"
)

// Hash pages (P_HASH, and P_HASH_UNSORTED written before Berkeley DB
// 4.6) hold the table's key/data pairs (db_page.h, "HASH PAGE LAYOUT").
// After the page header comes an index of 2-byte offsets, two per pair
// (key, then data); the items are packed from the end of the page
// downwards, so item i runs from its offset to item i-1's (to the page's
// end for item 0). An item's first byte is its type: H_KEYDATA, the
// bytes themselves; H_OFFPAGE, a reference to an overflow chain (3 unused
// bytes, first page, total length); H_DUPLICATE and H_OFFDUP, sets of
// duplicate data, which rpm's Packages never has.
const (
	pageHashUnsorted = 2
	pageHash         = 13

	hKeyData   = 1
	hDuplicate = 2
	hOffPage   = 3
	hOffDup    = 4

	hOffPageLen = 12
)

// hashItem is one item of a hash page: its bytes (type first) and
// where it is, for errors.
type hashItem struct {
	b   []byte
	off int // in the page
}

// hashItems returns the items of the hash page p (page n), checking the
// index against the page: an even count, offsets after the index and
// before the previous item, no empty item.
func (d *bdbDB) hashItems(n uint32, p []byte) ([]hashItem, error) {
	h := d.header(p)
	what := fmt.Sprintf("hash page %d", n)
	base := d.pageOff(n)
	if h.pgno != n {
		return nil, bdbErr(base+8, what, "the page calls itself page %d", h.pgno)
	}
	cnt := int(h.entries)
	idxEnd := d.overhead + 2*cnt
	if cnt%2 != 0 || idxEnd > d.pageSize {
		return nil, bdbErr(base+20, what, "%d items: not pairs, or more than the page holds", cnt)
	}
	items := make([]hashItem, cnt)
	end := d.pageSize
	for i := range cnt {
		off := int(d.order.Uint16(p[d.overhead+2*i:]))
		if off < idxEnd || off >= end {
			return nil, bdbErr(base+int64(d.overhead+2*i), what, "item %d at offset %d, outside %d..%d", i, off, idxEnd, end-1)
		}
		items[i] = hashItem{b: p[off:end], off: off}
		end = off
	}
	return items, nil
}

// keyNumber decodes a Packages key: the package number, 4 bytes in the
// database's byte order.
func (d *bdbDB) keyNumber(n uint32, it hashItem) (uint32, error) {
	if it.b[0] != hKeyData || len(it.b) != 5 {
		return 0, bdbErr(d.pageOff(n)+int64(it.off), fmt.Sprintf("hash page %d", n), "key of type %d and %d bytes, want a 4-byte package number", it.b[0], len(it.b)-1)
	}
	return d.order.Uint32(it.b[1:]), nil
}

// value returns the data of an item: on the page, or read from its
// overflow chain with scratch, a page-sized buffer.
func (d *bdbDB) value(n uint32, it hashItem, scratch []byte) ([]byte, error) {
	at := d.pageOff(n) + int64(it.off)
	what := fmt.Sprintf("hash page %d", n)
	switch it.b[0] {
	case hKeyData:
		return it.b[1:], nil
	case hOffPage:
		if len(it.b) < hOffPageLen {
			return nil, bdbErr(at, what, "off-page item of %d bytes, want %d", len(it.b), hOffPageLen)
		}
		first, length := d.order.Uint32(it.b[4:]), d.order.Uint32(it.b[8:])
		v, err := d.overflow(first, length, scratch)
		if err != nil {
			return nil, fmt.Errorf("%s, item at %#x: %w", what, at, err)
		}
		return v, nil
	case hDuplicate, hOffDup:
		return nil, fmt.Errorf("%w: %w", bdbErr(at, what, "duplicate data (item type %d)", it.b[0]), ErrUnsupported)
	default:
		return nil, bdbErr(at, what, "bad item type %d", it.b[0])
	}
}
