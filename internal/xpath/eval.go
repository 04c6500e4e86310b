package xpath

import (
	"fmt"
	"math"
	"slices"
)

// Value is the result of an expression: a NodeSet, a string, a float64
// or a bool.
type Value any

// NodeSet is a set of nodes in document order, without duplicates.
type NodeSet []*Node

// DefaultBudget bounds the work of one evaluation, counted in nodes
// visited and predicates tested: enough for any sensible query on a
// guest's XML (a few hundred thousand nodes), small enough that a query
// like //*[count(//*[count(//*)])] ends with an error in seconds instead
// of running for hours.
const DefaultBudget = 50_000_000

// maxString caps the strings concat() and translate() may build.
const maxString = 16 << 20

// Eval evaluates the expression with the document node as context node,
// with DefaultBudget.
func (x *Expr) Eval(doc *Document) (Value, error) {
	return x.EvalBudget(doc, DefaultBudget)
}

// EvalBudget is Eval with another budget.
func (x *Expr) EvalBudget(doc *Document, budget int) (Value, error) {
	ev := &evaluator{src: x.src, budget: budget, limit: budget}
	// No position or size: libxml2 refuses position() and last() outside
	// a predicate.
	return ev.eval(x.root, evalCtx{node: doc.Root})
}

type evaluator struct {
	src    string
	budget int // what is left
	limit  int // what there was
	bufs   []NodeSet
}

type evalCtx struct {
	node      *Node
	pos, size int // 0 at the top level
}

func (ev *evaluator) errAt(e expr, format string, a ...any) error {
	return &Error{col(ev.src, e.offset()), fmt.Sprintf(format, a...)}
}

// spend takes n units of work from the budget.
func (ev *evaluator) spend(e expr, n int) error {
	ev.budget -= n
	if ev.budget < 0 {
		return ev.errAt(e, "the expression takes too long to evaluate (more than %d steps)", ev.limit)
	}
	return nil
}

func (ev *evaluator) eval(e expr, c evalCtx) (Value, error) {
	if err := ev.spend(e, 1); err != nil {
		return nil, err
	}
	switch e := e.(type) {
	case *literal:
		return e.s, nil
	case *number:
		return e.n, nil
	case *negate:
		v, err := ev.eval(e.e, c)
		if err != nil {
			return nil, err
		}
		if e.odd {
			return -toNumber(v), nil
		}
		return toNumber(v), nil
	case *binary:
		return ev.binary(e, c)
	case *call:
		return ev.call(e, c)
	case *filter:
		v, err := ev.eval(e.prim, c)
		if err != nil {
			return nil, err
		}
		ns, ok := v.(NodeSet)
		if !ok {
			return nil, ev.errAt(e, "a predicate applies to a node-set, not a %s", typeName(v))
		}
		return ev.predicates(e.preds, ns)
	case *path:
		return ev.path(e, c)
	}
	panic(fmt.Sprintf("xpath: unknown expression %T", e))
}

func (ev *evaluator) binary(e *binary, c evalCtx) (Value, error) {
	l, err := ev.eval(e.l, c)
	if err != nil {
		return nil, err
	}
	// and, or: the right side only when needed.
	switch e.op {
	case tAnd, tOr:
		lb := toBool(l)
		if lb == (e.op == tOr) {
			return lb, nil
		}
		r, err := ev.eval(e.r, c)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	}
	r, err := ev.eval(e.r, c)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case tPipe:
		a, ok1 := l.(NodeSet)
		b, ok2 := r.(NodeSet)
		if !ok1 || !ok2 {
			return nil, ev.errAt(e, "| joins node-sets, not a %s and a %s", typeName(l), typeName(r))
		}
		if err := ev.spend(e, len(a)+len(b)); err != nil {
			return nil, err
		}
		return union(a, b), nil
	case tEq, tNeq, tLt, tLe, tGt, tGe:
		if err := ev.spend(e, costOf(l)*costOf(r)); err != nil {
			return nil, err
		}
		return compare(e.op, l, r), nil
	}
	a, b := toNumber(l), toNumber(r)
	switch e.op {
	case tPlus:
		return a + b, nil
	case tMinus:
		return a - b, nil
	case tMul:
		return a * b, nil
	case tDiv:
		return a / b, nil
	case tMod:
		return math.Mod(a, b), nil
	}
	panic("xpath: unknown operator")
}

// costOf is the size of a value for the budget of a comparison, which
// may look at every pair of nodes.
func costOf(v Value) int {
	if ns, ok := v.(NodeSet); ok && len(ns) > 1 {
		return len(ns)
	}
	return 1
}

func typeName(v Value) string {
	switch v.(type) {
	case NodeSet:
		return "node-set"
	case string:
		return "string"
	case float64:
		return "number"
	}
	return "boolean"
}

