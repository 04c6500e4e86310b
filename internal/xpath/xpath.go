// Package xpath runs XPath 1.0 on virt-inspector's XML and prints the
// result as `xmllint --xpath` (libxml2 2.9.14, Debian 12's) does.
//
// The expressions are compiled and evaluated by github.com/antchfx/xpath
// on a document parsed by github.com/antchfx/xmlquery. This package is the
// thin layer around them:
//
//   - a navigator over xmlquery's tree that shows libxml2's data model:
//     whitespace-only text nodes are nodes (xmlquery's own navigator skips
//     them, so count(//text()) and node() would differ), the XML
//     declaration and text outside the root element are not, the string
//     value of "/" is the document's text;
//   - a work budget: every navigator move and every node whose text is
//     read costs one step, and an evaluation that spends more than
//     DefaultBudget steps stops with an error (the library has no limit:
//     //*[count(//*[count(//*)])] would run for hours), as does an
//     expression longer than MaxLen bytes; a panic inside the library is
//     turned into an error;
//   - result sets sorted into document order without duplicates, and
//     WriteResult, which serialises them, numbers, strings and booleans
//     byte for byte as xmllint prints them;
//   - Parse, which refuses what the hand-written evaluator it replaces
//     refused: namespaces, several root elements, text outside the root,
//     nesting deeper than 256 (libxml2's default limit).
//
// Where the result still differs from xmllint (each case is in the tests'
// knownDiffs or badExprs, which fail when the library changes):
//
//   - Numbers turned into strings inside an expression (string(n),
//     concat(n), a number compared with a string) use Go's shortest
//     decimal, not libxml2's 15 significant digits with an exponent
//     outside [1e-5, 1e9]: string(1 div 3) is 0.3333333333333333 (xmllint
//     0.333333333333333), string(0.000001) 0.000001 (xmllint 1e-06),
//     string(3000000000) 3000000000 (xmllint 3e+09). A number that is the
//     whole result is printed by WriteResult as xmllint prints it (C's
//     %g), so count(), sum() and arithmetic at the top level agree.
//   - Booleans: not() of a number or a string is always false (not(0) is
//     false); a node-set or a string compared with a boolean
//     (//root = true(), true() = 'x') and booleans compared with < > <= >=
//     are false where xmllint says true.
//   - Numbers: a literal with an exponent (1e3, a libxml2 extension) is
//     read as its mantissa (1); number('-') is NaN (xmllint -0);
//     sum() of non-numeric strings is 0 (xmllint NaN); strings are read
//     with strconv.ParseFloat, so number('+1') and number('0x10')-like
//     forms libxml2 calls NaN may be numbers.
//   - Functions: number() without an argument fails (an error, exit 2;
//     xmllint uses the context node); string-length() without an
//     argument is refused; substring-after(s, '') is '' (xmllint s).
//   - Node-sets: a predicate on a union, (//a | //b)[2], counts the union
//     in the library's order, not document order; following:: and
//     preceding:: from an attribute start from the wrong place. A
//     node-set that is the whole result is sorted into document order
//     here, so it prints as xmllint's.
//   - Errors carry the library's message, without libxml2's column.
//     Expressions libxml2 refuses that the library accepts: trailing text
//     after a complete expression ("1)", "1 foo"), type errors (count(1),
//     sum('1'), name(1), true(1), 'a'/b, (1)[1], 1 | //a), an unknown
//     node type test (//a/foo()), namespace prefixes (//a:b selects
//     nothing), position() and last() outside a predicate, and the XPath
//     2.0 functions the library adds (ends-with, lower-case, matches,
//     replace...). Variables, id(), lang() and nesting deeper than 200
//     levels are refused.
//   - processing-instruction() selects nothing: the library has no such
//     node type (virt-inspector's XML has no processing instruction).
package xpath

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"
)

// MaxLen is the longest expression Compile accepts.
const MaxLen = 8192

// DefaultBudget bounds the work of one evaluation, counted in navigator
// moves and nodes read: enough for a quadratic query on a guest with
// thousands of packages, small enough that a cubic one ends with an error
// in seconds instead of running for hours.
const DefaultBudget = 200_000_000

// maxDepth is libxml2's default limit on element nesting.
const maxDepth = 256

