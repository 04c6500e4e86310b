package logger

import "math/bits"

// appendInt and appendUint are strconv.AppendInt and AppendUint in base
// 10, writing the digits in place in b's spare capacity (strconv formats
// into a buffer of its own and copies it): an event line is mostly
// numbers, three per object a read touched.

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(b, '-'), uint64(-v)) // -MinInt64 is MinInt64: as uint64, its magnitude
	}
	return appendUint(b, uint64(v))
}

func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	n := decimalLen(v)
	l := len(b) + n
	if l > cap(b) {
		b = append(b, make([]byte, n)...)
	}
	b = b[:l]
	i := l
	for v >= 100 {
		q := v / 100
		r := v - q*100
		i -= 2
		b[i], b[i+1] = digitPairs[2*r], digitPairs[2*r+1]
		v = q
	}
	if v >= 10 {
		b[i-2], b[i-1] = digitPairs[2*v], digitPairs[2*v+1]
	} else {
		b[i-1] = byte('0' + v)
	}
	return b
}

// decimalLen is the number of decimal digits of v > 0.
func decimalLen(v uint64) int {
	n := (bits.Len64(v) * 1233) >> 12 // about log10(2) * bits: n or n-1 digits... less one
	if v >= pow10[n] {
		n++
	}
	return n
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"
