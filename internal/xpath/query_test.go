package xpath

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oracleDocs are real virt-inspector output (the command's golden files)
// and a hand-written document with what those lack: a Windows guest with
// drive mappings, two operating systems, markup characters, tabs,
// carriage returns and non-ASCII text in elements and attributes.
func oracleDocs(t testing.TB) []string {
	docs, err := filepath.Glob("../../cmd/virt-inspector/testdata/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	return append(docs, "testdata/windows.xml")
}

// oracleExprs cover every feature; each is run by xmllint and by us on
// every document and must print the same bytes.
var oracleExprs = []string{
	// location paths, abbreviations, node tests
	"/",
	"/operatingsystems",
	"/operatingsystems/operatingsystem/name",
	"//application[name='bash']/version",
	`//application[name="pkg0002"]/version`,
	"//mountpoint",
	"//mountpoint/@dev",
	"//mountpoint/text()",
	"//filesystem/*",
	"//operatingsystem/*[3]",
	"//mountpoints/node()",
	"//@*",
	"//drive_mapping/@name",
	"//product_name/text()",
	"//description",
	"//description/text()",
	"//display_name",
	"//version/..",
	"//mountpoint/./@dev",
	"//mountpoint/@dev/..",
	"/operatingsystems/operatingsystem[1]/filesystems/filesystem[last()]",
	"//application[1]/name",
	"(//application)[1]/name",
	"(//application)[last()]/name",
	"//application[position() <= 2]/name",
	"//application[position() = last() - 1]/name",
	"//filesystem[2]/uuid",
	"//filesystem[label][uuid]/@dev",
	"//filesystem[not(label)]/@dev",
	"//application[epoch]/name | //root",
	"//root | //name | //osinfo",
	"(//name | //root)[2]",
	"//hostname/text() | //mountpoint/@dev",
	"//nothing",
	"//application[name='no-such-package']",
	"/operatingsystems/*/hostname",
	"/*/*/*[1]",
	"//text()[contains(., 'Files')]",
	// axes
	"//mountpoint[1]/following-sibling::*",
	"//mountpoint[last()]/preceding-sibling::mountpoint",
	"//uuid/ancestor::*[2]/@dev",
	"//uuid/ancestor-or-self::filesystem/@dev",
	"//filesystem/descendant::text()[1]",
	"//filesystems/descendant-or-self::*[@dev='/dev/sda1']",
	"//root/following::hostname",
	"//hostname/preceding::root",
	"//mountpoint/@dev/following::*[1]",
	"//mountpoint/@dev/preceding::*[1]",
	"//operatingsystem/child::root",
	"//mountpoint/attribute::dev",
	"//mountpoint/self::mountpoint/parent::mountpoints/..",
	"//filesystem/ancestor::*[1]",
	// comparisons, booleans
	"//application[version > 5]/name",
	"//application[version >= '5.2']/name",
	"//application[version < 4 and release != 2]/name",
	"//major_version = 12",
	"//major_version != 12",
	"//mountpoint = '/boot'",
	"//mountpoint/@dev = //filesystem/@dev",
	"//mountpoint/@dev != //filesystem/@dev",
	"//major_version < //minor_version",
	"//root = true()",
	"//nothing = false()",
	"//nothing = ''",
	"//nothing != ''",
	"1 = 1", "1 = 2", "'a' = 'a'", "'1' = 1", "true() = 'x'", "1 < 2", "'a' < 'b'",
	"2 >= '2'", "(1 = 1) > (1 = 2)", "0 div 0 = 0 div 0", "0 div 0 != 0 div 0",
	"1 or 0 div 0", "0 and 1", "'' or //root",
	"not(//nothing)", "not(0)", "boolean('false')", "boolean(//root)",
	// numbers and arithmetic
	"count(//application)",
	"count(//node())",
	"count(//text())",
	"count(//@*)",
	"count(/)",
	"sum(//major_version)",
	"sum(//minor_version) div count(//minor_version)",
	"sum(//nothing)",
	"sum(//name)",
	"1 + 2 * 3 - 4 div 8", "7 mod 3", "-7 mod 3", "7 mod -3", "5.5 mod 2", "-(3)", "--3",
	"1 div 3", "2 div 3", "1 div 0", "-1 div 0", "0 div 0", "0 * -1", "-0",
	"100000000000000000000", "1e3", "1.5e-3", ".5", "1.", "123456789", "1000000", "0.0001", "0.00001",
	"1 div 7 * 1000000", "number('12')", "number(' 1.5 ')", "number('1e2')", "number('x')",
	"number('-')", "number('')", "number(//major_version)", "number()",
	"floor(2.5)", "floor(-2.5)", "ceiling(2.1)", "ceiling(-0.5)", "round(2.5)", "round(-2.5)",
	"round(-0.4)", "round(1 div 0)", "round(0 div 0)",
	// strings
	"'single'", `"double"`, `"it's"`, `'say "hi"'`, "''",
	"string(//root)", "string(//nothing)", "string()", "string(1 div 3)", "string(3000000000)",
	"string(0.000001)", "string(123456789.123)", "string(-0)", "string(2147483647)",
	"string(-2147483647)", "string(1000000000.5)", "string(0.1 + 0.2)", "string(true())",
	"string(12345678901234567)", "string(1 div 0)", "string(0 div 0)",
	"concat(//root, ':', //name)", "concat(1, 2.50, 'x', true())", "concat('a', //nothing, 'b')",
	"contains(//product_name, 'Windows')", "contains(//product_name, '')",
	"starts-with(//osinfo, 'deb')", "starts-with('', '')",
	"string-length(//product_name)", "string-length('Übersetzung')", "string-length()",
	"normalize-space(//description)", "normalize-space('  a  b\tc  ')", "normalize-space()",
	"name(//mountpoint/@dev)", "name(/)", "name(//text())", "name(//application)", "name()",
	"name(//nothing)", "local-name(//filesystem)",
	"substring('12345', 2, 3)", "substring('12345', 1.5, 2.6)", "substring('12345', 0, 3)",
	"substring('12345', 0 div 0, 3)", "substring('12345', 1, 0 div 0)", "substring('12345', -42, 1 div 0)",
	"substring('12345', -1 div 0, 1 div 0)", "substring('12345', 2)", "substring('Übersetzung', 2, 3)",
	"substring-before('1999/04/01', '/')", "substring-after('1999/04/01', '/')",
	"substring-before('abc', 'x')", "substring-after('abc', '')", "substring-before('abc', '')",
	"translate('bar', 'abc', 'ABC')", "translate('--aaa--', 'abc-', 'ABC')",
	"//application[starts-with(name, 'pkg000')][string-length(version) = 5]/name",
	"//application[contains(description, 'package 7')]/summary",
	"//application[normalize-space(version) = '115.0']/publisher",
	"//*[name() = 'osinfo']",
	"//*[count(*) = 4]/@dev",
	"//*[string-length(text()) > 30]",
	"//application[last()]/name/text()",
	"//operatingsystem[name='windows']/drive_mappings/drive_mapping[@name='C']",
	"//operatingsystem[applications/application/name = 'bash']/root",
	"//application[name = //osinfo]",
	// whitespace between tokens
	" //application [ 1 ] / name ",
	"child :: operatingsystems / child :: * [ 1 ] / root",
	"// mountpoint / @ dev",
	"count( //application )+1",
	"1-1", "3 - -1", strings.Repeat("-", 101) + "1", strings.Repeat("-", 100) + "'7'", "2*3", "//operatingsystem[1]/*[2]*2",
}

func xmllint(t *testing.T, expr, file string) (out string, empty bool) {
	t.Helper()
	cmd := exec.Command("xmllint", "--xpath", expr, file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if strings.Contains(stderr.String(), "XPath set is empty") {
			return stdout.String(), true
		}
		t.Fatalf("xmllint --xpath %q %s: %v\n%s", expr, file, err, stderr.String())
	}
	return stdout.String(), false
}

func ours(t *testing.T, expr string, doc *Document) (string, bool) {
	t.Helper()
	x, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	v, err := x.Eval(doc)
	if err != nil {
		t.Fatalf("Eval(%q): %v", expr, err)
	}
	var b bytes.Buffer
	if err := WriteResult(&b, v); err != nil {
		t.Fatal(err)
	}
	ns, isSet := v.(NodeSet)
	return b.String(), isSet && len(ns) == 0
}

func parseFile(t testing.TB, file string) *Document {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc
}

// TestOracle requires our output to be xmllint's, byte for byte.
func TestOracle(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian: libxml2-utils)")
	}
	files := oracleDocs(t)
	if len(files) < 2 {
		t.Fatalf("only %d documents to test on", len(files))
	}
	for _, file := range files {
		doc := parseFile(t, file)
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, expr := range oracleExprs {
				want, wantEmpty := xmllint(t, expr, file)
				got, gotEmpty := ours(t, expr, doc)
				if got != want || gotEmpty != wantEmpty {
					t.Errorf("%q:\nxmllint (empty %v):\n%s\nours (empty %v):\n%s", expr, wantEmpty, clip(want), gotEmpty, clip(got))
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// badExprs are refused, at the column given. xmllint refuses each of
// them too (checked in TestBadExpressionsXmllint), apart from the ones
// marked ours: those are valid XPath we do not implement.
var badExprs = []struct {
	expr string
	col  int
	msg  string
	ours bool
}{
	{"", 1, "expected an expression", false},
	{"foo()", 1, `unknown function "foo"`, false},
	{"//application[foo(1)]", 15, `unknown function "foo"`, false},
	{"count(1)", 1, "count() wants a node-set, not a number", false},
	{"count()", 1, "count() takes 1 argument, not 0", false},
	{"count(//a, //b)", 1, "takes 1 argument, not 2", false},
	{"concat('a')", 1, "takes at least 2 arguments", false},
	{"substring('a')", 1, "takes 2 to 3 arguments", false},
	{"true(1)", 1, "takes 0 arguments", false},
	{"sum('1')", 1, "sum() wants a node-set, not a string", false},
	{"name(1)", 1, "name() wants a node-set, not a number", false},
	{"//application[local-name(1)]", 15, "local-name() wants a node-set", false},
	{"1 +", 4, "expected an expression", false},
	{"1 and", 6, "expected an expression", false},
	{"//", 3, "expected a node test", false},
	{"//[1]", 3, "expected a node test", false},
	{"/a/", 4, "expected a node test", false},
	{"//a[1", 6, `expected "]"`, false},
	{"//a[]", 5, "expected an expression", false},
	{"count(//a", 10, `expected ")"`, false},
	{"(1", 3, `expected ")"`, false},
	{"1)", 2, "expected an operator or the end", false},
	{"'abc", 1, "unfinished string literal", false},
	{`"abc`, 1, "unfinished string literal", false},
	{"//a:b", 3, "namespace prefixes are not supported", false},
	{"//a:*", 3, "namespace prefixes are not supported", false},
	{"a:f()", 1, "namespace prefixes are not supported", false},
	{"$x", 1, "variables are not supported", false},
	{"$", 1, "variable name must follow", false},
	{"foo::bar", 1, `unknown axis "foo"`, false},
	{"namespace::*", 1, "namespace axis is not supported", true},
	{"id('x')", 1, "id() is not supported", true},
	{"lang('en')", 1, "lang() is not supported", true},
	{"namespace-uri()", 1, "namespace-uri() is not supported", true},
	{"1 foo", 3, `expected an operator, found "foo"`, false},
	{"//a#", 4, "unexpected character '#'", false},
	{"//application[name=é€]", 21, "unexpected character '€'", false},
	{"'a'/b", 1, "continues from a node-set, not a string", false},
	{"(1)[1]", 1, "predicate applies to a node-set, not a number", false},
	{"1 | //a", 3, "| joins node-sets", false},
	{"//a | 'x'", 5, "| joins node-sets", false},
	{"@", 2, "expected a node test", false},
	{"child::", 8, "expected a node test", false},
	{"//a/foo()", 5, "not a node type", false},
	{"processing-instruction(1)", 24, `expected ")"`, false},
	{"..[1]", 3, "expected an operator or the end", false},
	{"1 = = 2", 5, "expected an expression", false},
	{"!1", 1, "unexpected character '!'", false},
	{"//a[", 5, "expected an expression", false},
	{"position()", 1, "only defined inside a predicate", false},
	{"1 + last()", 5, "only defined inside a predicate", false},
	{"'x' ::", 5, "expected an operator or the end", false},
	{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), 65, "nested more than 64 deep", false},
	{strings.Repeat("//a[", 70) + "1" + strings.Repeat("]", 70), 257, "nested more than 64 deep", false},
	{strings.Repeat("1+", MaxLen), MaxLen + 1, "longer than 8192 bytes", true},
}

func TestBadExpressions(t *testing.T) {
	doc := parseFile(t, "testdata/windows.xml")
	for _, c := range badExprs {
		x, err := Compile(c.expr)
		if err == nil {
			_, err = x.Eval(doc)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%.40q: error %v, want an *Error", c.expr, err)
			continue
		}
		if e.Col != c.col || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%.40q: %v; want column %d and %q", c.expr, err, c.col, c.msg)
		}
	}
}

// TestBadExpressionsXmllint checks that the expressions we refuse are
// refused by xmllint too, so we do not turn away what the tool scripts
// come from accepted; the ones marked ours are XPath we leave out.
func TestBadExpressionsXmllint(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian: libxml2-utils)")
	}
	for _, c := range badExprs {
		if c.ours || len(c.expr) > 200 {
			continue
		}
		out, err := exec.Command("xmllint", "--xpath", c.expr, "testdata/windows.xml").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "XPath error") && !strings.Contains(string(out), "not found") &&
			!strings.Contains(string(out), "undefined prefix") {
			t.Errorf("%q: xmllint accepts it: %v\n%s", c.expr, err, out)
		}
	}
}

