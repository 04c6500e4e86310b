package wof

import (
	"bytes"
	"encoding/binary"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// chunkCase is one chunk to decompress: its compressed bytes and size.
type chunkCase struct {
	src  []byte
	size int
}

// wimlibDecompress decompresses chunks with wimlib (mkwof decompress)
// and returns, for each, whether wimlib accepted it and its output.
func wimlibDecompress(t *testing.T, tool, format string, cs []chunkCase) ([]bool, [][]byte) {
	t.Helper()
	var in bytes.Buffer
	for _, c := range cs {
		var h [8]byte
		binary.LittleEndian.PutUint32(h[:], uint32(c.size))
		binary.LittleEndian.PutUint32(h[4:], uint32(len(c.src)))
		in.Write(h[:])
		in.Write(c.src)
	}
	cmd := exec.Command(tool, "decompress", format)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mkwof decompress: %v", err)
	}
	ok := make([]bool, len(cs))
	res := make([][]byte, len(cs))
	r := bytes.NewReader(out)
	for i, c := range cs {
		var st [1]byte
		res[i] = make([]byte, c.size)
		if _, err := io.ReadFull(r, st[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, res[i]); err != nil {
			t.Fatal(err)
		}
		ok[i] = st[0] == 1
	}
	return ok, res
}

// chunksOf splits a WofCompressedData stream of a file of size bytes
// into its compressed (not stored) chunks.
func chunksOf(s []byte, size, cs int) []chunkCase {
	n := (size + cs - 1) / cs
	table := 4 * (n - 1)
	off := func(i int) int {
		switch {
		case i == 0:
			return table
		case i == n:
			return len(s)
		}
		return table + int(binary.LittleEndian.Uint32(s[4*(i-1):]))
	}
	var out []chunkCase
	for i := 0; i < n; i++ {
		u := min(cs, size-i*cs)
		if c := s[off(i):off(i+1)]; len(c) < u {
			out = append(out, chunkCase{c, u})
		}
	}
	return out
}

// bitWriter writes the XPRESS/LZX bitstream (16-bit little-endian words,
// most significant bit first) for hand-made chunks.
type bitWriter struct {
	out  []byte
	word uint32
	n    uint
}

func (w *bitWriter) bits(v uint32, k uint) {
	for i := int(k) - 1; i >= 0; i-- {
		w.word = w.word<<1 | (v>>uint(i))&1
		w.n++
		if w.n == 16 {
			w.out = binary.LittleEndian.AppendUint16(w.out, uint16(w.word))
			w.word, w.n = 0, 0
		}
	}
}

// align pads to the next word; an aligned stream gets a whole word (as
// LZX's uncompressed blocks want).
func (w *bitWriter) align() {
	w.bits(0, 16-w.n)
}

// lzxUncompressed is an LZX chunk of uncompressed blocks holding data:
// each block's header, the recent offsets, the bytes and a pad byte when
// their count is odd.
func lzxUncompressed(blocks ...[]byte) chunkCase {
	var w bitWriter
	size := 0
	for _, b := range blocks {
		w.bits(3, 3)
		if len(b) == 32768 {
			w.bits(1, 1)
		} else {
			w.bits(0, 1)
			w.bits(uint32(len(b)), 16)
		}
		w.align()
		for _, r := range []uint32{1, 2, 3} {
			w.out = binary.LittleEndian.AppendUint32(w.out, r)
		}
		w.out = append(w.out, b...)
		if len(b)%2 == 1 {
			w.out = append(w.out, 0)
		}
		size += len(b)
	}
	return chunkCase{w.out, size}
}

// TestDifferential decompresses, with our decoders and wimlib's, 600
// chunks per format: those wimlib made, chunks of uncompressed LZX
// blocks (which wimlib's compressor never makes), and damaged copies of
// them (a bit flipped, a byte changed, cut short). Where wimlib succeeds, we give its bytes or an error for input it
// reads past its end (wimlib reads zeros there) or for a symbol of an
// empty code (wimlib decodes symbol 0); where wimlib fails, we fail.
func TestDifferential(t *testing.T) {
	dir := t.TempDir()
	tool := mkwof(t, dir)
	code := codeData(t, 100000)
	for _, fm := range formats {
		t.Run(fm.name, func(t *testing.T) {
			cs := fm.f.ChunkSize()
			var good []chunkCase
			for i, data := range [][]byte{textData(3*cs+5, 31), code, append(textData(cs/2, 32), randomData(cs/3, 33)...)} {
				s := stream(t, tool, dir, fm.name, []int{50, 100, 20}[i], data)
				good = append(good, chunksOf(s, len(data), cs)...)
			}
			if fm.f == LZX {
				e8 := bytes.Repeat([]byte{0xE8, 0x10, 0, 0, 0, 'x'}, 600)
				good = append(good, lzxUncompressed([]byte("odd"), e8), lzxUncompressed(e8[:1000], textData(31, 1)))
			}
			cases := append([]chunkCase(nil), good...)
			x := uint64(fm.f)*977 + 5
			rnd := func(n int) int {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				return int(x % uint64(n))
			}
			for len(cases) < 600 {
				g := good[rnd(len(good))]
				src := bytes.Clone(g.src)
				switch rnd(4) {
				case 0: // a bit in the code lengths or block header
					i := rnd(min(len(src), 300))
					src[i] ^= 1 << rnd(8)
				case 1: // a bit anywhere
					i := rnd(len(src))
					src[i] ^= 1 << rnd(8)
				case 2: // cut short
					src = src[:rnd(len(src))]
				case 3: // a byte in the bitstream
					src[rnd(len(src))] = byte(rnd(256))
				}
				cases = append(cases, chunkCase{src, g.size})
			}
			wok, wout := wimlibDecompress(t, tool, fm.name, cases)
			var dec decompressor = new(XpressDecoder)
			if fm.f == LZX {
				dec = new(LZXDecoder)
			}
			agree, both, ourStricter := 0, 0, 0
			for i, c := range cases {
				dst := make([]byte, c.size)
				err := dec.Decompress(dst, c.src)
				switch {
				case err == nil && wok[i]:
					both++
					if !bytes.Equal(dst, wout[i]) {
						t.Errorf("case %d (%d bytes into %d): our bytes differ from wimlib's at %d", i, len(c.src), c.size, firstDiff(dst, wout[i]))
					}
				case err == nil:
					t.Errorf("case %d (%d bytes into %d): we decompress what wimlib rejects", i, len(c.src), c.size)
				case wok[i]:
					if !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "empty") {
						t.Errorf("case %d: wimlib decompresses, we fail: %v", i, err)
					}
					ourStricter++
				default:
					agree++
				}
				if i < len(good) && err != nil {
					t.Errorf("undamaged chunk %d: %v", i, err)
				}
			}
			t.Logf("%d chunks (%d undamaged): %d decompressed alike, %d rejected by both, %d rejected by us only (input overrun or an empty code)", len(cases), len(good), both, agree, ourStricter)
		})
	}
}
