package client

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// allExtents maps the whole export through Extents, asking in pieces of
// step bytes at odd offsets to exercise the trimming.
func allExtents(t testing.TB, c *Client, step int64) []alloc.Extent {
	t.Helper()
	var out []alloc.Extent
	for off := int64(0); off < c.Size(); {
		ext, err := c.Extents(off, min(step, c.Size()-off))
		if err != nil {
			t.Fatal(err)
		}
		if len(ext) == 0 || ext[0].Off != off {
			t.Fatalf("Extents(%d) = %v: does not start at %d", off, ext, off)
		}
		for _, e := range ext {
			out = alloc.Append(out, e)
			off = e.End()
		}
	}
	return out
}

// dataRuns reduces extents to data vs not (hole or zero), merged, as
// "off+len" strings for comparison.
func dataRuns(ext []alloc.Extent) []string {
	var merged []alloc.Extent
	for _, e := range ext {
		data := !e.Hole && !e.Zero
		merged = alloc.Append(merged, alloc.Extent{Off: e.Off, Len: e.Len, Zero: !data})
	}
	var s []string
	for _, e := range merged {
		if !e.Zero {
			s = append(s, strconv.FormatInt(e.Off, 10)+"+"+strconv.FormatInt(e.Len, 10))
		}
	}
	return s
}

// nbdinfoMap is `nbdinfo --map --json` of uri as extents.
func nbdinfoMap(t testing.TB, uri string) []alloc.Extent {
	t.Helper()
	testutil.NeedTools(t, "nbdinfo")
	out := testutil.Run(t, "", "nbdinfo", "--map", "--json", uri)
	var m []struct {
		Offset, Length int64
		Type           int
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("nbdinfo --map --json: %v\n%s", err, out)
	}
	var ext []alloc.Extent
	for _, e := range m {
		ext = append(ext, alloc.Extent{Off: e.Offset, Len: e.Length, Hole: e.Type&1 != 0, Zero: e.Type&2 != 0})
	}
	return ext
}

