package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// nbdshPath runs the nbdsh of the python3 its libnbd module was built for.
const nbdshPath = `PATH="$(dirname "$(command -v nbdsh)"):$PATH" nbdsh`

// TestServeMappedFormats serves images qemu-img made from one raw disk
// through image.Open and the NBD server, whose READs of data stored
// verbatim in the image file go out with sendfile (image.Image is an
// alloc.FileMapper): nbdcopy of the export, and nbdsh's pipelined READs
// of many sizes and offsets (unaligned, across blocks, with and without
// DF), must give exactly qemu-img convert -O raw's bytes, and the server
// must have used sendfile.
func TestServeMappedFormats(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "nbdcopy", "nbdsh")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 6<<20 + 5*4096
	imagetest.MakeSource(t, src, size, 11, imagetest.Source{MaxRun: 600 << 10, Label: "serve"})
	for _, c := range []struct {
		name, format string
		opts         []string
	}{
		{"vhd-fixed", "vpc", []string{"-o", "subformat=fixed"}},
		{"vhd-dynamic", "vpc", []string{"-o", "subformat=dynamic"}},
		{"vdi-dynamic", "vdi", nil},
		{"vdi-static", "vdi", []string{"-o", "static=on"}},
		{"vmdk-sparse", "vmdk", []string{"-o", "subformat=monolithicSparse"}},
		{"vmdk-flat", "vmdk", []string{"-o", "subformat=monolithicFlat"}},
		{"vmdk-2gb-sparse", "vmdk", []string{"-o", "subformat=twoGbMaxExtentSparse"}},
		{"vmdk-stream", "vmdk", []string{"-o", "subformat=streamOptimized"}},
		{"qcow2", "qcow2", nil},
		{"qcow2-c512", "qcow2", []string{"-o", "cluster_size=512"}},
		// Compressed clusters among uncompressed ones: READs of both.
		{"qcow2-compressed", "qcow2", []string{"-c"}},
		{"vhdx-dynamic", "vhdx", []string{"-o", "subformat=dynamic,block_size=1M"}},
		{"vhdx-fixed", "vhdx", []string{"-o", "subformat=fixed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".img")
			imagetest.QemuImg(t, append(append([]string{"convert", "-O", c.format}, c.opts...), src, p)...)
			want := imagetest.QemuRaw(t, p, c.format)
			wantPath := p + ".want"
			if err := os.WriteFile(wantPath, want, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			// streamOptimized is all compressed: served through ReadAt.
			serveMapped(t, img, want, wantPath, c.name != "vmdk-stream")
		})
	}
}

