package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/inspect"
	"github.com/virt-bmap/virt-bmap/internal/xpath"
)

// query runs --xpath EXPR on the XML document writeXML makes (parsed back, so
// the query sees exactly what --xml prints) and prints the result as
// `xmllint --xpath EXPR` would. It returns the exit status: 0 for a
// non-empty node-set or any other value, 1 for an empty node-set, 2 when
// the expression fails (a type error found while evaluating, or too much
// work).
func query(x *xpath.Expr, res *inspect.Result, withApps bool, stdout, stderr io.Writer, quiet bool) int {
	var buf bytes.Buffer
	if err := writeXML(&buf, res, withApps); err != nil {
		fmt.Fprintf(stderr, "virt-inspector: %v\n", err)
		return 1
	}
	doc, err := xpath.Parse(&buf)
	if err != nil { // our own XML: a bug, not the user's
		fmt.Fprintf(stderr, "virt-inspector: --xpath: %v\n", err)
		return 1
	}
	return evalPrint(x, doc, stdout, stderr, quiet)
}

// evalPrint evaluates x on doc and prints the result as xmllint does.
func evalPrint(x *xpath.Expr, doc *xpath.Document, stdout, stderr io.Writer, quiet bool) int {
	v, err := x.Eval(doc)
	if err != nil {
		fmt.Fprintf(stderr, "virt-inspector: --xpath: %v\n", err)
		return 2
	}
	if err := xpath.WriteResult(stdout, v); err != nil {
		fmt.Fprintf(stderr, "virt-inspector: %v\n", err)
		return 1
	}
	if ns, ok := v.(xpath.NodeSet); ok && len(ns) == 0 {
		if !quiet {
			fmt.Fprintln(stderr, "virt-inspector: --xpath: XPath set is empty")
		}
		return 1
	}
	return 0
}

// maxXMLInput bounds the XML --xpath reads from standard input.
const maxXMLInput = 256 << 20

// queryStdin runs --xpath on XML read from standard input, as libguestfs'
// virt-inspector does when no disk is given:
//
//	virt-inspector -a d.img | virt-inspector --xpath //hostname
func queryStdin(x *xpath.Expr, stdin io.Reader, stdout, stderr io.Writer, quiet bool) int {
	data, err := io.ReadAll(io.LimitReader(stdin, maxXMLInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "virt-inspector: reading the XML on standard input: %v\n", err)
		return 1
	}
	if len(data) > maxXMLInput {
		fmt.Fprintf(stderr, "virt-inspector: the XML on standard input is larger than %d MiB\n", maxXMLInput>>20)
		return 1
	}
	doc, err := xpath.Parse(bytes.NewReader(data))
	if err != nil {
		fmt.Fprintf(stderr, "virt-inspector: --xpath: standard input: %v\n", err)
		return 1
	}
	return evalPrint(x, doc, stdout, stderr, quiet)
}
