package testutil

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestSparseReadAt(t *testing.T) {
	d := &Sparse{Size: 100, Chunks: []Chunk{
		{Off: 10, Data: []byte("abcd")},
		{Off: 12, Data: []byte("XY")},     // overlaps the first: later wins
		{Off: 96, Data: []byte("tail!!")}, // runs past Size: "!!" never read
		{Off: 1 << 40, Data: []byte("far")},
	}}
	for _, tc := range []struct {
		name    string
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{"zeros before", 0, 10, strings.Repeat("\x00", 10), nil},
		{"chunk with overlap", 8, 8, "\x00\x00abXY\x00\x00", nil},
		{"inside a chunk", 11, 2, "bX", nil},
		{"empty read", 50, 0, "", nil},
		{"last byte", 99, 1, "l", nil},
		{"tail up to Size", 96, 4, "tail", nil},
		{"past Size", 98, 4, "il", io.EOF},
		{"at Size", 100, 1, "", io.EOF},
		{"far past Size", 1 << 40, 3, "", io.EOF},
		{"negative", -1, 1, "", io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := bytes.Repeat([]byte{0xee}, tc.n) // stale bytes must be cleared
			n, err := d.ReadAt(p, tc.off)
			if n != len(tc.want) || string(p[:n]) != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("ReadAt(%d bytes, %d) = %d %q, %v; want %d %q, %v", tc.n, tc.off, n, p[:n], err, len(tc.want), tc.want, tc.wantErr)
			}
		})
	}
	// A huge Size with nothing in it reads as zeros anywhere.
	big := &Sparse{Size: 1 << 50}
	p := []byte{1, 2, 3}
	if n, err := big.ReadAt(p, 1<<49); n != 3 || err != nil || !bytes.Equal(p, []byte{0, 0, 0}) {
		t.Errorf("empty huge Sparse: %d %v %v", n, p, err)
	}
	// A Sparse satisfies io.ReaderAt and works with io.SectionReader.
	var r io.ReaderAt = d
	b, err := io.ReadAll(io.NewSectionReader(r, 90, 20))
	if err != nil || string(b) != "\x00\x00\x00\x00\x00\x00tail" {
		t.Errorf("SectionReader over Sparse: %q, %v", b, err)
	}
}

