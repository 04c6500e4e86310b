package lvm

import (
	"strings"
	"testing"
)

func TestParseMetadata(t *testing.T) {
	s, err := ParseMetadata([]byte(`# comment
vg-1 {
	id = "abc"  # trailing comment
	seqno = 7
	status = ["READ", "WRITE"]
	neg = -3
	float = 1.5
	esc = "a\"b\\c"
	empty = []
	logical_volumes {
		lv+_.x { segment1 { stripes = [
			"pv0", 0,
			"pv1", 12
		] } }
	}
}
contents = "Text Format Volume"
`))
	if err != nil {
		t.Fatal(err)
	}
	vg := s.Sub("vg-1")
	if vg == nil || s.Str("contents") != "Text Format Volume" {
		t.Fatalf("root = %+v", s)
	}
	if n, _ := vg.Int("seqno"); n != 7 || vg.Str("id") != "abc" || vg.Str("esc") != `a"b\c` {
		t.Errorf("fields: %+v", vg.Fields)
	}
	if n, _ := vg.Int("neg"); n != -3 {
		t.Errorf("neg = %d", n)
	}
	if st := vg.Strings("status"); len(st) != 2 || st[1] != "WRITE" {
		t.Errorf("status = %q", st)
	}
	v, _ := vg.Sub("logical_volumes").Sub("lv+_.x").Sub("segment1").Get("stripes")
	if len(v.List) != 4 || v.List[2].Str != "pv1" || v.List[3].Int != 12 {
		t.Errorf("stripes = %+v", v)
	}
}

func TestParseMetadataErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unclosed section", "a {\n b = 1\n", "line 3: section \"a\" not closed"},
		{"unclosed string", "a = \"x", "string not closed"},
		{"unclosed list", "a = [1, 2", "list not closed"},
		{"stray brace", "}", "unexpected '}'"},
		{"missing comma", "a = [1 2]", "want ','"},
		{"nested list", "a = [[1]]", "unexpected"},
		{"bad number", "a = 1-2-", "bad number"},
		{"no value", "a =", "value missing"},
		{"no equals", "a b", "want '=' or '{'"},
		{"too deep", strings.Repeat("a {", maxDepth+1), "nested deeper"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMetadata([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestFloatKeptAsText(t *testing.T) {
	s, err := ParseMetadata([]byte("a = 1.5"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("a"); v.Str != "1.5" || v.IsStr {
		t.Errorf("a = %+v", v)
	}
	if _, ok := s.Int("a"); ok {
		t.Error("a float read as an integer")
	}
}