func (ev *evaluator) path(e *path, c evalCtx) (Value, error) {
	var cur NodeSet
	switch {
	case e.from != nil:
		v, err := ev.eval(e.from, c)
		if err != nil {
			return nil, err
		}
		ns, ok := v.(NodeSet)
		if !ok {
			return nil, ev.errAt(e, "a path continues from a node-set, not a %s", typeName(v))
		}
		cur = ns
	case e.abs:
		cur = NodeSet{c.node.doc.Root}
	default:
		cur = NodeSet{c.node}
	}
	for i, s := range e.steps {
		var out NodeSet
		if i < len(e.steps)-1 { // the last step's set is the result: not from the pool
			out = ev.getBuf()
		}
		for _, n := range cur {
			var err error
			if out, err = ev.step(s, n, out); err != nil {
				return nil, err
			}
		}
		if i > 0 {
			ev.putBuf(cur) // an intermediate result of ours: nobody else has it
		}
		cur = sortUnique(out)
	}
	return cur, nil
}

// getBuf and putBuf recycle the node-sets of a path's intermediate steps:
// //a[f(//b[1])] would otherwise allocate a set the size of the document
// for every a.
func (ev *evaluator) getBuf() NodeSet {
	if n := len(ev.bufs); n > 0 {
		b := ev.bufs[n-1]
		ev.bufs = ev.bufs[:n-1]
		return b
	}
	return nil
}

func (ev *evaluator) putBuf(b NodeSet) {
	if len(ev.bufs) < 16 && cap(b) > 0 {
		clear(b[:cap(b)]) // drop the pointers
		ev.bufs = append(ev.bufs, b[:0])
	}
}

// step appends to out what a step selects from one context node, the
// predicates tested with positions in the axis' direction.
func (ev *evaluator) step(s *step, n *Node, out NodeSet) (NodeSet, error) {
	start := len(out)
	visited := 0
	walkAxis(s.axis, n, func(m *Node) {
		visited++
		if s.matches(m) {
			out = append(out, m)
		}
	})
	if err := ev.spend(stepExpr{s}, visited); err != nil {
		return nil, err
	}
	for _, p := range s.preds {
		sel, err := ev.filter(p, out[start:])
		if err != nil {
			return nil, err
		}
		out = out[:start+len(sel)]
	}
	if s.axis.reverse() {
		slices.Reverse(out[start:])
	}
	return out, nil
}

// stepExpr lets a step be named in an error.
type stepExpr struct{ s *step }

func (e stepExpr) offset() int { return e.s.off }

func (s *step) matches(n *Node) bool {
	switch s.test {
	case testNode:
		return true
	case testText:
		return n.Kind == TextNode
	case testComment:
		return n.Kind == CommentNode
	case testPI:
		return n.Kind == PINode && (s.name == "" || n.Name == s.name)
	}
	// A name test selects the axis' principal node type.
	want := ElementNode
	if s.axis == axisAttribute {
		want = AttributeNode
	}
	return n.Kind == want && (s.name == "" || n.Name == s.name)
}