// qemuImgMap is `qemu-img map --output=json` of a file as extents.
func qemuImgMap(t testing.TB, path, format string) []alloc.Extent {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	out := testutil.Run(t, "", "qemu-img", "map", "--output=json", "-f", format, path)
	var m []struct {
		Start, Length int64
		Data, Zero    bool
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var ext []alloc.Extent
	for _, e := range m {
		ext = append(ext, alloc.Extent{Off: e.Start, Len: e.Length, Hole: !e.Data, Zero: e.Zero})
	}
	return ext
}

func sameRuns(t testing.TB, what string, got, want []alloc.Extent) {
	t.Helper()
	g, w := dataRuns(got), dataRuns(want)
	if strings.Join(g, " ") != strings.Join(w, " ") {
		t.Errorf("%s: data runs\n got %v\nwant %v", what, g, w)
	}
}

func TestNbdkitFile(t *testing.T) {
	path, want := makeDisk(t)
	uri, _ := nbdkit(t, "file", path)
	c := dial(t, uri, Options{})
	info := c.Info()
	if !info.StructuredReplies || !info.BlockStatus || !info.Go {
		t.Errorf("negotiated %+v, want structured replies, block status and NBD_OPT_GO", info)
	}
	checkRead(t, c, want)
	hits, misses := c.CacheStats()
	if hits == 0 || misses == 0 {
		t.Errorf("cache hits %d misses %d: small reads should go through the cache", hits, misses)
	}
	ext := allExtents(t, c, 1<<40)
	sameRuns(t, "nbdinfo --map", ext, nbdinfoMap(t, uri))
	sameRuns(t, "qemu-img map", ext, qemuImgMap(t, path, "raw"))
	sameRuns(t, "pieces", allExtents(t, c, 64<<10+513), ext)
	// Past the end.
	if n, err := c.ReadAt(make([]byte, 10), diskSize); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v, want 0, EOF", n, err)
	}
	if _, err := c.ReadAt(make([]byte, 10), -1); err == nil {
		t.Error("ReadAt at -1 succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := c.ReadAt(make([]byte, 1<<20), 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
}

// TestNbdkitMemory writes the disk into nbdkit's memory plugin with
// libnbd's nbdcopy and reads it back.
func TestNbdkitMemory(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy")
	path, want := makeDisk(t)
	sock := socketPath(t)
	start(t, sock, 0, "nbdkit", "-f", "-U", sock, "memory", strconv.Itoa(diskSize))
	uri := "nbd+unix:///?socket=" + sock
	testutil.Run(t, "", "nbdcopy", path, uri)
	c := dial(t, uri, Options{CacheSize: -1})
	checkRead(t, c, want)
	sameRuns(t, "nbdinfo --map", allExtents(t, c, 1<<40), nbdinfoMap(t, uri))
}

// TestNbdkitXZ reads an xz file through nbdkit's xz filter, the seed
// command's server.
func TestNbdkitXZ(t *testing.T) {
	testutil.NeedTools(t, "xz")
	path, want := makeDisk(t)
	testutil.Run(t, "", "xz", "-k", "--block-size=256KiB", path)
	uri, _ := nbdkit(t, "--filter=xz", "file", path+".xz")
	c := dial(t, "nbd://?socket="+strings.TrimPrefix(uri, "nbd+unix:///?socket="), Options{})
	checkRead(t, c, want)
	sameRuns(t, "nbdinfo --map", allExtents(t, c, 1<<40), nbdinfoMap(t, uri))
}

// TestNbdkitPartitioning reads a disk nbdkit assembles from two
// partitions, compared with nbdcopy's copy of it.
func TestNbdkitPartitioning(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy")
	p1, _ := makeDisk(t)
	p2, _ := makeDisk(t)
	uri, _ := nbdkit(t, "partitioning", p1, p2, "partition-type=gpt")
	copyPath := filepath.Join(t.TempDir(), "copy.img")
	testutil.Run(t, "", "nbdcopy", uri, copyPath)
	want, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, uri, Options{})
	checkRead(t, c, want)
	if string(want[512+0:512+8]) != "EFI PART" {
		t.Error("no GPT header at LBA 1")
	}
}

// TestBlockSizePolicy makes nbdkit enforce a 4 KiB minimum and a 64 KiB
// maximum block size, failing requests that break them: reads at odd
// offsets and of several MiB must be aligned and split.
func TestBlockSizePolicy(t *testing.T) {
	path, want := makeDisk(t)
	uri, _ := nbdkit(t, "--filter=blocksize-policy", "file", path,
		"blocksize-minimum=4096", "blocksize-preferred=16384", "blocksize-maximum=65536", "blocksize-error-policy=error")
	for _, cache := range []int64{0, -1} {
		c := dial(t, uri, Options{CacheSize: cache})
		if i := c.Info(); i.MinBlock != 4096 || i.MaxBlock != 65536 {
			t.Fatalf("block sizes %+v", i)
		}
		checkRead(t, c, want)
		p := make([]byte, 3)
		if _, err := c.ReadAt(p, 4097); err != nil || string(p) != string(want[4097:4100]) {
			t.Errorf("3 bytes at 4097: %v", err)
		}
		ext, err := c.Extents(1<<20+1, 1000)
		if err != nil || len(ext) != 1 || ext[0].Off != 1<<20+1 || ext[0].Len != 1000 {
			t.Errorf("Extents(1 MiB+1, 1000) = %v, %v", ext, err)
		}
	}
}

// TestQemuNbd reads qcow2, VHDX, VHD and VMDK files served by qemu-nbd:
// the export is the guest's bytes, its map qemu-img's.
func TestQemuNbd(t *testing.T) {
	path, want := makeDisk(t)
	for _, format := range []string{"qcow2", "vhdx", "vpc", "vmdk"} {
		t.Run(format, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk."+format)
			testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", format, path, img)
			sock := socketPath(t)
			start(t, sock, 0, "qemu-nbd", "-r", "-t", "-e", "8", "-k", sock, "-x", "disk", "-f", format, img)
			uri := "nbd+unix:///disk?socket=" + sock
			c := dial(t, uri, Options{})
			// A VHD's size is rounded up to its geometry: compare the disk's part.
			if format == "vpc" && c.Size() >= diskSize {
				got := make([]byte, diskSize)
				if _, err := c.ReadAt(got, 0); err != nil || string(got) != string(want) {
					t.Fatalf("vpc: bytes differ (%v)", err)
				}
				return
			}
			checkRead(t, c, want)
			ext := allExtents(t, c, 1<<40)
			sameRuns(t, "qemu-img map", ext, qemuImgMap(t, img, format))
			sameRuns(t, "nbdinfo --map", ext, nbdinfoMap(t, uri))
			if format != "qcow2" {
				return
			}
			// A missing export: NBD_REP_ERR_UNKNOWN, named.
			_, err := Dial("nbd+unix:///nope?socket="+sock, Options{})
			if !errors.Is(err, ErrExportNotFound) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), sock) {
				t.Errorf("missing export: %v", err)
			}
			// qemu's own syntax.
			c2 := dial(t, "nbd:unix:"+sock+":exportname=disk", Options{})
			if c2.Size() != diskSize {
				t.Errorf("size %d", c2.Size())
			}
		})
	}
}

