package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestNBDMap maps the sample disk read from nbdkit (its xz filter) over a
// Unix socket and compares the map with the map of the raw file.
func TestNBDMap(t *testing.T) {
	testutil.NeedTools(t, "nbdkit", "xz")
	const sample = "../../testimages/sample.img.xz"
	dir := t.TempDir()
	raw := filepath.Join(dir, "sample.img")
	out, err := exec.Command("xz", "-dc", sample).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(raw, out, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nbd.sock")
	srv := exec.Command("nbdkit", "-r", "-f", "-U", sock, "--filter=xz", "file", sample)
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); close(exited) }()
	t.Cleanup(func() { srv.Process.Kill(); <-exited })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nbdkit did not listen: %s", srvOut.String())
		}
	}
	code, want, stderr := runCmd("-q", "-o", "-", raw)
	if code != 0 {
		t.Fatalf("raw: status %d: %s", code, stderr)
	}
	code, got, stderr := runCmd("-q", "-o", "-", "nbd://?socket="+sock)
	if code != 0 {
		t.Fatalf("nbd: status %d: %s", code, stderr)
	}
	if got != want || len(want) == 0 {
		t.Errorf("map over NBD differs from the raw file's:\n%s\nraw:\n%s", got, want)
	}
}
