package lzma2

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"testing"
)

// xzRaw decodes src with `xz --format=raw -dc` and the fuzz dictionary.
func xzRaw(t *testing.T, src []byte) ([]byte, error) {
	cmd := exec.Command("xz", "--format=raw", fmt.Sprintf("--lzma2=dict=%d", fuzzDict), "-dc", "-q")
	cmd.Stdin = bytes.NewReader(src)
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("xz: %v", err)
	}
	return out, err
}

// fuzzDict is the dictionary size of the fuzz seeds and of both decoders.
const fuzzDict = 64 << 10

// FuzzDecode checks DecodeAll against ulikunitz/xz on any input: same
// bytes when the reference decodes it, an error from both when it does
// not; and Reader against DecodeAll. Seeded with small raw LZMA2 streams
// from xz (the payload of an xz block).
//
// ulikunitz/xz is laxer than liblzma in places (it takes lc + lp > 4, a
// chunk that leaves compressed bytes unused, a range coder not flushed),
// where this decoder does as liblzma does. So when the two disagree,
// `xz --format=raw -dc` decides: ours must then agree with it.
func FuzzDecode(f *testing.F) {
	for i, opts := range []string{"preset=0,dict=64KiB", "preset=6,dict=64KiB", "preset=6,dict=64KiB,lc=0,lp=2,pb=0", "preset=6e,dict=64KiB,lc=4,pb=4"} {
		f.Add(rawLZMA2(f, testData(3000+1000*i, uint64(i)), opts))
	}
	random := make([]byte, 2000)
	for i := range random {
		random[i] = byte(i*i*7 + i>>3)
	}
	f.Add(rawLZMA2(f, random, "preset=1,dict=64KiB"))
	f.Fuzz(func(t *testing.T, src []byte) {
		const limit = 1 << 16
		ref, rerr := ulikunitz(src, fuzzDict, limit)
		if len(ref) >= limit {
			return
		}
		dst := make([]byte, len(ref))
		n, err := DecodeAll(dst, src, fuzzDict)
		if (err == nil) != (rerr == nil) {
			xzOut, xzErr := xzRaw(t, src)
			if (err == nil) != (xzErr == nil) || (err == nil && !bytes.Equal(xzOut, dst)) {
				t.Fatalf("DecodeAll: %v; ulikunitz: %v (after %d bytes); xz: %v (%d bytes)", err, rerr, len(ref), xzErr, len(xzOut))
			}
			t.Logf("ulikunitz: %v, ours and xz: %v", rerr, err)
			return
		}
		if err == nil {
			if !bytes.Equal(dst, ref) {
				t.Fatalf("DecodeAll differs from ulikunitz at %d", firstDiff(dst, ref))
			}
			if n > len(src) || src[n-1] != 0 {
				t.Fatalf("DecodeAll consumed %d of %d bytes", n, len(src))
			}
		} else if n > len(src) {
			t.Fatalf("DecodeAll error at %d, past the %d bytes of input", n, len(src))
		}
		r := NewReader(bytes.NewReader(src), fuzzDict)
		got, rdErr := io.ReadAll(io.LimitReader(r, limit))
		if (rdErr == nil) != (err == nil) {
			t.Fatalf("Reader: %v; DecodeAll: %v", rdErr, err)
		}
		if err == nil && (!bytes.Equal(got, dst) || r.Consumed() != int64(n)) {
			t.Fatalf("Reader gives %d bytes from %d, DecodeAll %d from %d", len(got), r.Consumed(), len(dst), n)
		}
	})
}
