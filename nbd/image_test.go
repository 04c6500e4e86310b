package nbd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/image"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/nbd"
)

// TestImageFileBacked: an image.Image of a raw file (what bmaplogger
// serves) is FileBacked, so it takes the sendfile path, and nbdcopy's copy
// of it is the file; a qcow2 image is not FileBacked.
func TestImageFileBacked(t *testing.T) {
	testutil.NeedTools(t, "nbdcopy", "qemu-img")
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.img")
	want := make([]byte, 2<<20+4097)
	for i := range want[:1<<20] {
		want[i] = byte(i*7 + i>>12 + 1)
	}
	copy(want[len(want)-300<<10:], want[:300<<10])
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if f := nbd.Source(img).(nbd.FileBacked).SourceFile(); f == nil {
		t.Fatal("a raw image.Image has no SourceFile")
	}
	s := &nbd.Server{Exports: []nbd.Export{{Source: img}}}
	l, ep, cleanup, err := nbd.Listen(nbd.ListenConfig{Unix: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	go s.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	out := filepath.Join(dir, "copy.img")
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st, err := nbd.RunCaptive(ctx, `nbdcopy --request-size=1048576 "$uri" `+out, ep, &log, &log); st != 0 || err != nil {
		t.Fatalf("nbdcopy: %d %v\n%s", st, err, log.String())
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("nbdcopy's copy differs from the file (%v)", err)
	}

	q := filepath.Join(dir, "disk.qcow2")
	if b, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", q, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, b)
	}
	qimg, err := image.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer qimg.Close()
	if f := qimg.SourceFile(); f != nil {
		t.Error("a qcow2 image.Image gives its file as the data")
	}
}
