package xpath

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a bad expression or a failed evaluation, at a column of the
// expression (1-based, in characters).
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at column %d: %s", e.Col, e.Msg) }

type tokKind uint8

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tDot
	tDotDot
	tAt
	tComma
	tColonColon
	tSlash
	tSlashSlash
	tPipe
	tPlus
	tMinus
	tEq
	tNeq
	tLt
	tLe
	tGt
	tGe
	tAnd
	tOr
	tMod
	tDiv
	tMul  // the multiplication operator
	tStar // the name test *
	tName // an NCName or QName; prefix:* is a tName "prefix:*"
	tLiteral
	tNumber
	tVar
)

var tokNames = [...]string{tEOF: "end of expression", tLParen: "(", tRParen: ")",
	tLBrack: "[", tRBrack: "]", tDot: ".", tDotDot: "..", tAt: "@", tComma: ",",
	tColonColon: "::", tSlash: "/", tSlashSlash: "//", tPipe: "|", tPlus: "+",
	tMinus: "-", tEq: "=", tNeq: "!=", tLt: "<", tLe: "<=", tGt: ">", tGe: ">=",
	tAnd: "and", tOr: "or", tMod: "mod", tDiv: "div", tMul: "*", tStar: "*",
	tName: "name", tLiteral: "string", tNumber: "number", tVar: "variable"}

type token struct {
	kind tokKind
	text string  // name, literal value or number text
	num  float64 // for tNumber
	off  int     // byte offset in the expression
}

// lex splits an expression into tokens, applying XPath's rules (section
// 3.7) to tell "*" and "and", "or", "mod", "div" as operators from the
// same characters as names.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isBlank(src[i]) {
			i++
		}
		if i == len(src) {
			toks = append(toks, token{kind: tEOF, off: i})
			return toks, nil
		}
		// After these (or at the start) a name is a name, * is a name test.
		operand := len(toks) == 0
		if !operand {
			switch p := toks[len(toks)-1].kind; p {
			case tAt, tColonColon, tLParen, tLBrack, tComma, tSlash, tSlashSlash, tPipe,
				tPlus, tMinus, tEq, tNeq, tLt, tLe, tGt, tGe, tAnd, tOr, tMod, tDiv, tMul:
				operand = true
			}
		}
		start := i
		c := src[i]
		one := func(k tokKind) { toks = append(toks, token{kind: k, off: start}); i++ }
		two := func(k tokKind) { toks = append(toks, token{kind: k, off: start}); i += 2 }
		next := byte(0)
		if i+1 < len(src) {
			next = src[i+1]
		}
		switch {
		case c == '(':
			one(tLParen)
		case c == ')':
			one(tRParen)
		case c == '[':
			one(tLBrack)
		case c == ']':
			one(tRBrack)
		case c == '@':
			one(tAt)
		case c == ',':
			one(tComma)
		case c == '|':
			one(tPipe)
		case c == '+':
			one(tPlus)
		case c == '-':
			one(tMinus)
		case c == '=':
			one(tEq)
		case c == '!' && next == '=':
			two(tNeq)
		case c == '<' && next == '=':
			two(tLe)
		case c == '<':
			one(tLt)
		case c == '>' && next == '=':
			two(tGe)
		case c == '>':
			one(tGt)
		case c == '/' && next == '/':
			two(tSlashSlash)
		case c == '/':
			one(tSlash)
		case c == ':' && next == ':':
			two(tColonColon)
		case c == '*':
			if operand {
				one(tStar)
			} else {
				one(tMul)
			}
		case c == '.' && next == '.':
			two(tDotDot)
		case c == '.' && !isDigit(next):
			one(tDot)
		case c == '"' || c == '\'':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, &Error{col(src, start), "unfinished string literal"}
			}
			toks = append(toks, token{kind: tLiteral, text: src[i+1 : i+1+j], off: start})
			i += j + 2
		case isDigit(c) || c == '.':
			// Digits ('.' Digits?)? | '.' Digits, and libxml2's exponent.
			ip, n := scanDigits(src[i:])
			i += n
			if i < len(src) && src[i] == '.' {
				f, n := scanFraction(src[i+1:])
				ip += f
				i += 1 + n
			}
			if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
				e, n := scanExponent(src[i+1:])
				i += 1 + n
				ip *= math.Pow(10, float64(e))
			}
			toks = append(toks, token{kind: tNumber, num: ip, text: src[start:i], off: start})
		case c == '$':
			i++
			n := scanName(src[i:])
			if n == 0 {
				return nil, &Error{col(src, start), "a variable name must follow $"}
			}
			i += n
			toks = append(toks, token{kind: tVar, text: src[start+1 : i], off: start})
		default:
			n := scanName(src[i:])
			if n == 0 {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, &Error{col(src, start), fmt.Sprintf("unexpected character %q", r)}
			}
			i += n
			name := src[start:i]
			// prefix:local or prefix:*, but not axis::
			if i+1 < len(src) && src[i] == ':' && src[i+1] != ':' {
				if src[i+1] == '*' {
					i += 2
				} else if m := scanName(src[i+1:]); m > 0 {
					i += 1 + m
				}
				name = src[start:i]
			}
			kind := tName
			if !operand {
				switch name {
				case "and":
					kind = tAnd
				case "or":
					kind = tOr
				case "mod":
					kind = tMod
				case "div":
					kind = tDiv
				default:
					return nil, &Error{col(src, start), fmt.Sprintf("expected an operator, found %q", name)}
				}
			}
			toks = append(toks, token{kind: kind, text: name, off: start})
		}
	}
}

// scanName returns the length of the NCName at the start of s.
func scanName(s string) int {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		ok := r == '_' || unicode.IsLetter(r)
		if i > 0 {
			ok = ok || r == '-' || r == '.' || unicode.IsDigit(r) ||
				unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me, unicode.Nl, unicode.Lm) || r == 0xB7
		}
		if !ok || r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return i
}

// col turns a byte offset into a 1-based column counted in characters.
func col(src string, off int) int {
	if off > len(src) {
		off = len(src)
	}
	return utf8.RuneCountInString(src[:off]) + 1
}