// TestBudget: a query whose cost is the document's size cubed stops with
// an error instead of running for hours.
func TestBudget(t *testing.T) {
	doc := parseFile(t, "testdata/windows.xml")
	x, err := Compile("//node()[count(//node()[count(//node()) > 0]) > 0]")
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.EvalBudget(doc, 1_000_000)
	var e *Error
	if !errors.As(err, &e) || e.Col < 1 || !strings.Contains(e.Msg, "too long") {
		t.Errorf("got %v, %v; want an error saying it takes too long", v, err)
	}
	// The same with the default budget is within reach on this document.
	if _, err := x.Eval(doc); err != nil {
		t.Errorf("default budget: %v", err)
	}
}

func TestParseDocumentErrors(t *testing.T) {
	for _, c := range []struct{ doc, msg string }{
		{"", "no root element"},
		{"<a>", "not closed"},
		{"<a></b>", "unexpected </b>"},
		{"<a/><b/>", "second root element"},
		{"<a/>text", "text outside the root"},
		{`<a xmlns="urn:x"/>`, "namespaces are not supported"},
		{`<x:a xmlns:x="urn:x"/>`, "namespaces are not supported"},
		{"<a>&bogus;</a>", "invalid character entity"},
		{strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300), "nested more than 256 deep"},
	} {
		_, err := Parse(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%.30q: %v, want %q", c.doc, err, c.msg)
		}
	}
}

