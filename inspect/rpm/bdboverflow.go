package rpm

import "fmt"

// Overflow pages (P_OVERFLOW in Berkeley DB's db_page.h) hold an item
// too big for a hash page, an rpm header nearly always: a chain of pages
// linked by their next-page field, each holding as many bytes of the
// item as its hf_offset field says, after the page header. The hash page
// has the chain's first page and the item's total length.

const pageOverflow = 7

// overflow reads the item of length bytes whose chain starts at page
// first; buf is a page-sized scratch buffer. The chain must be overflow
// pages that each call themselves by their number, hold between 1 and
// the page's capacity bytes, and give exactly length bytes before it
// ends; a page met twice is a loop. Pages after the item's last byte are
// not read, as Berkeley DB does not read them.
func (d *bdbDB) overflow(first, length uint32, buf []byte) ([]byte, error) {
	if length == 0 {
		return nil, fmt.Errorf("bdb: overflow item at page %d has length 0", first)
	}
	capacity := d.pageSize - d.overhead
	// The chain cannot hold more than the file's pages can.
	if int64(length) > MaxBlob || int64(length) > int64(d.last)*int64(capacity) {
		return nil, fmt.Errorf("bdb: overflow item at page %d: length %d is more than the file or %d bytes can hold", first, length, int64(MaxBlob))
	}
	out := make([]byte, 0, length)
	seen := make(map[uint32]bool)
	for n := first; len(out) < int(length); {
		if n == 0 {
			return nil, fmt.Errorf("bdb: overflow item at page %d: the chain ends after %d of %d bytes", first, len(out), length)
		}
		what := fmt.Sprintf("overflow page %d of the item at page %d", n, first)
		if seen[n] {
			return nil, bdbErr(d.pageOff(n), what, "the chain loops")
		}
		seen[n] = true
		if err := d.readPage(n, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if d.onPage != nil {
			d.onPage(n, true)
		}
		h := d.header(buf)
		switch {
		case h.typ != pageOverflow:
			return nil, bdbErr(d.pageOff(n)+25, what, "page type %d, want %d (overflow)", h.typ, pageOverflow)
		case h.pgno != n:
			return nil, bdbErr(d.pageOff(n)+8, what, "the page calls itself page %d", h.pgno)
		case h.hfOff == 0 || int(h.hfOff) > capacity:
			return nil, bdbErr(d.pageOff(n)+22, what, "holds %d bytes, a page can hold 1 to %d", h.hfOff, capacity)
		case len(out)+int(h.hfOff) > int(length):
			return nil, bdbErr(d.pageOff(n)+22, what, "holds %d bytes, more than the %d left of the item's %d", h.hfOff, int(length)-len(out), length)
		}
		out = append(out, buf[d.overhead:d.overhead+int(h.hfOff)]...)
		n = h.next
	}
	return out, nil
}
