// Package xpath evaluates XPath 1.0 expressions over a small XML document,
// the one virt-inspector writes, so that `virt-inspector --xpath EXPR` answers
// a question without piping the XML through another tool. Results are
// printed the way `xmllint --xpath` (libxml2 2.9.14) prints them, and
// numbers are converted to strings and back the way libxml2 does, because
// scripts written against `virt-inspector | xmllint --xpath` must keep
// working when they drop the pipe.
//
// The subset: every XPath 1.0 axis but namespace, all node tests but
// prefixed names, predicates, unions, the operators, and the core
// function library except id(), lang() and the namespace functions. No
// variables and no namespaces. Everything else is refused with an *Error
// naming the column.
//
// Why not github.com/antchfx/xpath (with xmlquery), the maintained XPath 1.0
// library: virt-inspector's --xpath was moved onto it, behind a thin layer
// printing as xmllint does, and the comparison tests against xmllint showed
// differences no thin layer can bridge, several of them wrong answers to
// plain XPath 1.0 (antchfx/xpath v1.3.9): not(0) is false; a node-set or a
// string compared with a boolean, and booleans compared with < >, are false
// where XPath says true; sum() of non-numbers is 0, not NaN;
// substring-after with an empty second argument is empty; (//a | //b)[2] counts the union out of
// document order; following:: and preceding:: from an attribute start in
// the wrong place; number() with no argument panics; numbers become strings
// in Go's shortest form, not libxml2's; text after a complete expression
// ("1 foo") is ignored; and a quadratic query over a 2,000-package guest
// took more than ten times the steps. Scripts that pipe virt-inspector into
// xmllint must get the same answers without the pipe, so the evaluator stays
// ours; the tests keep comparing it with xmllint.
package xpath

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Kind is the type of a node in the XPath data model.
type Kind uint8

// The node kinds: no namespace nodes, since documents with namespaces are
// refused.
const (
	DocumentNode Kind = iota
	ElementNode
	AttributeNode
	TextNode
	CommentNode
	PINode
)

// Node is a node of a parsed document. Attributes are nodes too (their
// parent is the element), as XPath wants.
type Node struct {
	Kind     Kind
	Name     string // element or attribute name, processing-instruction target
	Data     string // text, attribute value, comment, processing-instruction data
	Parent   *Node
	Children []*Node
	Attrs    []*Node
	order    int // position in document order, the document is 0
	idx      int // position among the parent's children
	// text[tstart:tend] of the document is the string-value of an element
	// or the document: their text is contiguous in document order.
	tstart, tend int
	doc          *Document
}

// Document is a parsed XML document: its root node and what the XML
// declaration said, which xmllint prints back when "/" is selected.
type Document struct {
	Root     *Node
	Version  string // "1.0" when there was no declaration
	Encoding string // "" when the declaration had none
	count    int    // nodes, attributes included
	text     string // all text nodes' data in document order
}

// Limits on the documents Parse accepts; virt-inspector's own output is far
// below them, they only keep a hostile file from taking the process down.
const (
	maxDocDepth = 256
	maxDocNodes = 4 << 20
)

