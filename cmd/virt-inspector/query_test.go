package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestXPathOracle runs virt-inspector -x EXPR on phony guests and
// xmllint --xpath EXPR on the --xml output for the same disks: stdout
// must be the same bytes, and the exit status 1 exactly when xmllint
// says the set is empty. The two-guest case checks a query over a
// document with two operating systems.
func TestXPathOracle(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian: libxml2-utils)")
	}
	dir := guests(t)
	img := func(g string) string { return filepath.Join(dir, g+".img") }
	exprs := []string{
		`//application[name="pkg0002"]/version`,
		"//application[name='no-such-package']/version",
		"count(//application)",
		"//operatingsystem/root | //operatingsystem/distro",
		"//mountpoint/@dev",
		"//mountpoint[. = '/boot']/@dev",
		"string(//operatingsystem[1]/hostname)",
		"//filesystem[label and uuid]/label/text()",
		"sum(//major_version) div count(//operatingsystem)",
		"//operatingsystem[distro = 'alpinelinux']/applications/application[last()]",
		"//application[starts-with(name, 'pkg001')][2]/description",
		"not(//application)",
		"/",
	}
	for _, disks := range [][]string{{"debian12"}, {"alpine319"}, {"debian12", "alpine319"}} {
		var args []string
		for _, g := range disks {
			args = append(args, "-a", img(g))
		}
		t.Run(strings.Join(disks, "+"), func(t *testing.T) {
			xml, stderr, code := runCmd(t, append([]string{"-q", "--xml"}, args...)...)
			if code != 0 {
				t.Fatalf("--xml: exit %d: %s", code, stderr)
			}
			file := filepath.Join(t.TempDir(), "out.xml")
			if err := os.WriteFile(file, []byte(xml), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, e := range exprs {
				cmd := exec.Command("xmllint", "--xpath", e, file)
				var want, wantErr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &want, &wantErr
				err := cmd.Run()
				wantCode := 0
				if err != nil {
					if !strings.Contains(wantErr.String(), "XPath set is empty") {
						t.Fatalf("xmllint --xpath %q: %v: %s", e, err, wantErr.String())
					}
					wantCode = 1
				}
				got, stderr, code := runCmd(t, append([]string{"-q", "--xpath", e}, args...)...)
				if got != want.String() || code != wantCode {
					t.Errorf("-x %q: exit %d (want %d), stderr %q\ngot:\n%.2000s\nxmllint:\n%.2000s", e, code, wantCode, stderr, got, want.String())
				}
			}
		})
	}
}

// TestXPathEmpty: an empty node-set exits 1 and says so unless -q.
func TestXPathEmpty(t *testing.T) {
	dir := guests(t)
	out, stderr, code := runCmd(t, "--xpath", "//nothing", "-a", filepath.Join(dir, "arch.img"))
	if code != 1 || out != "" || !strings.Contains(stderr, "XPath set is empty") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	_, stderr, code = runCmd(t, "-q", "--xpath", "//nothing", "-a", filepath.Join(dir, "arch.img"))
	if code != 1 || stderr != "" {
		t.Errorf("-q: exit %d, stderr %q", code, stderr)
	}
}

// TestXPathUsage: a bad expression or a combination with --json or
// --table is a usage error, found before any image is opened (the image
// given does not exist); a type error found while evaluating is one too.
func TestXPathUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"syntax", []string{"--xpath", "//application[name=", "/nonexistent.img"}, 2, "--xpath: at column 20: expected an expression"},
		{"unknown function", []string{"--xpath", "//application[foo(name)]", "/nonexistent.img"}, 2, `--xpath: at column 15: unknown function "foo"`},
		{"empty", []string{"--xpath", "", "/nonexistent.img"}, 2, "--xpath: at column 1:"},
		{"json", []string{"--json", "--xpath", "/", "/nonexistent.img"}, 1, "cannot be combined with --json"},
		{"table", []string{"--xpath", "/", "--table", "/nonexistent.img"}, 1, "cannot be combined with --json or --table"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, code := runCmd(t, c.args...)
			if code != c.code || out != "" || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, stderr, c.code, c.msg)
			}
		})
	}
	dir := guests(t)
	_, stderr, code := runCmd(t, "-q", "--xpath", "count(//root/text())+count('x')", "-a", filepath.Join(dir, "arch.img"))
	if code != 2 || !strings.Contains(stderr, "--xpath: at column 22: count() wants a node-set, not a string") {
		t.Errorf("type error: exit %d, stderr %q", code, stderr)
	}
}

// TestXPathStdin: with no disk, --xpath reads the XML on standard input,
// as in libguestfs' "virt-inspector -a d.img | virt-inspector --xpath
// //hostname"; and -x (libguestfs' trace) traces reads, it is not XPath.
func TestXPathStdin(t *testing.T) {
	dir := guests(t)
	xml, _, code := runCmd(t, "-q", "-a", filepath.Join(dir, "arch.img"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var out, errb bytes.Buffer
	code = run([]string{"--xpath", "string(//hostname)"}, strings.NewReader(xml), &out, &errb)
	want, _, _ := runCmd(t, "-q", "--xpath", "string(//hostname)", "-a", filepath.Join(dir, "arch.img"))
	if code != 0 || out.String() != want || want == "" {
		t.Errorf("from stdin: exit %d, %q (stderr %q); from the disk %q", code, out.String(), errb.String(), want)
	}
	xml2, stderr, code := runCmd(t, "-x", "-a", filepath.Join(dir, "arch.img"))
	if code != 0 || xml2 != xml || !strings.Contains(stderr, "read disk1 0x0 ") {
		t.Errorf("-x: exit %d, same XML %v, stderr %.200q", code, xml2 == xml, stderr)
	}
}

// TestXPathHelp: --help documents --xpath and its exit status.
func TestXPathHelp(t *testing.T) {
	out, _, code := runCmd(t, "--help")
	if code != 0 || !strings.Contains(out, "--xpath QUERY") || !strings.Contains(out, "1 if it selects no node") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