// predicates filters a node-set in document order, as (expr)[pred] does.
func (ev *evaluator) predicates(preds []expr, ns NodeSet) (NodeSet, error) {
	for _, p := range preds {
		var err error
		if ns, err = ev.filter(p, ns); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// filter keeps the nodes of ns, in the order given, for which p holds: a
// number is compared with the position, anything else made a boolean.
// It filters in place: ns is overwritten.
func (ev *evaluator) filter(p expr, ns NodeSet) (NodeSet, error) {
	out := ns[:0]
	for i, n := range ns {
		v, err := ev.eval(p, evalCtx{node: n, pos: i + 1, size: len(ns)})
		if err != nil {
			return nil, err
		}
		keep := false
		if f, ok := v.(float64); ok {
			keep = f == float64(i+1)
		} else {
			keep = toBool(v)
		}
		if keep {
			out = append(out, n)
		}
	}
	return out, nil
}

// walkAxis calls fn on the nodes of an axis, in the axis' order (reverse
// document order for the reverse axes). On the following and preceding
// axes an attribute stands for its element, as in libxml2 2.9.14.
func walkAxis(a axis, n *Node, fn func(*Node)) {
	switch a {
	case axisChild:
		for _, c := range n.Children {
			fn(c)
		}
	case axisDescendantOrSelf:
		fn(n)
		descendants(n, fn)
	case axisDescendant:
		descendants(n, fn)
	case axisSelf:
		fn(n)
	case axisParent:
		if n.Parent != nil {
			fn(n.Parent)
		}
	case axisAncestorOrSelf:
		fn(n)
		fallthrough
	case axisAncestor:
		for p := n.Parent; p != nil; p = p.Parent {
			fn(p)
		}
	case axisAttribute:
		for _, at := range n.Attrs {
			fn(at)
		}
	case axisFollowingSibling, axisPrecedingSibling:
		if n.Kind == AttributeNode || n.Parent == nil {
			return
		}
		sib := n.Parent.Children
		i := n.idx
		if a == axisFollowingSibling {
			for _, s := range sib[i+1:] {
				fn(s)
			}
		} else {
			for j := i - 1; j >= 0; j-- {
				fn(sib[j])
			}
		}
	case axisFollowing:
		if n.Kind == AttributeNode {
			n = n.Parent
		}
		for ; n.Parent != nil; n = n.Parent {
			sib := n.Parent.Children
			for _, s := range sib[n.idx+1:] {
				fn(s)
				descendants(s, fn)
			}
		}
	case axisPreceding:
		if n.Kind == AttributeNode {
			n = n.Parent
		}
		for ; n.Parent != nil; n = n.Parent {
			sib := n.Parent.Children
			for j := n.idx - 1; j >= 0; j-- {
				reverseDescendants(sib[j], fn)
				fn(sib[j])
			}
		}
	}
}

func descendants(n *Node, fn func(*Node)) {
	for _, c := range n.Children {
		fn(c)
		descendants(c, fn)
	}
}

// reverseDescendants visits n's descendants in reverse document order.
func reverseDescendants(n *Node, fn func(*Node)) {
	for j := len(n.Children) - 1; j >= 0; j-- {
		reverseDescendants(n.Children[j], fn)
		fn(n.Children[j])
	}
}

// sortUnique puts nodes in document order and drops repeats.
func sortUnique(ns NodeSet) NodeSet {
	if len(ns) < 2 {
		return ns
	}
	if !slices.IsSortedFunc(ns, func(a, b *Node) int { return a.order - b.order }) {
		slices.SortFunc(ns, func(a, b *Node) int { return a.order - b.order })
	}
	return slices.Compact(ns)
}

func union(a, b NodeSet) NodeSet {
	out := make(NodeSet, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	return sortUnique(out)
}

// Conversions (XPath 1.0 section 4, with libxml2's number strings).

func toBool(v Value) bool {
	switch v := v.(type) {
	case NodeSet:
		return len(v) > 0
	case string:
		return v != ""
	case float64:
		return v != 0 && !math.IsNaN(v)
	case bool:
		return v
	}
	return false
}

func toNumber(v Value) float64 {
	switch v := v.(type) {
	case NodeSet, string:
		return parseNumber(toString(v))
	case float64:
		return v
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func toString(v Value) string {
	switch v := v.(type) {
	case NodeSet:
		if len(v) == 0 {
			return ""
		}
		return v[0].StringValue()
	case string:
		return v
	case float64:
		return formatNumber(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// compare is XPath's = != < <= > >= (section 3.4): with a node-set the
// comparison holds if it holds for some node's string-value (or for the
// node-set's boolean against a boolean).
func compare(op tokKind, l, r Value) bool {
	ln, lok := l.(NodeSet)
	rn, rok := r.(NodeSet)
	switch {
	case lok && rok:
		rs := make([]string, len(rn))
		for i, n := range rn {
			rs[i] = n.StringValue()
		}
		for _, a := range ln {
			as := a.StringValue()
			for _, bs := range rs {
				if compareAtoms(op, as, bs) {
					return true
				}
			}
		}
		return false
	case lok || rok:
		ns, other, flip := ln, r, false
		if rok {
			ns, other, flip = rn, l, true
		}
		if b, ok := other.(bool); ok {
			x := toBool(ns)
			if flip {
				return compareAtoms(op, b, x)
			}
			return compareAtoms(op, x, b)
		}
		for _, n := range ns {
			var x Value = n.StringValue()
			if _, ok := other.(float64); ok {
				x = parseNumber(n.StringValue())
			}
			if flip && compareAtoms(op, other, x) || !flip && compareAtoms(op, x, other) {
				return true
			}
		}
		return false
	}
	return compareAtoms(op, l, r)
}

// compareAtoms compares two values that are not node-sets: = and != as
// booleans if either is one, else as numbers if either is one, else as
// strings; the order comparisons always as numbers.
func compareAtoms(op tokKind, l, r Value) bool {
	switch op {
	case tEq, tNeq:
		var eq bool
		_, lb := l.(bool)
		_, rb := r.(bool)
		_, lf := l.(float64)
		_, rf := r.(float64)
		switch {
		case lb || rb:
			eq = toBool(l) == toBool(r)
		case lf || rf:
			eq = toNumber(l) == toNumber(r)
		default:
			eq = toString(l) == toString(r)
		}
		return eq == (op == tEq)
	}
	a, b := toNumber(l), toNumber(r)
	switch op {
	case tLt:
		return a < b
	case tLe:
		return a <= b
	case tGt:
		return a > b
	}
	return a >= b
}
