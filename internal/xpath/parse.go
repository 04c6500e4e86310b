package xpath

import (
	"fmt"
	"strings"
)

// Limits on an expression, so that no input can exhaust the stack or
// memory: a query typed on a command line is far below both.
const (
	MaxLen   = 8192 // bytes
	maxDepth = 64   // nested parentheses, predicates, arguments
)

// The abstract syntax tree. off is the byte offset of the construct in the
// expression, for errors.
type expr interface{ offset() int }

type binary struct {
	op   tokKind
	l, r expr
	off  int
}

// negate is one or more unary minus signs; an even number only makes the
// operand a number.
type negate struct {
	e   expr
	odd bool
	off int
}

type literal struct {
	s   string
	off int
}

type number struct {
	n   float64
	off int
}

type call struct {
	name string
	fn   *function
	args []expr
	off  int
}

// filter is a primary expression with predicates: (//a)[1].
type filter struct {
	prim  expr
	preds []expr
	off   int
}

// path is a location path; from is nil for one that starts at the
// context node (relative) or at the root (abs), or is the filter
// expression the steps start from.
type path struct {
	from  expr
	abs   bool
	steps []*step
	off   int
}

type axis uint8

const (
	axisChild axis = iota
	axisDescendant
	axisDescendantOrSelf
	axisSelf
	axisParent
	axisAncestor
	axisAncestorOrSelf
	axisFollowingSibling
	axisPrecedingSibling
	axisFollowing
	axisPreceding
	axisAttribute
)

var axes = map[string]axis{
	"child": axisChild, "descendant": axisDescendant, "descendant-or-self": axisDescendantOrSelf,
	"self": axisSelf, "parent": axisParent, "ancestor": axisAncestor,
	"ancestor-or-self": axisAncestorOrSelf, "following-sibling": axisFollowingSibling,
	"preceding-sibling": axisPrecedingSibling, "following": axisFollowing,
	"preceding": axisPreceding, "attribute": axisAttribute,
}

// reverse axes number their nodes' positions from the context node
// backwards.
func (a axis) reverse() bool {
	switch a {
	case axisParent, axisAncestor, axisAncestorOrSelf, axisPrecedingSibling, axisPreceding:
		return true
	}
	return false
}

type testKind uint8

const (
	testName    testKind = iota // a name, or * when name is ""
	testNode                    // node()
	testText                    // text()
	testComment                 // comment()
	testPI                      // processing-instruction(), name is the optional target
)

type step struct {
	axis  axis
	test  testKind
	name  string
	preds []expr
	off   int
}

func (e *binary) offset() int  { return e.off }
func (e *negate) offset() int  { return e.off }
func (e *literal) offset() int { return e.off }
func (e *number) offset() int  { return e.off }
func (e *call) offset() int    { return e.off }
func (e *filter) offset() int  { return e.off }
func (e *path) offset() int    { return e.off }

// Expr is a compiled expression.
type Expr struct {
	src  string
	root expr
}

// String returns the expression's source.
func (x *Expr) String() string { return x.src }

// Compile parses an expression. Errors are *Error.
func Compile(src string) (*Expr, error) {
	if len(src) > MaxLen {
		return nil, &Error{col(src, MaxLen), fmt.Sprintf("expression longer than %d bytes", MaxLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t, "an operator or the end of the expression")
	}
	return &Expr{src: src, root: e}, nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

// peekAt looks n tokens ahead; past the end it sees the final tEOF.
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(off int, format string, a ...any) error {
	return &Error{col(p.src, off), fmt.Sprintf(format, a...)}
}

func (p *parser) unexpected(t token, want string) error {
	found := tokNames[t.kind]
	switch t.kind {
	case tName:
		found = fmt.Sprintf("%q", t.text)
	case tLiteral:
		found = fmt.Sprintf("string %q", t.text)
	case tNumber:
		found = "number " + t.text
	case tEOF:
	default:
		found = fmt.Sprintf("%q", found)
	}
	return p.errAt(t.off, "expected %s, found %s", want, found)
}

func (p *parser) expect(k tokKind) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.unexpected(t, fmt.Sprintf("%q", tokNames[k]))
	}
	return t, nil
}

