package xpath

import (
	"bufio"
	"io"
	"math"
	"strconv"
)

// WriteResult prints a result as `xmllint --xpath` (libxml2 2.9.14) does:
// every node of a node-set serialised as XML and followed by a newline
// (an attribute as ` name="value"`, a text node as escaped text, "/" as the
// whole document with its declaration); a number in C's %g (six
// significant digits: that is xmllint's, not XPath's string()); a string
// or a boolean as it is, then a newline. An empty node-set prints nothing:
// the caller reports it.
func WriteResult(w io.Writer, v Value) error {
	bw := bufio.NewWriter(w)
	switch v := v.(type) {
	case NodeSet:
		for _, n := range v {
			writeNode(bw, n)
			bw.WriteByte('\n')
		}
	case float64:
		bw.WriteString(formatG(v))
		bw.WriteByte('\n')
	case string:
		bw.WriteString(v)
		bw.WriteByte('\n')
	case bool:
		bw.WriteString(strconv.FormatBool(v))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// formatG is printf("%0g"): C's %g, which Go's 'g' with precision 6
// matches digit for digit (same rounding, same exponent switch, trailing
// zeros dropped, two-digit exponents).
func formatG(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// writeNode is libxml2's xmlNodeDumpOutput without formatting.
func writeNode(w *bufio.Writer, n *Node) {
	switch n.Kind {
	case DocumentNode:
		w.WriteString(`<?xml version="`)
		w.WriteString(n.doc.Version)
		w.WriteByte('"')
		if n.doc.Encoding != "" {
			w.WriteString(` encoding="`)
			w.WriteString(n.doc.Encoding)
			w.WriteByte('"')
		}
		w.WriteString("?>\n")
		for _, c := range n.Children {
			writeNode(w, c)
			w.WriteByte('\n')
		}
	case ElementNode:
		w.WriteByte('<')
		w.WriteString(n.Name)
		for _, a := range n.Attrs {
			writeNode(w, a)
		}
		if len(n.Children) == 0 {
			w.WriteString("/>")
			return
		}
		w.WriteByte('>')
		for _, c := range n.Children {
			writeNode(w, c)
		}
		w.WriteString("</")
		w.WriteString(n.Name)
		w.WriteByte('>')
	case AttributeNode:
		w.WriteByte(' ')
		w.WriteString(n.Name)
		w.WriteString(`="`)
		escape(w, n.Data, true)
		w.WriteByte('"')
	case TextNode:
		escape(w, n.Data, false)
	case CommentNode:
		w.WriteString("<!--")
		w.WriteString(n.Data)
		w.WriteString("-->")
	case PINode:
		w.WriteString("<?")
		w.WriteString(n.Name)
		if n.Data != "" {
			w.WriteByte(' ')
			w.WriteString(n.Data)
		}
		w.WriteString("?>")
	}
}

// escape writes text as libxml2 does: &, < and > always, carriage
// returns as &#13;; in an attribute also the quote, tabs and newlines,
// which a parser would otherwise normalise to spaces.
func escape(w *bufio.Writer, s string, attr bool) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case '&':
			r = "&amp;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		case '\r':
			r = "&#13;"
		case '"':
			if attr {
				r = "&quot;"
			}
		case '\n':
			if attr {
				r = "&#10;"
			}
		case '\t':
			if attr {
				r = "&#9;"
			}
		}
		if r != "" {
			w.WriteString(s[last:i])
			w.WriteString(r)
			last = i + 1
		}
	}
	w.WriteString(s[last:])
}
