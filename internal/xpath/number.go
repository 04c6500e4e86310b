package xpath

import (
	"math"
	"strconv"
	"strings"
)

// Numbers go to strings and back as libxml2 2.9.14 converts them
// (xmlXPathFormatNumber, xmlXPathStringEvalNumber), not as the XPath
// recommendation says: libxml2 keeps 15 significant digits, switches to
// exponent notation outside [1e-5, 1e9], and accepts an exponent in
// number("1e3"). Scripts see libxml2's strings, so we write the same ones.

const maxFrac = 20 // libxml2's MAX_FRAC: fraction digits it reads

// parseNumber is xmlXPathStringEvalNumber: optional blanks, an optional
// minus, digits with an optional fraction and exponent, optional blanks;
// anything else is NaN.
func parseNumber(s string) float64 {
	i := 0
	blank := func() {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
	}
	blank()
	if i < len(s) && s[i] != '-' && s[i] != '.' && !isDigit(s[i]) {
		return math.NaN()
	}
	if i == len(s) {
		return math.NaN()
	}
	neg := false
	if s[i] == '-' {
		neg = true
		i++
	}
	ret, n := scanDigits(s[i:])
	i += n
	ok := n > 0
	if i < len(s) && s[i] == '.' {
		i++
		if !ok && (i == len(s) || !isDigit(s[i])) {
			return math.NaN()
		}
		f, n := scanFraction(s[i:])
		ret += f
		i += n
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, n := scanExponent(s[i+1:])
		i += 1 + n
		ret *= math.Pow(10, float64(e))
	}
	blank()
	if i != len(s) {
		return math.NaN()
	}
	if neg {
		ret = -ret
	}
	return ret
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanDigits reads an integer part the way libxml2 does, one digit at a
// time into a double.
func scanDigits(s string) (float64, int) {
	ret, i := 0.0, 0
	for i < len(s) && isDigit(s[i]) {
		ret = ret*10 + float64(s[i]-'0')
		i++
	}
	return ret, i
}

// scanFraction reads the digits after the point: leading zeros counted,
// then at most maxFrac digits, the rest skipped.
func scanFraction(s string) (float64, int) {
	i, frac := 0, 0
	for i < len(s) && s[i] == '0' {
		i++
		frac++
	}
	limit := frac + maxFrac
	f := 0.0
	for i < len(s) && isDigit(s[i]) && frac < limit {
		f = f*10 + float64(s[i]-'0')
		frac++
		i++
	}
	f /= math.Pow(10, float64(frac))
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return f, i
}

// scanExponent reads [+-]digits after an 'e'; libxml2 stops growing the
// exponent at a million.
func scanExponent(s string) (int, int) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	} else if i < len(s) && s[i] == '+' {
		i++
	}
	e := 0
	for i < len(s) && isDigit(s[i]) {
		if e < 1000000 {
			e = e*10 + int(s[i]-'0')
		}
		i++
	}
	if neg {
		e = -e
	}
	return e, i
}

// formatNumber is xmlXPathFormatNumber: the string() of a number.
func formatNumber(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	case f == 0:
		return "0" // negative zero too
	case f > math.MinInt32 && f < math.MaxInt32 && f == math.Trunc(f):
		return strconv.Itoa(int(f))
	}
	const dblDig = 15
	abs := math.Abs(f)
	var work string
	if abs > 1e9 || abs < 1e-5 {
		work = strconv.FormatFloat(f, 'e', dblDig-1, 64)
	} else {
		place := int(math.Log10(abs)) // truncated toward zero, as C's (int)
		frac := dblDig - place
		if place > 0 {
			frac--
		}
		work = strconv.FormatFloat(f, 'f', frac, 64)
	}
	// Drop the fraction's trailing zeros, and the point if nothing is left.
	mant, exp := work, ""
	if i := strings.IndexByte(work, 'e'); i >= 0 {
		mant, exp = work[:i], work[i:]
	}
	if strings.IndexByte(mant, '.') >= 0 {
		mant = strings.TrimRight(mant, "0")
		mant = strings.TrimSuffix(mant, ".")
	}
	return mant + exp
}
