package xpath

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// function is an entry of the core function library.
type function struct {
	min, max    int // arguments; max -1: any number
	unsupported bool
	impl        func(ev *evaluator, c *call, ctx evalCtx, args []Value) (Value, error)
}

func (f *function) arity() string {
	switch {
	case f.max < 0:
		return fmt.Sprintf("takes at least %d arguments", f.min)
	case f.min == f.max && f.min == 1:
		return "takes 1 argument"
	case f.min == f.max:
		return fmt.Sprintf("takes %d arguments", f.min)
	}
	return fmt.Sprintf("takes %d to %d arguments", f.min, f.max)
}

var functions map[string]*function

func init() {
	functions = map[string]*function{
		"last": {impl: func(ev *evaluator, call *call, c evalCtx, _ []Value) (Value, error) {
			if c.size == 0 {
				return nil, ev.errAt(call, "last() is only defined inside a predicate")
			}
			return float64(c.size), nil
		}},
		"position": {impl: func(ev *evaluator, call *call, c evalCtx, _ []Value) (Value, error) {
			if c.pos == 0 {
				return nil, ev.errAt(call, "position() is only defined inside a predicate")
			}
			return float64(c.pos), nil
		}},
		"count": {min: 1, max: 1, impl: func(ev *evaluator, c *call, _ evalCtx, a []Value) (Value, error) {
			ns, err := ev.nodeSetArg(c, a[0])
			return float64(len(ns)), err
		}},
		"name":       {max: 1, impl: fnName},
		"local-name": {max: 1, impl: fnName},
		"string": {max: 1, impl: func(_ *evaluator, _ *call, c evalCtx, a []Value) (Value, error) {
			return toString(argOrContext(a, c)), nil
		}},
		"concat": {min: 2, max: -1, impl: func(ev *evaluator, c *call, _ evalCtx, a []Value) (Value, error) {
			var b strings.Builder
			for _, v := range a {
				s := toString(v)
				if b.Len()+len(s) > maxString {
					return nil, ev.errAt(c, "concat() would make a string longer than %d bytes", maxString)
				}
				b.WriteString(s)
			}
			return b.String(), nil
		}},
		"starts-with": {min: 2, max: 2, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return strings.HasPrefix(toString(a[0]), toString(a[1])), nil
		}},
		"contains": {min: 2, max: 2, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return strings.Contains(toString(a[0]), toString(a[1])), nil
		}},
		"substring-before": {min: 2, max: 2, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			before, _, found := strings.Cut(toString(a[0]), toString(a[1]))
			if !found {
				before = ""
			}
			return before, nil
		}},
		"substring-after": {min: 2, max: 2, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			_, after, _ := strings.Cut(toString(a[0]), toString(a[1]))
			return after, nil
		}},
		"substring": {min: 2, max: 3, impl: fnSubstring},
		"string-length": {max: 1, impl: func(_ *evaluator, _ *call, c evalCtx, a []Value) (Value, error) {
			return float64(utf8.RuneCountInString(toString(argOrContext(a, c)))), nil
		}},
		"normalize-space": {max: 1, impl: func(_ *evaluator, _ *call, c evalCtx, a []Value) (Value, error) {
			return strings.Join(strings.FieldsFunc(toString(argOrContext(a, c)), func(r rune) bool {
				return r == ' ' || r == '\t' || r == '\n' || r == '\r'
			}), " "), nil
		}},
		"translate": {min: 3, max: 3, impl: fnTranslate},
		"boolean": {min: 1, max: 1, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return toBool(a[0]), nil
		}},
		"not": {min: 1, max: 1, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return !toBool(a[0]), nil
		}},
		"true":  {impl: func(*evaluator, *call, evalCtx, []Value) (Value, error) { return true, nil }},
		"false": {impl: func(*evaluator, *call, evalCtx, []Value) (Value, error) { return false, nil }},
		"number": {max: 1, impl: func(_ *evaluator, _ *call, c evalCtx, a []Value) (Value, error) {
			return toNumber(argOrContext(a, c)), nil
		}},
		"sum": {min: 1, max: 1, impl: func(ev *evaluator, c *call, _ evalCtx, a []Value) (Value, error) {
			ns, err := ev.nodeSetArg(c, a[0])
			sum := 0.0
			for _, n := range ns {
				sum += parseNumber(n.StringValue())
			}
			return sum, err
		}},
		"floor": {min: 1, max: 1, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return math.Floor(toNumber(a[0])), nil
		}},
		"ceiling": {min: 1, max: 1, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return math.Ceil(toNumber(a[0])), nil
		}},
		"round": {min: 1, max: 1, impl: func(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
			return round(toNumber(a[0])), nil
		}},
		// Known, but meaningless without a DTD or namespaces.
		"id":            {unsupported: true},
		"lang":          {unsupported: true},
		"namespace-uri": {unsupported: true},
	}
}

