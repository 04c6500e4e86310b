package image

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// allocRun is a run of an image with one allocation state, as qemu-img
// map and nbdinfo --map give it.
type allocRun struct {
	off, len   int64
	data, zero bool
}

// mergeRuns merges touching runs with the same state.
func mergeRuns(in []allocRun) []allocRun {
	var out []allocRun
	for _, r := range in {
		if n := len(out); n > 0 && out[n-1].off+out[n-1].len == r.off && out[n-1].data == r.data && out[n-1].zero == r.zero {
			out[n-1].len += r.len
			continue
		}
		out = append(out, r)
	}
	return out
}

// qemuImgMap runs qemu-img map --output=json on path.
func qemuImgMap(t *testing.T, path, format string) []allocRun {
	t.Helper()
	out, err := exec.Command("qemu-img", "map", "-U", "-f", format, "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img map %s: %v", path, err)
	}
	var m []struct {
		Start, Length int64
		Data, Zero    bool
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var runs []allocRun
	for _, e := range m {
		runs = append(runs, allocRun{e.Start, e.Length, e.Data, e.Zero})
	}
	return mergeRuns(runs)
}

// nbdinfoMap serves img and runs nbdinfo --map --json against it.
func nbdinfoMap(t *testing.T, img *Image) []allocRun {
	t.Helper()
	s := &nbd.Server{Exports: []nbd.Export{{Name: "disk", Source: img}}}
	l, ep, cleanup, err := nbd.Listen(nbd.ListenConfig{Unix: "-"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		cleanup()
	})
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := nbd.RunCaptive(ctx, `nbdinfo --map --json "$uri"`, ep, &buf, &buf)
	if err != nil || st != 0 {
		t.Fatalf("nbdinfo --map: status %d, %v\n%s", st, err, buf.String())
	}
	out := buf.String()
	var m []struct {
		Offset, Length int64
		Type           uint32
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("nbdinfo --map: %v\n%s", err, out)
	}
	var runs []allocRun
	for _, e := range m {
		runs = append(runs, allocRun{e.Offset, e.Length, e.Type&1 == 0, e.Type&2 != 0}) // NBD_STATE_HOLE, NBD_STATE_ZERO
	}
	return mergeRuns(runs)
}

// TestMapMatchesQemu serves images through image.Open and checks that
// nbdinfo --map of our export gives the data and zero runs qemu-img map
// gives for the file (with its chain).
func TestMapMatchesQemu(t *testing.T) {
	testutil.NeedTools(t, "nbdinfo", "qemu-img", "qemu-io")
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	io := func(file, format string, cmds ...string) {
		t.Helper()
		args := []string{"-f", format}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		run("qemu-io", append(args, file)...)
	}
	// A sparse raw disk: data, a hole, data, a hole at the end.
	sparse := filepath.Join(dir, "sparse.raw")
	run("truncate", "-s", "4M", sparse)
	io(sparse, "raw", "write -P 7 0 192k", "write -P 9 1m 64k")
	// A qcow2 chain: compressed base, overlay with data, zero clusters
	// over backing data, and an unallocated tail past a short base.
	run("qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "3M")
	io("base.qcow2", "qcow2", "write -P 1 0 256k", "write -z 1m 128k", "write -P 3 2m 64k")
	run("qemu-img", "convert", "-c", "-O", "qcow2", "base.qcow2", "basec.qcow2")
	run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "basec.qcow2", "-F", "qcow2", "top.qcow2", "6M")
	io("top.qcow2", "qcow2", "write -P 2 2m 64k", "write -z 64k 64k", "write -P 4 4m 4k", "write -z 5m 8k")
	// An overlay on a sparse raw file, with extended L2 subclusters.
	if err := os.WriteFile(filepath.Join(dir, "base.raw"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run("truncate", "-s", "4M", "base.raw")
	io("base.raw", "raw", "write -P 5 512k 64k", "write -P 6 3m 1m")
	run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-b", "base.raw", "-F", "raw", "sub.qcow2")
	io("sub.qcow2", "qcow2", "write -P 7 0 4k", "write -z 520k 4k", "write -P 8 1m 2k")
	// VDI, dynamic and static (whose blocks that are holes of the file
	// qemu reports as allocated zeros), from a sparse raw disk.
	run("qemu-img", "convert", "-O", "vdi", sparse, "dyn.vdi")
	run("qemu-img", "convert", "-O", "vdi", "-o", "static=on", sparse, "static.vdi")
	for _, c := range []struct{ name, path, format string }{
		{"vdi-dynamic", filepath.Join(dir, "dyn.vdi"), "vdi"},
		{"vdi-static", filepath.Join(dir, "static.vdi"), "vdi"},
		{"sparse-raw", sparse, "raw"},
		{"qcow2-chain", filepath.Join(dir, "top.qcow2"), "qcow2"},
		{"qcow2-compressed", filepath.Join(dir, "basec.qcow2"), "qcow2"},
		{"qcow2-extl2-on-raw", filepath.Join(dir, "sub.qcow2"), "qcow2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			// Closed after nbdinfoMap's server is shut down (cleanups
			// run last first): a connection may still be starting.
			t.Cleanup(func() { img.Close() })
			want := qemuImgMap(t, c.path, c.format)
			got := nbdinfoMap(t, img)
			t.Logf("%d runs: %v", len(got), got)
			if len(got) != len(want) {
				t.Fatalf("nbdinfo --map of our export:\n%v\nqemu-img map:\n%v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("run %d: ours %+v, qemu-img map %+v\nours: %v\nqemu: %v", i, got[i], want[i], got, want)
				}
			}
		})
	}
}