// Error is an expression that cannot be compiled or evaluated.
type Error struct {
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Expr is a compiled expression.
type Expr struct {
	src string
	x   *xpath.Expr
}

// String returns the expression's source.
func (x *Expr) String() string { return x.src }

// Compile parses an XPath 1.0 expression.
func Compile(src string) (x *Expr, err error) {
	if len(src) > MaxLen {
		return nil, &Error{fmt.Sprintf("the expression is longer than %d bytes", MaxLen)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{"empty expression"}
	}
	defer func() {
		if r := recover(); r != nil {
			x, err = nil, &Error{fmt.Sprintf("invalid expression: %v", r)}
		}
	}()
	c, err := xpath.Compile(src)
	if err != nil {
		return nil, &Error{"invalid expression: " + err.Error()}
	}
	return &Expr{src: src, x: c}, nil
}

// Document is a parsed XML document.
type Document struct {
	root  *xmlquery.Node
	order map[*xmlquery.Node]int // document order of the visible nodes
}

// Parse reads an XML document.
func Parse(r io.Reader) (*Document, error) {
	root, err := xmlquery.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("xml: %w", err)
	}
	doc := &Document{root: root, order: map[*xmlquery.Node]int{root: 0}}
	elems := 0
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case xmlquery.ElementNode:
			if elems++; elems > 1 {
				return nil, errors.New("xml: a second root element <" + c.Data + ">")
			}
		case xmlquery.TextNode, xmlquery.CharDataNode:
			if strings.TrimSpace(c.Data) != "" {
				return nil, errors.New("xml: text outside the root element")
			}
		}
	}
	if elems == 0 {
		return nil, errors.New("xml: no root element")
	}
	// Number the visible nodes in document order, without recursion.
	type frame struct {
		n     *xmlquery.Node
		depth int
	}
	stack := []frame{{root, 0}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.n != root {
			doc.order[f.n] = len(doc.order)
		}
		if f.n.Type == xmlquery.ElementNode {
			if f.depth > maxDepth {
				return nil, fmt.Errorf("xml: elements nested more than %d deep", maxDepth)
			}
			if f.n.NamespaceURI != "" || f.n.Prefix != "" {
				return nil, errors.New("xml: namespaces are not supported")
			}
			for _, a := range f.n.Attr {
				if a.Name.Space != "" || a.Name.Local == "xmlns" {
					return nil, errors.New("xml: namespaces are not supported")
				}
			}
		}
		var kids []*xmlquery.Node
		for c := firstChild(f.n); c != nil; c = nextSibling(c) {
			kids = append(kids, c)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, frame{kids[i], f.depth + 1})
		}
	}
	return doc, nil
}

// visible says whether n is a node of libxml2's tree: the document, an
// element, text (CDATA too), a comment; outside the root element only
// elements and comments.
func visible(n *xmlquery.Node) bool {
	switch n.Type {
	case xmlquery.ElementNode, xmlquery.CommentNode:
		return true
	case xmlquery.TextNode, xmlquery.CharDataNode:
		return n.Parent == nil || n.Parent.Type != xmlquery.DocumentNode
	}
	return false
}

func firstChild(n *xmlquery.Node) *xmlquery.Node {
	c := n.FirstChild
	for c != nil && !visible(c) {
		c = c.NextSibling
	}
	return c
}

func nextSibling(n *xmlquery.Node) *xmlquery.Node {
	c := n.NextSibling
	for c != nil && !visible(c) {
		c = c.NextSibling
	}
	return c
}

func prevSibling(n *xmlquery.Node) *xmlquery.Node {
	c := n.PrevSibling
	for c != nil && !visible(c) {
		c = c.PrevSibling
	}
	return c
}

// Node is a node of a result: an element, text, comment or the document,
// or, when Attr >= 0, the attribute of that index of element N.
type Node struct {
	N    *xmlquery.Node
	Attr int
}

// NodeSet is a node-set in document order, without duplicates.
type NodeSet []Node

// Value is the result of an expression: a NodeSet, a string, a float64
// or a bool.
type Value any

// errBudget is what a navigator panics with when the budget is spent.
var errBudget = errors.New("budget")

type budget struct{ left int }

func (b *budget) spend(n int) {
	if b.left -= n; b.left < 0 {
		panic(errBudget)
	}
}

// Eval evaluates the expression with the document node as context node,
// with DefaultBudget.
func (x *Expr) Eval(doc *Document) (Value, error) {
	return x.EvalBudget(doc, DefaultBudget)
}