// fakeTB records Fatal and Skip calls instead of ending the real test;
// each ends the goroutine, as the real ones do.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn with a fakeTB in its own goroutine and returns the fake.
func call(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestNeedTools(t *testing.T) {
	if f := call(t, func(tb testing.TB) { NeedTools(tb, "sh") }); f.skipped || f.failed {
		t.Errorf("NeedTools(sh): skipped %v failed %v: %s", f.skipped, f.failed, f.msg)
	}
	f := call(t, func(tb testing.TB) { NeedTools(tb, "sh", "no-such-tool-virt-bmap", "sh") })
	if !f.skipped || !strings.Contains(f.msg, "no-such-tool-virt-bmap not installed") {
		t.Errorf("NeedTools(missing): skipped %v, message %q", f.skipped, f.msg)
	}
	old := debianPackage["no-such-tool-virt-bmap"]
	debianPackage["no-such-tool-virt-bmap"] = "pkg-x"
	defer func() { debianPackage["no-such-tool-virt-bmap"] = old }()
	f = call(t, func(tb testing.TB) { NeedTools(tb, "no-such-tool-virt-bmap") })
	if !f.skipped || !strings.Contains(f.msg, "(Debian package pkg-x)") {
		t.Errorf("NeedTools(missing, known package): skipped %v, message %q", f.skipped, f.msg)
	}
}

func TestRun(t *testing.T) {
	NeedTools(t, "sh")
	var out string
	f := call(t, func(tb testing.TB) { out = Run(tb, "in\n", "sh", "-c", "echo out; cat; echo err >&2") })
	if f.failed || out != "out\nin\nerr\n" {
		t.Errorf("Run = %q (failed %v: %s), want stdout, stdin copied, stderr", out, f.failed, f.msg)
	}
	f = call(t, func(tb testing.TB) { Run(tb, "", "sh", "-c", "echo boom; exit 3") })
	if !f.failed || !strings.Contains(f.msg, "sh -c echo boom; exit 3") || !strings.Contains(f.msg, "exit status 3") || !strings.Contains(f.msg, "boom") {
		t.Errorf("Run(failing): failed %v, message %q", f.failed, f.msg)
	}
}

func writeGzip(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGunzip(t *testing.T) {
	want := bytes.Repeat([]byte("fixture "), 1000)
	var got []byte
	p := writeGzip(t, want)
	if f := call(t, func(tb testing.TB) { got = Gunzip(tb, p) }); f.failed || !bytes.Equal(got, want) {
		t.Errorf("Gunzip: %d bytes, failed %v: %s", len(got), f.failed, f.msg)
	}
	if f := call(t, func(tb testing.TB) { Gunzip(tb, writeGzip(t, make([]byte, MaxGunzip))) }); f.failed {
		t.Errorf("Gunzip of exactly MaxGunzip bytes failed: %s", f.msg)
	}
	for _, tc := range []struct{ name, path, msg string }{
		{"too large", writeGzip(t, make([]byte, MaxGunzip+1)), "more than"},
		{"missing", filepath.Join(t.TempDir(), "none.gz"), "no such file"},
		{"not gzip", func() string {
			p := filepath.Join(t.TempDir(), "plain")
			os.WriteFile(p, []byte("plain text"), 0o644)
			return p
		}(), "invalid header"},
		{"truncated", func() string {
			p := writeGzip(t, want)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
			return p
		}(), "unexpected EOF"},
	} {
		if f := call(t, func(tb testing.TB) { Gunzip(tb, tc.path) }); !f.failed || !strings.Contains(f.msg, tc.msg) {
			t.Errorf("Gunzip(%s): failed %v, message %q, want %q", tc.name, f.failed, f.msg, tc.msg)
		}
	}
}

func TestSparseFile(t *testing.T) {
	const size = 1 << 40
	p := SparseFile(t, size)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size || !fi.Mode().IsRegular() {
		t.Fatalf("%s: size %d mode %v, want a %d-byte regular file", p, fi.Size(), fi.Mode(), size)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{1}
	if _, err := f.ReadAt(b, size-1); err != nil || b[0] != 0 {
		t.Errorf("last byte %v, %v; want a zero", b, err)
	}
	if q := SparseFile(t, 0); q == p {
		t.Errorf("two SparseFiles share the path %s", p)
	}
}

func TestSfdisk(t *testing.T) {
	NeedTools(t, "sfdisk")
	p := SparseFile(t, 8<<20)
	Run(t, "label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=4096, type=83, bootable\nstart=8192, type=7\n", "sfdisk", "-q", p)
	var st SfdiskTable
	if f := call(t, func(tb testing.TB) { st = Sfdisk(tb, p) }); f.failed {
		t.Fatalf("Sfdisk: %s", f.msg)
	}
	pt := st.PartitionTable
	if pt.Label != "dos" || pt.ID != "0x1234abcd" || pt.SectorSize != 512 || len(pt.Partitions) != 2 {
		t.Fatalf("table %+v", pt)
	}
	want := []SfdiskPartition{
		{Node: p + "1", Start: 2048, Size: 4096, Type: "83", Bootable: true},
		{Node: p + "2", Start: 8192, Size: 16384 - 8192, Type: "7"},
	}
	for i, w := range want {
		if pt.Partitions[i] != w {
			t.Errorf("partition %d: %+v, want %+v", i+1, pt.Partitions[i], w)
		}
	}
	// A disk without a table: sfdisk fails and so does the test.
	blank := SparseFile(t, 1<<20)
	if f := call(t, func(tb testing.TB) { Sfdisk(tb, blank) }); !f.failed || !strings.Contains(f.msg, "sfdisk --json "+blank) {
		t.Errorf("Sfdisk(blank): failed %v, message %q", f.failed, f.msg)
	}
}