// serveMapped serves img and reads it with nbdcopy and nbdsh, checking
// that sendfile was used, or not.
// serveOn serves s on a private Unix socket; stop shuts it down.
func serveOn(t *testing.T, s *nbd.Server) (ep *nbd.Endpoint, stop func()) {
	t.Helper()
	l, ep, cleanup, err := nbd.Listen(nbd.ListenConfig{Unix: "-"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	return ep, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		cleanup()
	}
}

func serveMapped(t *testing.T, img *Image, want []byte, wantPath string, sendfile bool) {
	t.Helper()
	s := &nbd.Server{Exports: []nbd.Export{{Source: img}}, Logf: t.Logf}
	ep, stop := serveOn(t, s)
	defer stop()
	run := func(script string) string {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := nbd.RunCaptive(ctx, script, ep, &out, &out)
		if err != nil || st != 0 {
			t.Fatalf("%s: status %d, %v\n%s", script, st, err, out.String())
		}
		return out.String()
	}
	dir := t.TempDir()
	for _, conns := range []int{1, 4} {
		out := filepath.Join(dir, fmt.Sprintf("copy%d.raw", conns))
		run(fmt.Sprintf(`nbdcopy -C %d -T %d "$uri" %s`, conns, conns, out))
		imagetest.Cmp(t, out, want)
	}
	size := len(want)
	script := filepath.Join(dir, "reads.py")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_FLAGS)
size = %d
reqs = []
for i, (off, n) in enumerate([(0, 262144), (5, 100000), (65536, 65536), (2097152 - 700, 300080),
        (2097152 - 65536, 131072), (1, 3 << 20), (4096, 65535), (300 << 10, 500 << 10),
        (size - 200000, 200000), (size - 65536, 65536), (3 << 20, 1 << 20), (4 << 20, 4096)]):
    reqs.append((off, n, i %% 3 == 0))
bufs = []
for off, n, df in reqs * 2:
    b = nbd.Buffer(n)
    h.aio_pread(b, off, flags=nbd.CMD_FLAG_DF if df else 0)
    bufs.append((off, n, b))
while h.aio_in_flight() > 0:
    h.poll(-1)
f = open("%s", "rb").read()
bad = 0
for off, n, b in bufs:
    if b.to_bytearray() != f[off:off + n]:
        print("differs", off, n)
        bad += 1
print("read", len(bufs), "bad", bad)
`, size, wantPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(nbdshPath + ` -u "$uri" -c "exec(open('` + script + `').read())"`)
	if strings.TrimSpace(out) != "read 24 bad 0" {
		t.Errorf("nbdsh:\n%s", out)
	}
	if (s.FileSends() > 0) != sendfile {
		t.Errorf("%d ranges sent with sendfile", s.FileSends())
	}
}

// TestServeMappedTruncated serves a dynamic VDI cut short before its last
// allocated block starts: a READ of that block gets EIO (MapFile fails,
// as ReadAt does), never other bytes, and the connection goes on: the
// READs around it carry qemu-img's bytes. Cut inside the block's data,
// the rest of the block reads as zeros, as qemu-img convert of the cut
// file gives it.
func TestServeMappedTruncated(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "nbdsh")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	// Data everywhere: every block allocated, the last one last in the file.
	imagetest.MakeSource(t, src, 4<<20, 3, imagetest.Source{MaxRun: 64 << 10, Label: "cut", Holes: 0})
	p := filepath.Join(dir, "full.vdi")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "vdi", src, p)
	want := imagetest.QemuRaw(t, p, "vdi")
	wantPath := filepath.Join(dir, "want.raw")
	if err := os.WriteFile(wantPath, want, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// The file ends with the last block (1 MiB): which guest block it is,
	// qemu-img map says (the one whose offset is the largest).
	var lastGuest, lastOff int64 = -1, -1
	for _, e := range imagetest.QemuMap(t, p, "vdi") {
		if e.Offset != nil && *e.Offset+e.Length > lastOff {
			lastGuest, lastOff = e.Start+e.Length-(1<<20), *e.Offset+e.Length
		}
	}
	if lastOff != fi.Size() {
		t.Fatalf("the last block ends at %d, the file at %d", lastOff, fi.Size())
	}
	for _, cut := range []struct {
		name string
		at   int64
	}{{"inside", fi.Size() - 300<<10}, {"before", fi.Size() - 1<<20}} {
		t.Run(cut.name, func(t *testing.T) {
			q := filepath.Join(t.TempDir(), "cut.vdi")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(q, b[:cut.at], 0o644); err != nil {
				t.Fatal(err)
			}
			wantPath, wantOut := wantPath, ""
			if cut.name == "inside" {
				wantPath = filepath.Join(t.TempDir(), "want.raw")
				if err := os.WriteFile(wantPath, imagetest.QemuRaw(t, q, "vdi"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			img, err := Open(q)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			ep, stop := serveOn(t, &nbd.Server{Exports: []nbd.Export{{Source: img}}})
			defer stop()
			script := filepath.Join(t.TempDir(), "cut.py")
			if err := os.WriteFile(script, []byte(fmt.Sprintf(`
last = %d
f = open("%s", "rb").read()
for off, n in [(0, 262144), (last + 786432, 262144), (last - 65536, 131072), (last - 262144, 262144), (last, 1048576)]:
    try:
        b = h.pread(n, off)
        print("ok", off, n, b == f[off:off + n])
    except nbd.Error as e:
        print("error", off, n, e.errno)
`, lastGuest, wantPath)), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if st, err := nbd.RunCaptive(ctx, nbdshPath+` -u "$uri" -c "exec(open('`+script+`').read())"`, ep, &out, &out); err != nil || st != 0 {
				t.Fatalf("nbdsh: %d %v\n%s", st, err, out.String())
			}
			g := lastGuest
			wantOut = fmt.Sprintf("ok 0 262144 True\nerror %d 262144 EIO\nerror %d 131072 EIO\nok %d 262144 True\nerror %d 1048576 EIO\n", g+786432, g-65536, g-262144, g)
			if cut.name == "inside" {
				wantOut = fmt.Sprintf("ok 0 262144 True\nok %d 262144 True\nok %d 131072 True\nok %d 262144 True\nok %d 1048576 True\n", g+786432, g-65536, g-262144, g)
			}
			if out.String() != wantOut {
				t.Errorf("nbdsh:\n%s\nwant:\n%s", out.String(), wantOut)
			}
		})
	}
}

// TestServeMappedBadL2 serves a qcow2 image whose L2 entry for one data
// cluster points past the end of the file: a READ of that cluster, alone
// or with its neighbours, gets EIO, never other bytes, and the connection
// goes on: the READs around it carry qemu-img's bytes.
func TestServeMappedBadL2(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "nbdsh")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	imagetest.MakeSource(t, src, 2<<20, 5, imagetest.Source{MaxRun: 64 << 10, Label: "badl2"})
	p := filepath.Join(dir, "bad.qcow2")
	imagetest.QemuImg(t, "convert", "-f", "raw", "-O", "qcow2", src, p)
	want := imagetest.QemuRaw(t, p, "qcow2")
	wantPath := filepath.Join(dir, "want.raw")
	if err := os.WriteFile(wantPath, want, 0o644); err != nil {
		t.Fatal(err)
	}
	// A 64 KiB data cluster qemu-img map places in the file, after the
	// first 256 KiB of the disk.
	var guest, host int64 = -1, -1
	for _, e := range imagetest.QemuMap(t, p, "qcow2") {
		if e.Offset != nil && e.Data && e.Start >= 256<<10 && e.Start+e.Length < 2<<20-256<<10 {
			guest, host = (e.Start+65535)&^65535, *e.Offset+(e.Start+65535)&^65535-e.Start
			if guest+65536 <= e.Start+e.Length {
				break
			}
			guest = -1
		}
	}
	if guest < 0 {
		t.Fatal("no whole data cluster in qemu-img map")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Its L2 entry: the host offset with the COPIED flag, 8-byte aligned.
	entry := binary.BigEndian.AppendUint64(nil, uint64(host)|1<<63)
	at := -1
	for i := 0; i+8 <= len(b); i += 8 {
		if bytes.Equal(b[i:i+8], entry) {
			if at >= 0 {
				t.Fatalf("two L2 entries %x", entry)
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no L2 entry %x", entry)
	}
	binary.BigEndian.PutUint64(b[at:], 1<<40|1<<63)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ep, stop := serveOn(t, &nbd.Server{Exports: []nbd.Export{{Source: img}}})
	defer stop()
	script := filepath.Join(dir, "bad.py")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`
g = %d
f = open("%s", "rb").read()
for off, n in [(0, 262144), (g, 65536), (g - 65536, 262144), (g - 100000, 100000), (g + 1000, 4096), (g + 65536, 131072)]:
    try:
        b = h.pread(n, off)
        print("ok", off, n, b == f[off:off + n])
    except nbd.Error as e:
        print("error", off, n, e.errno)
`, guest, wantPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if st, err := nbd.RunCaptive(ctx, nbdshPath+` -u "$uri" -c "exec(open('`+script+`').read())"`, ep, &out, &out); err != nil || st != 0 {
		t.Fatalf("nbdsh: %d %v\n%s", st, err, out.String())
	}
	g := guest
	wantOut := fmt.Sprintf("ok 0 262144 True\nerror %d 65536 EIO\nerror %d 262144 EIO\nok %d 100000 True\nerror %d 4096 EIO\nok %d 131072 True\n", g, g-65536, g-100000, g+1000, g+65536)
	if out.String() != wantOut {
		t.Errorf("nbdsh:\n%s\nwant:\n%s", out.String(), wantOut)
	}
}