// enter counts one level of nesting and refuses too many.
func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek().off, "expression nested more than %d deep", maxDepth)
	}
	return nil
}

func (p *parser) expr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.binary(0)
}

// The binary operators by precedence level, loosest first.
var levels = [][]tokKind{
	{tOr},
	{tAnd},
	{tEq, tNeq},
	{tLt, tLe, tGt, tGe},
	{tPlus, tMinus},
	{tMul, tDiv, tMod},
}

// binary parses the left-associative operators of one level and tighter.
func (p *parser) binary(level int) (expr, error) {
	if level == len(levels) {
		return p.unary()
	}
	l, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, k := range levels[level] {
			found = found || t.kind == k
		}
		if !found {
			return l, nil
		}
		p.next()
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		l = &binary{op: t.kind, l: l, r: r, off: t.off}
	}
}

func (p *parser) unary() (expr, error) {
	// A run of minus signs is read in a loop, not by recursion: it only
	// matters whether their number is odd.
	if t := p.peek(); t.kind == tMinus {
		n := 0
		for p.peek().kind == tMinus {
			p.next()
			n++
		}
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &negate{e: e, odd: n%2 == 1, off: t.off}, nil
	}
	l, err := p.pathExpr()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tPipe {
		t := p.next()
		r, err := p.pathExpr()
		if err != nil {
			return nil, err
		}
		l = &binary{op: tPipe, l: l, r: r, off: t.off}
	}
	return l, nil
}

var nodeTypes = map[string]testKind{"node": testNode, "text": testText,
	"comment": testComment, "processing-instruction": testPI}

// startsStep says whether the next tokens begin a location step rather
// than a primary expression.
func (p *parser) startsStep() bool {
	t := p.peek()
	switch t.kind {
	case tDot, tDotDot, tAt, tStar:
		return true
	case tName:
		if p.peekAt(1).kind == tLParen {
			_, isType := nodeTypes[t.text]
			return isType
		}
		return true
	}
	return false
}

func (p *parser) pathExpr() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tSlash:
		p.next()
		pa := &path{abs: true, off: t.off}
		if !p.startsStep() {
			return pa, nil
		}
		return p.steps(pa)
	case tSlashSlash:
		p.next()
		pa := &path{abs: true, off: t.off,
			steps: []*step{{axis: axisDescendantOrSelf, test: testNode, off: t.off}}}
		return p.steps(pa)
	}
	if p.startsStep() {
		return p.steps(&path{off: t.off})
	}
	prim, err := p.primary()
	if err != nil {
		return nil, err
	}
	var e expr = prim
	if p.peek().kind == tLBrack {
		f := &filter{prim: prim, off: t.off}
		if f.preds, err = p.predicates(); err != nil {
			return nil, err
		}
		e = f
	}
	switch s := p.peek(); s.kind {
	case tSlash:
		p.next()
		return p.steps(&path{from: e, off: t.off})
	case tSlashSlash:
		p.next()
		return p.steps(&path{from: e, off: t.off,
			steps: []*step{{axis: axisDescendantOrSelf, test: testNode, off: s.off}}})
	}
	return e, nil
}

// steps parses a relative location path onto pa.
func (p *parser) steps(pa *path) (expr, error) {
	for {
		s, err := p.step()
		if err != nil {
			return nil, err
		}
		pa.steps = append(pa.steps, s)
		switch t := p.peek(); t.kind {
		case tSlash:
			p.next()
		case tSlashSlash:
			p.next()
			pa.steps = append(pa.steps, &step{axis: axisDescendantOrSelf, test: testNode, off: t.off})
		default:
			pa.steps = collapse(pa.steps)
			return pa, nil
		}
	}
}