// Parse reads an XML document into a tree. Whitespace-only text is kept
// (libxml2 keeps it, and node() and text() see it), adjacent character
// data is merged into one text node, and a document using namespaces is
// refused.
func Parse(r io.Reader) (*Document, error) {
	d := xml.NewDecoder(r)
	doc := &Document{Version: "1.0"}
	root := &Node{Kind: DocumentNode, doc: doc}
	doc.Root = root
	cur := root
	depth := 0
	add := func(n *Node) error {
		doc.count++
		if doc.count > maxDocNodes {
			return fmt.Errorf("xpath: document at byte %d: more than %d nodes", d.InputOffset(), maxDocNodes)
		}
		n.Parent, n.doc = cur, doc
		cur.Children = append(cur.Children, n)
		return nil
	}
	seenRoot := false
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("xpath: document: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, fmt.Errorf("xpath: document at byte %d: element %s:%s: namespaces are not supported", d.InputOffset(), t.Name.Space, t.Name.Local)
			}
			if cur == root {
				if seenRoot {
					return nil, fmt.Errorf("xpath: document at byte %d: a second root element <%s>", d.InputOffset(), t.Name.Local)
				}
				seenRoot = true
			}
			depth++
			if depth > maxDocDepth {
				return nil, fmt.Errorf("xpath: document at byte %d: elements nested more than %d deep", d.InputOffset(), maxDocDepth)
			}
			e := &Node{Kind: ElementNode, Name: t.Name.Local}
			if err := add(e); err != nil {
				return nil, err
			}
			for _, a := range t.Attr {
				if a.Name.Space != "" || a.Name.Local == "xmlns" {
					return nil, fmt.Errorf("xpath: document at byte %d: attribute %s of <%s>: namespaces are not supported", d.InputOffset(), a.Name.Local, e.Name)
				}
				doc.count++
				e.Attrs = append(e.Attrs, &Node{Kind: AttributeNode, Name: a.Name.Local, Data: a.Value, Parent: e, doc: doc})
			}
			cur = e
		case xml.EndElement:
			if cur == root || t.Name.Space != "" || t.Name.Local != cur.Name {
				return nil, fmt.Errorf("xpath: document at byte %d: unexpected </%s>", d.InputOffset(), t.Name.Local)
			}
			cur = cur.Parent
			depth--
		case xml.CharData:
			if cur == root {
				if strings.Trim(string(t), " \t\r\n") != "" {
					return nil, fmt.Errorf("xpath: document at byte %d: text outside the root element", d.InputOffset())
				}
				continue
			}
			if n := len(cur.Children); n > 0 && cur.Children[n-1].Kind == TextNode {
				cur.Children[n-1].Data += string(t)
				continue
			}
			if err := add(&Node{Kind: TextNode, Data: string(t)}); err != nil {
				return nil, err
			}
		case xml.Comment:
			if err := add(&Node{Kind: CommentNode, Data: string(t)}); err != nil {
				return nil, err
			}
		case xml.ProcInst:
			if t.Target == "xml" {
				if v, ok := pseudoAttr(string(t.Inst), "version"); ok {
					doc.Version = v
				}
				doc.Encoding, _ = pseudoAttr(string(t.Inst), "encoding")
				continue
			}
			data := strings.TrimLeft(string(t.Inst), " \t\r\n")
			if err := add(&Node{Kind: PINode, Name: t.Target, Data: data}); err != nil {
				return nil, err
			}
		case xml.Directive:
			// A DOCTYPE: nothing XPath can see.
		}
	}
	if cur != root {
		return nil, fmt.Errorf("xpath: document: <%s> is not closed", cur.Name)
	}
	if !seenRoot {
		return nil, errors.New("xpath: document: no root element")
	}
	doc.number()
	return doc, nil
}

// number gives every node its place in document order: a node before its
// attributes, its attributes before its children.
func (doc *Document) number() {
	i := 0
	var text strings.Builder
	var walk func(n *Node)
	walk = func(n *Node) {
		n.order = i
		i++
		for _, a := range n.Attrs {
			a.order = i
			i++
		}
		n.tstart = text.Len()
		if n.Kind == TextNode {
			text.WriteString(n.Data)
		}
		for j, c := range n.Children {
			c.idx = j
			walk(c)
		}
		n.tend = text.Len()
	}
	walk(doc.Root)
	doc.count = i
	doc.text = text.String()
}

// pseudoAttr finds name="value" or name='value' in an XML declaration.
func pseudoAttr(s, name string) (string, bool) {
	for {
		i := strings.Index(s, name)
		if i < 0 {
			return "", false
		}
		rest := strings.TrimLeft(s[i+len(name):], " \t\r\n")
		if strings.HasPrefix(rest, "=") {
			rest = strings.TrimLeft(rest[1:], " \t\r\n")
			if len(rest) > 0 && (rest[0] == '"' || rest[0] == '\'') {
				if j := strings.IndexByte(rest[1:], rest[0]); j >= 0 {
					return rest[1 : 1+j], true
				}
			}
			return "", false
		}
		s = s[i+len(name):]
	}
}

// StringValue is the node's string-value: the text of all descendant text
// nodes for the document and elements, the value or data otherwise.
func (n *Node) StringValue() string {
	switch n.Kind {
	case DocumentNode, ElementNode:
		return n.doc.text[n.tstart:n.tend]
	}
	return n.Data
}
