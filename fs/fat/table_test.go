package fat

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// synthTable builds a table of the given variant over entries.
func synthTable(v Variant, entries []uint32) *table {
	var b []byte
	switch v {
	case FAT12:
		b = make([]byte, (len(entries)*3+1)/2+1)
		for c, e := range entries {
			o := c + c/2
			if c&1 == 0 {
				b[o] = byte(e)
				b[o+1] = b[o+1]&0xF0 | byte(e>>8)&0x0F
			} else {
				b[o] = b[o]&0x0F | byte(e<<4)
				b[o+1] = byte(e >> 4)
			}
		}
	case FAT16:
		b = make([]byte, 2*len(entries))
		for c, e := range entries {
			binary.LittleEndian.PutUint16(b[2*c:], uint16(e))
		}
	default:
		b = make([]byte, 4*len(entries))
		for c, e := range entries {
			binary.LittleEndian.PutUint32(b[4*c:], e|0xA0000000) // the top 4 bits are reserved
		}
	}
	return &table{r: bytes.NewReader(b), len: int64(len(b)), variant: v, max: uint32(len(entries) - 1)}
}

func TestTableNext(t *testing.T) {
	for _, v := range []Variant{FAT12, FAT16, FAT32} {
		eoc := map[Variant]uint32{FAT12: 0xFFF, FAT16: 0xFFFF, FAT32: 0x0FFFFFFF}[v]
		entries := []uint32{0xFF8, eoc, 3, 4, eoc, 0, 7, 5, 1}
		tb := synthTable(v, entries)
		for c := uint32(2); c < uint32(len(entries)); c++ {
			got, err := tb.next(c)
			if err != nil || got != entries[c] {
				t.Errorf("%s: entry %d = %#x, %v; want %#x", v, c, got, err, entries[c])
			}
		}
		if _, err := tb.next(uint32(len(entries) + 100)); err == nil {
			t.Errorf("%s: entry beyond the table read without error", v)
		}
	}
}

// TestFollow: each way a chain can end, on every variant.
func TestFollow(t *testing.T) {
	for _, v := range []Variant{FAT12, FAT16, FAT32} {
		eoc := map[Variant]uint32{FAT12: 0xFFF, FAT16: 0xFFF8, FAT32: 0x0FFFFFF8}[v]
		bad := map[Variant]uint32{FAT12: 0xFF7, FAT16: 0xFFF7, FAT32: 0x0FFFFFF7}[v]
		// clusters 2..15
		e := make([]uint32, 16)
		e[2], e[3], e[4], e[5] = 3, 4, 8, eoc // 2-4, 8, 9, 10 -> ...
		e[8], e[9], e[10] = 9, 10, eoc
		e[6], e[7] = 7, 6 // loop
		e[11] = 0         // free
		e[12] = 1         // reserved
		e[13] = 14
		e[14] = 200 // beyond
		e[15] = bad
		tb := synthTable(v, e)
		for _, tc := range []struct {
			start, limit uint32
			runs         []run
			end          chainEnd
			msg          string
		}{
			{2, 100, []run{{2, 3}, {8, 3}}, endEOC, ""},
			{2, 4, []run{{2, 3}, {8, 1}}, endLimit, ""},
			{6, 100, []run{{6, 2}}, endLoop, "loops"},
			{11, 100, []run{{11, 1}}, endBadNext, "free cluster"},
			{12, 100, []run{{12, 1}}, endBadNext, "reserved cluster 1"},
			{13, 100, []run{{13, 2}}, endBadNext, "beyond the last cluster 15"},
			{15, 100, []run{{15, 1}}, endBadNext, "bad-cluster"},
		} {
			seen := newBitset(tb.max)
			budget := int64(1000)
			runs, res := tb.follow(tc.start, tc.limit, nil, seen, &budget)
			if !slices.Equal(runs, tc.runs) || res.end != tc.end {
				t.Errorf("%s from %d: runs %v end %d, want %v end %d", v, tc.start, runs, res.end, tc.runs, tc.end)
			}
			if tc.msg != "" && !strings.Contains(tb.describe(res), tc.msg) {
				t.Errorf("%s from %d: %q, want %q", v, tc.start, tb.describe(res), tc.msg)
			}
		}
		// shared: a chain into clusters another one marked
		seen := newBitset(tb.max)
		budget := int64(1000)
		runs, _ := tb.follow(8, 100, nil, seen, &budget)
		_, res := tb.follow(2, 100, runs, seen, &budget)
		if res.end != endShared || res.val != 8 {
			t.Errorf("%s: chain into marked clusters: %+v, want shared at 8", v, res)
		}
		// the budget
		budget = 2
		_, res = tb.follow(2, 100, nil, newBitset(tb.max), &budget)
		if res.end != endBudget {
			t.Errorf("%s: budget 2: %+v, want endBudget", v, res)
		}
	}
}