// collapse turns descendant-or-self::node()/child::X into descendant::X
// when neither step has predicates, as libxml2 does: the same nodes,
// found in document order in one walk instead of a walk per node and a
// sort.
func collapse(steps []*step) []*step {
	out := steps[:0]
	for i := 0; i < len(steps); i++ {
		s := steps[i]
		if s.axis == axisDescendantOrSelf && s.test == testNode && len(s.preds) == 0 &&
			i+1 < len(steps) && steps[i+1].axis == axisChild && len(steps[i+1].preds) == 0 {
			c := *steps[i+1]
			c.axis = axisDescendant
			out = append(out, &c)
			i++
			continue
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) step() (*step, error) {
	t := p.peek()
	s := &step{axis: axisChild, off: t.off}
	switch t.kind {
	case tDot:
		p.next()
		s.axis, s.test = axisSelf, testNode
		return s, nil
	case tDotDot:
		p.next()
		s.axis, s.test = axisParent, testNode
		return s, nil
	case tAt:
		p.next()
		s.axis = axisAttribute
	case tName:
		if p.peekAt(1).kind == tColonColon {
			a, ok := axes[t.text]
			if !ok {
				if t.text == "namespace" {
					return nil, p.errAt(t.off, "the namespace axis is not supported")
				}
				return nil, p.errAt(t.off, "unknown axis %q", t.text)
			}
			p.next()
			p.next()
			s.axis = a
		}
	}
	if err := p.nodeTest(s); err != nil {
		return nil, err
	}
	var err error
	s.preds, err = p.predicates()
	return s, err
}

func (p *parser) nodeTest(s *step) error {
	t := p.next()
	switch t.kind {
	case tStar:
		s.test = testName
		return nil
	case tName:
	default:
		return p.unexpected(t, "a node test (a name, *, node(), text() ...)")
	}
	if p.peek().kind == tLParen {
		k, ok := nodeTypes[t.text]
		if !ok {
			return p.errAt(t.off, "%q is not a node type (a function cannot be a step)", t.text)
		}
		p.next()
		s.test = k
		if k == testPI && p.peek().kind == tLiteral {
			s.name = p.next().text
		}
		_, err := p.expect(tRParen)
		return err
	}
	if strings.Contains(t.text, ":") {
		return p.errAt(t.off, "namespace prefixes are not supported (%q)", t.text)
	}
	s.test, s.name = testName, t.text
	return nil
}

func (p *parser) predicates() ([]expr, error) {
	var preds []expr
	for p.peek().kind == tLBrack {
		p.next()
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRBrack); err != nil {
			return nil, err
		}
		preds = append(preds, e)
	}
	return preds, nil
}

func (p *parser) primary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tLiteral:
		return &literal{s: t.text, off: t.off}, nil
	case tNumber:
		return &number{n: t.num, off: t.off}, nil
	case tVar:
		return nil, p.errAt(t.off, "variables are not supported ($%s)", t.text)
	case tLParen:
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		_, err = p.expect(tRParen)
		return e, err
	case tName:
		if p.peek().kind != tLParen {
			break // cannot happen: startsStep took every other name
		}
		return p.call(t)
	}
	return nil, p.unexpected(t, "an expression")
}

func (p *parser) call(name token) (expr, error) {
	fn, ok := functions[name.text]
	if !ok {
		if strings.Contains(name.text, ":") {
			return nil, p.errAt(name.off, "namespace prefixes are not supported (%q)", name.text)
		}
		return nil, p.errAt(name.off, "unknown function %q", name.text)
	}
	if fn.unsupported {
		return nil, p.errAt(name.off, "function %s() is not supported", name.text)
	}
	p.next() // (
	c := &call{name: name.text, fn: fn, off: name.off}
	if p.peek().kind != tRParen {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if _, err := p.expect(tRParen); err != nil {
		return nil, err
	}
	if n := len(c.args); n < fn.min || (fn.max >= 0 && n > fn.max) {
		return nil, p.errAt(name.off, "%s() %s, not %d", name.text, fn.arity(), n)
	}
	return c, nil
}