// TestTCP reads over TCP from qemu-nbd and nbdkit.
func TestTCP(t *testing.T) {
	path, want := makeDisk(t)
	port := freePort(t)
	start(t, "", port, "qemu-nbd", "-r", "-t", "-e", "8", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-f", "raw", path)
	c := dial(t, "nbd://127.0.0.1:"+strconv.Itoa(port), Options{})
	checkRead(t, c, want)
	c2 := dial(t, "nbd:127.0.0.1:"+strconv.Itoa(port), Options{})
	checkRead(t, c2, want)

	port = freePort(t)
	start(t, "", port, "nbdkit", "-r", "-f", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "file", path)
	c3 := dial(t, "nbd://localhost:"+strconv.Itoa(port)+"/", Options{})
	checkRead(t, c3, want)
}

// TestReadError: nbdkit's error filter fails reads with EIO.
func TestReadError(t *testing.T) {
	path, _ := makeDisk(t)
	uri, _ := nbdkit(t, "--filter=error", "file", path, "error-pread=EIO", "error-pread-rate=100%")
	c := dial(t, uri, Options{})
	_, err := c.ReadAt(make([]byte, 512), 4096)
	if !errors.Is(err, nbd.EIO) || !strings.Contains(err.Error(), uri) {
		t.Errorf("read error %v: want EIO naming %s", err, uri)
	}
	// The connection goes on.
	if _, err := c.Extents(0, 4096); err != nil {
		t.Errorf("Extents after a read error: %v", err)
	}
}

// TestServerDies: a killed server is an error, a stopped one a timeout,
// never a hang.
func TestServerDies(t *testing.T) {
	path, want := makeDisk(t)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		t.Run(sig.String(), func(t *testing.T) {
			uri, s := nbdkit(t, "file", path)
			c := dial(t, uri, Options{CacheSize: -1, Timeout: 2 * time.Second})
			p := make([]byte, 64<<10)
			if _, err := c.ReadAt(p, 0); err != nil || string(p) != string(want[:len(p)]) {
				t.Fatalf("first read: %v", err)
			}
			s.kill(sig)
			done := make(chan error, 1)
			go func() {
				for {
					if _, err := c.ReadAt(p, 1<<20); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				if !strings.Contains(err.Error(), uri) {
					t.Errorf("error %v does not name %s", err, uri)
				}
				t.Log(err)
			case <-time.After(20 * time.Second):
				t.Fatal("read still hangs after 20 s")
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	// Nobody listening.
	if _, err := Dial("nbd+unix:///?socket="+filepath.Join(t.TempDir(), "none"), Options{}); err == nil {
		t.Error("Dial to no socket succeeded")
	}
}

// TestOwnServer: a round trip with our package nbd, including an export
// with a 512-byte minimum block size that fails unaligned requests.
func TestOwnServer(t *testing.T) {
	path, want := makeDisk(t)
	f, err := nbd.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &nbd.Server{Exports: []nbd.Export{
		{Name: "disk", Source: f},
		{Name: "aligned", Source: f, MinBlockSize: 512},
	}}
	l, ep, cleanup, err := nbd.Listen(nbd.ListenConfig{Unix: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	go s.Serve(l)
	defer s.Close()
	for _, name := range []string{"disk", "aligned"} {
		ep.SetExport(name, nbd.TLSOff)
		c := dial(t, ep.URI, Options{CacheSize: 64 << 10})
		checkRead(t, c, want)
		p := make([]byte, 7)
		if _, err := c.ReadAt(p, 1<<20+3); err != nil || string(p) != string(want[1<<20+3:1<<20+10]) {
			t.Errorf("%s: 7 bytes at 1 MiB+3: %v", name, err)
		}
		sameRuns(t, name, allExtents(t, c, 1<<40), qemuImgMap(t, path, "raw"))
	}
	ep.SetExport("nope", nbd.TLSOff)
	if _, err := Dial(ep.URI, Options{}); !errors.Is(err, ErrExportNotFound) {
		t.Errorf("missing export: %v", err)
	}
}

// TestOldstyle reads from nbdkit in oldstyle mode, the oldest handshake:
// no options, no structured replies, no block status. (The
// NBD_OPT_EXPORT_NAME fallback, for which no server at hand lacks
// NBD_OPT_GO, is in TestGoodFakeServer.)
func TestOldstyle(t *testing.T) {
	path, want := makeDisk(t)
	sock := socketPath(t)
	start(t, sock, 0, "nbdkit", "-r", "-f", "--oldstyle", "-U", sock, "file", path)
	c := dial(t, "nbd+unix:///?socket="+sock, Options{})
	if i := c.Info(); !i.Oldstyle || i.StructuredReplies {
		t.Errorf("negotiated %+v, want oldstyle", i)
	}
	checkRead(t, c, want)
	if ext := allExtents(t, c, 1<<40); len(ext) != 1 || ext[0].Len != diskSize {
		t.Errorf("extents without block status: %v", ext)
	}
}