// EvalBudget is Eval with another budget.
func (x *Expr) EvalBudget(doc *Document, steps int) (v Value, err error) {
	b := &budget{left: steps}
	defer func() {
		if r := recover(); r != nil {
			v = nil
			if r == errBudget {
				err = &Error{fmt.Sprintf("the expression takes too long to evaluate (more than %d steps)", steps)}
				return
			}
			err = &Error{fmt.Sprintf("evaluation failed in the XPath library: %v", r)}
		}
	}()
	res := x.x.Evaluate(&nav{doc: doc, curr: doc.root, attr: -1, b: b})
	it, ok := res.(*xpath.NodeIterator)
	if !ok {
		return res, nil
	}
	ns := NodeSet{}
	seen := map[Node]bool{}
	for it.MoveNext() {
		c, ok := it.Current().(*nav)
		if !ok {
			return nil, &Error{fmt.Sprintf("internal error: a node of type %T", it.Current())}
		}
		n := Node{c.curr, c.attr}
		if !seen[n] {
			seen[n] = true
			ns = append(ns, n)
		}
		b.spend(1)
	}
	slices.SortFunc(ns, func(a, b Node) int {
		if a.N != b.N {
			return doc.order[a.N] - doc.order[b.N]
		}
		return a.Attr - b.Attr
	})
	return ns, nil
}

// nav is the xpath.NodeNavigator the library walks: libxml2's view of
// xmlquery's tree, every move paid from the budget.
type nav struct {
	doc  *Document
	curr *xmlquery.Node
	attr int // -1: not on an attribute
	b    *budget
}

func (n *nav) NodeType() xpath.NodeType {
	if n.attr >= 0 {
		return xpath.AttributeNode
	}
	switch n.curr.Type {
	case xmlquery.DocumentNode:
		return xpath.RootNode
	case xmlquery.ElementNode:
		return xpath.ElementNode
	case xmlquery.CommentNode:
		return xpath.CommentNode
	}
	return xpath.TextNode
}

func (n *nav) LocalName() string {
	if n.attr >= 0 {
		return n.curr.Attr[n.attr].Name.Local
	}
	if n.curr.Type == xmlquery.ElementNode {
		return n.curr.Data
	}
	return ""
}

func (n *nav) Prefix() string { return "" } // Parse refuses namespaces

func (n *nav) Value() string {
	if n.attr >= 0 {
		return n.curr.Attr[n.attr].Value
	}
	switch n.curr.Type {
	case xmlquery.DocumentNode, xmlquery.ElementNode:
		return textOf(n.curr, n.b)
	}
	return n.curr.Data
}

// textOf is the string value of an element or the document: the text of
// its descendants in document order.
func textOf(root *xmlquery.Node, b *budget) string {
	var sb strings.Builder
	var walk func(*xmlquery.Node)
	walk = func(p *xmlquery.Node) {
		for c := firstChild(p); c != nil; c = nextSibling(c) {
			b.spend(1)
			switch c.Type {
			case xmlquery.TextNode, xmlquery.CharDataNode:
				sb.WriteString(c.Data)
			case xmlquery.ElementNode:
				walk(c)
			}
		}
	}
	walk(root)
	return sb.String()
}

func (n *nav) Copy() xpath.NodeNavigator {
	c := *n
	return &c
}

func (n *nav) MoveToRoot() {
	n.b.spend(1)
	n.curr, n.attr = n.doc.root, -1
}

func (n *nav) MoveToParent() bool {
	n.b.spend(1)
	if n.attr >= 0 {
		n.attr = -1
		return true
	}
	if n.curr.Parent == nil {
		return false
	}
	n.curr = n.curr.Parent
	return true
}

func (n *nav) MoveToNextAttribute() bool {
	n.b.spend(1)
	if n.curr.Type != xmlquery.ElementNode || n.attr >= len(n.curr.Attr)-1 {
		return false
	}
	n.attr++
	return true
}

func (n *nav) MoveToChild() bool {
	n.b.spend(1)
	if n.attr >= 0 {
		return false
	}
	c := firstChild(n.curr)
	if c == nil {
		return false
	}
	n.curr = c
	return true
}

func (n *nav) MoveToFirst() bool {
	n.b.spend(1)
	if n.attr >= 0 || n.curr.Parent == nil {
		return false
	}
	f := firstChild(n.curr.Parent)
	if f == n.curr {
		return false
	}
	n.curr = f
	return true
}

func (n *nav) MoveToNext() bool {
	n.b.spend(1)
	if n.attr >= 0 {
		return false
	}
	c := nextSibling(n.curr)
	if c == nil {
		return false
	}
	n.curr = c
	return true
}

func (n *nav) MoveToPrevious() bool {
	n.b.spend(1)
	if n.attr >= 0 {
		return false
	}
	c := prevSibling(n.curr)
	if c == nil {
		return false
	}
	n.curr = c
	return true
}

func (n *nav) MoveTo(other xpath.NodeNavigator) bool {
	o, ok := other.(*nav)
	if !ok || o.doc != n.doc {
		return false
	}
	n.curr, n.attr = o.curr, o.attr
	return true
}