// FuzzXPath compiles and evaluates any expression on a small document:
// only a panic, a hang or an error without a column fails.
func FuzzXPath(f *testing.F) {
	for _, e := range oracleExprs {
		f.Add(e)
	}
	for _, c := range badExprs {
		if len(c.expr) < 300 {
			f.Add(c.expr)
		}
	}
	doc := parseFile(f, "testdata/windows.xml")
	f.Fuzz(func(t *testing.T, expr string) {
		x, err := Compile(expr)
		if err == nil {
			start := time.Now()
			var v Value
			v, err = x.EvalBudget(doc, 2_000_000)
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("%q took %v", expr, d)
			}
			if err == nil {
				if err := WriteResult(new(bytes.Buffer), v); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.Col < 1 || e.Col > len([]rune(expr))+1 {
			t.Fatalf("%q: %v: not an *Error with a column inside the expression", expr, err)
		}
	})
}

// BenchmarkQuery: a lookup by name, and a quadratic query (every package
// compared with the last one's name) on a guest with 2000 packages.
func BenchmarkQuery(b *testing.B) {
	doc := parseFile(b, "../../cmd/virt-inspector/testdata/debian12.xml")
	for _, q := range []string{
		"//application[name='pkg0500']/version",
		"//application[name = //application[last()]/name]/version",
	} {
		x, err := Compile(q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := x.Eval(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
