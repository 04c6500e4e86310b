package logger

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// appendInt and appendUint write what strconv writes: every power of ten
// and its neighbours, the extremes, and random values of every length,
// after a prefix that must stay.
func TestAppendInt(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, 99, 100, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for p := int64(1); p <= math.MaxInt64/10; p *= 10 {
		vals = append(vals, p-1, p, p+1, -p, 10*p-1)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		vals = append(vals, r.Int64()>>r.IntN(64), -(r.Int64() >> r.IntN(64)))
	}
	buf := make([]byte, 0, 8)
	for _, v := range vals {
		buf = append(buf[:0], "x="...)
		if got, want := string(appendInt(buf, v)), "x="+strconv.FormatInt(v, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", v, got, want)
		}
		u := uint64(v)
		if got, want := string(appendUint(buf, u)), "x="+strconv.FormatUint(u, 10); got != want {
			t.Fatalf("appendUint(%d) = %q, want %q", u, got, want)
		}
	}
	for _, u := range []uint64{math.MaxUint64, 1e19 - 1, 1e19, 1e19 + 1} {
		if got, want := string(appendUint(nil, u)), strconv.FormatUint(u, 10); got != want {
			t.Fatalf("appendUint(%d) = %q, want %q", u, got, want)
		}
	}
}

func BenchmarkAppendInt(b *testing.B) {
	vals := []int64{4096, 0, -1, 1234567890, 262144, 1 << 40}
	buf := make([]byte, 0, 64)
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			buf = buf[:0]
			for _, v := range vals {
				buf = appendInt(buf, v)
			}
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			buf = buf[:0]
			for _, v := range vals {
				buf = strconv.AppendInt(buf, v, 10)
			}
		}
	})
}
