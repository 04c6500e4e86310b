package wof

import "fmt"

// Canonical Huffman decoding shared by XPRESS and LZX: a code is given
// by its codeword lengths, codewords being assigned in order of
// (length, symbol) and read most significant bit first.
//
// A decode table is indexed by the next tableBits bits. An entry for a
// codeword of at most tableBits bits holds its symbol and length; the
// root entries of longer codewords point to a subtable indexed by the
// bits after the first tableBits, sized for the longest codeword under
// that prefix. Entry layout: symbol<<16 | length, or for a subtable
// pointer subtableFlag | start<<16 | index bits. In a subtable, the
// length is the codeword's length minus tableBits.
const subtableFlag = 1 << 15

// emptySym is what an empty code decodes: no alphabet has it.
const emptySym = 0xFFFF

// maxCodeLen is the longest codeword any of our codes allows (LZX's main
// and length codes).
const maxCodeLen = 16

// huffScratch is the working space of buildTable, reused.
type huffScratch struct {
	count  [maxCodeLen + 1]uint16
	offs   [maxCodeLen + 1]uint16
	sorted [lzxMainSymsMax]uint16
}

// buildTable fills table (of a capacity the caller sized for the code,
// checked here) from the codeword lengths lens, each at most maxLen. An
// over-subscribed set of lengths, or an incomplete one other than the
// empty code, is an error (as wimlib decides). The empty code (all
// lengths 0) decodes every input as emptySym consuming no bits, which
// each caller rejects as out of its alphabet: a well-formed stream never
// decodes a symbol with an empty code (wimlib decodes symbol 0, which
// turns a chunk whose code lengths were zeroed into zeros).
func buildTable(table []uint32, lens []uint8, tableBits, maxLen uint, s *huffScratch) error {
	count := &s.count
	for i := range count {
		count[i] = 0
	}
	for _, l := range lens {
		if uint(l) > maxLen {
			return fmt.Errorf("codeword length %d > %d", l, maxLen)
		}
		count[l]++
	}
	left := 1
	for l := uint(1); l <= maxLen; l++ {
		left = left<<1 - int(count[l])
		if left < 0 {
			return fmt.Errorf("over-subscribed code of %d symbols", len(lens))
		}
	}
	root := table[:1<<tableBits]
	if left != 0 {
		if left != 1<<maxLen {
			return fmt.Errorf("incomplete code of %d symbols", len(lens)-int(count[0]))
		}
		for i := range root {
			root[i] = emptySym << 16
		}
		return nil
	}
	// Sort the symbols by (length, symbol).
	offs := &s.offs
	offs[0] = 0
	for l := uint(0); l < maxLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	sorted := s.sorted[:len(lens)]
	for sym, l := range lens {
		sorted[offs[l]] = uint16(sym)
		offs[l]++
	}
	i := int(count[0])
	pos := 0
	// Codewords of at most tableBits: consecutive runs of the root.
	for l := uint(1); l <= tableBits; l++ {
		n := 1 << (tableBits - l)
		for k := 0; k < int(count[l]); k++ {
			e := uint32(sorted[i])<<16 | uint32(l)
			for j := pos; j < pos+n; j++ {
				root[j] = e
			}
			pos += n
			i++
		}
	}
	// Longer codewords: the rest of the root, one subtable per prefix.
	next := 1 << tableBits
	code := pos // the current codeword's first tableBits bits, as a root index
	for i < len(sorted) {
		// The codewords under this root prefix are the consecutive
		// sorted symbols until the prefix's codespace is full; the
		// subtable is indexed by the bits of the longest of them.
		j, space, need := i, 0, 0
		// Codespace measured in units of 2^-(maxLen-tableBits).
		full := 1 << (maxLen - tableBits)
		for space < full {
			if j == len(sorted) {
				return fmt.Errorf("internal: codespace under root prefix %#x not filled", code)
			}
			l := uint(lens[sorted[j]])
			space += 1 << (maxLen - l)
			need = int(l - tableBits)
			j++
		}
		if space != full {
			return fmt.Errorf("internal: codespace under root prefix %#x overfilled", code)
		}
		size := 1 << need
		if next+size > len(table) {
			return fmt.Errorf("decode table of %d entries too small", len(table))
		}
		root[code] = subtableFlag | uint32(next)<<16 | uint32(need)
		p := next
		for ; i < j; i++ {
			l := uint(lens[sorted[i]])
			n := 1 << (need - int(l-tableBits))
			e := uint32(sorted[i])<<16 | uint32(l-tableBits)
			for k := p; k < p+n; k++ {
				table[k] = e
			}
			p += n
		}
		next += size
		code++
	}
	return nil
}