func (ev *evaluator) call(c *call, ctx evalCtx) (Value, error) {
	args := make([]Value, len(c.args))
	for i, a := range c.args {
		v, err := ev.eval(a, ctx)
		if err != nil {
			return nil, err
		}
		args[i] = v
		// String functions run through their arguments: charge for
		// the length, so contains(/, 'x') in a predicate is bounded too.
		cost := 0
		switch v := v.(type) {
		case string:
			cost = len(v) / 64
		case NodeSet:
			cost = len(v)
			if len(v) > 0 {
				cost += len(v[0].StringValue()) / 64
			}
		}
		if err := ev.spend(c, cost); err != nil {
			return nil, err
		}
	}
	return c.fn.impl(ev, c, ctx, args)
}

func (ev *evaluator) nodeSetArg(c *call, v Value) (NodeSet, error) {
	ns, ok := v.(NodeSet)
	if !ok {
		return nil, ev.errAt(c, "%s() wants a node-set, not a %s", c.name, typeName(v))
	}
	return ns, nil
}

// argOrContext is the argument, or the context node when the function
// was called without one.
func argOrContext(a []Value, c evalCtx) Value {
	if len(a) > 0 {
		return a[0]
	}
	return NodeSet{c.node}
}

func fnName(ev *evaluator, c *call, ctx evalCtx, a []Value) (Value, error) {
	ns, err := ev.nodeSetArg(c, argOrContext(a, ctx))
	if err != nil || len(ns) == 0 {
		return "", err
	}
	switch n := ns[0]; n.Kind {
	case ElementNode, AttributeNode, PINode:
		return n.Name, nil
	}
	return "", nil
}

// round is libxml2's: halves towards positive infinity, and -0.5 <= x < 0
// gives negative zero.
func round(f float64) float64 {
	if math.IsNaN(f) || f == 0 {
		return f
	}
	if f >= -0.5 && f < 0 {
		return math.Copysign(0, -1)
	}
	r := math.Floor(f)
	if f-r >= 0.5 {
		r++
	}
	return r
}

// fnSubstring counts characters from 1; the characters kept are those at
// positions p with round(start) <= p < round(start) + round(length), NaN
// and infinities included, computed as libxml2 does.
func fnSubstring(_ *evaluator, _ *call, _ evalCtx, a []Value) (Value, error) {
	s := toString(a[0])
	in := toNumber(a[1])
	const intMax = math.MaxInt32
	i, j := 1, intMax
	if !(in < intMax) {
		i = intMax
	} else if in >= 1 {
		i = int(in)
		if in-math.Floor(in) >= 0.5 {
			i++
		}
	}
	if len(a) == 3 {
		le := toNumber(a[2])
		rin := math.Floor(in)
		if in-rin >= 0.5 {
			rin++
		}
		rle := math.Floor(le)
		if le-rle >= 0.5 {
			rle++
		}
		end := rin + rle
		if !(end >= 1) {
			j = 1
		} else if end < intMax {
			j = int(end)
		}
	}
	if i >= j {
		return "", nil
	}
	// Characters i .. j-1, 1-based.
	var b strings.Builder
	p := 1
	for _, r := range s {
		if p >= j {
			break
		}
		if p >= i {
			b.WriteRune(r)
		}
		p++
	}
	return b.String(), nil
}

func fnTranslate(ev *evaluator, c *call, _ evalCtx, a []Value) (Value, error) {
	s, from, to := toString(a[0]), []rune(toString(a[1])), []rune(toString(a[2]))
	var b strings.Builder
	for _, r := range s {
		k := -1
		for i, f := range from {
			if f == r {
				k = i
				break
			}
		}
		switch {
		case k < 0:
			b.WriteRune(r)
		case k < len(to):
			b.WriteRune(to[k])
		}
		if b.Len() > maxString {
			return nil, ev.errAt(c, "translate() would make a string longer than %d bytes", maxString)
		}
	}
	return b.String(), nil
}
