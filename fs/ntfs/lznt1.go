package ntfs

import (
	"encoding/binary"
	"fmt"
)

// lznt1ChunkSize is the size of one LZNT1 chunk once decompressed.
const lznt1ChunkSize = 4096

// lznt1Decompress decompresses the LZNT1 stream src (the allocated
// clusters of one compression unit) into dst, which is the unit's size:
// a sequence of chunks, each a 16-bit header (bits 0-11: the chunk's
// data length minus 1; bit 15: compressed) then its data. An uncompressed
// chunk is 4096 bytes as is; a compressed one is groups of a flag byte
// and eight tokens, a 0 bit a literal byte, a 1 bit a 16-bit
// back-reference whose split between offset and length depends on the
// position in the chunk (12 length bits at its start, one fewer each time
// the position doubles past 16). A chunk that decompresses short is
// padded with zeros; a zero header or the end of src ends the stream and
// the rest of dst is zeros (as ntfs-3g and Windows do). It returns an
// error for a token pointing before its chunk's start or a chunk running
// past src or dst.
//
// Our own: the standard library has no LZNT1, and go-ntfs' decompressor
// is the one whose reader trusts the image's lengths.
func lznt1Decompress(dst, src []byte) error {
	clear(dst)
	out := 0
	for in := 0; in+2 <= len(src) && out < len(dst); {
		h := binary.LittleEndian.Uint16(src[in:])
		if h == 0 {
			return nil
		}
		n := int(h&0xFFF) + 1
		in += 2
		if in+n > len(src) {
			return fmt.Errorf("lznt1: chunk at %#x of %d bytes past the %d-byte input", in-2, n, len(src))
		}
		chunk := src[in : in+n]
		in += n
		end := min(out+lznt1ChunkSize, len(dst))
		if h&0x8000 == 0 {
			copy(dst[out:end], chunk)
			out = end
			continue
		}
		start := out
		p := out
		for c := 0; c < len(chunk) && p < end; {
			flags := chunk[c]
			c++
			for bit := 0; bit < 8 && c < len(chunk) && p < end; bit++ {
				if flags&(1<<bit) == 0 {
					dst[p] = chunk[c]
					p++
					c++
					continue
				}
				if c+2 > len(chunk) {
					return fmt.Errorf("lznt1: back-reference cut at the end of the chunk at %#x", in-n-2)
				}
				tok := int(binary.LittleEndian.Uint16(chunk[c:]))
				c += 2
				lg := 0
				for i := p - start - 1; i >= 0x10; i >>= 1 {
					lg++
				}
				length := tok&(0xFFF>>lg) + 3
				back := tok>>(12-lg) + 1
				if back > p-start {
					return fmt.Errorf("lznt1: back-reference %d bytes before position %d of its chunk", back, p-start)
				}
				for k := 0; k < length && p < end; k++ {
					dst[p] = dst[p-back]
					p++
				}
			}
		}
		out = end
	}
	return nil
}
