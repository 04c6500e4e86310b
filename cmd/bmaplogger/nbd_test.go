package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestUpstreamNBD serves, traces and maps a disk that nbdkit's xz filter
// serves: bmaplogger opens the nbd+unix URI as its image.
func TestUpstreamNBD(t *testing.T) {
	testutil.NeedTools(t, "nbdkit", "nbdcopy", "xz")
	dir := t.TempDir()
	raw := sampleRaw(t, dir)
	sock := filepath.Join(dir, "up.sock")
	up := exec.Command("nbdkit", "-r", "-f", "-U", sock, "--filter=xz", "file", sampleXZ)
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { up.Wait(); close(exited) }()
	t.Cleanup(func() { up.Process.Kill(); <-exited })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nbdkit did not listen: %s", upOut.String())
		}
	}
	copyPath := filepath.Join(dir, "copy.img")
	logPath := filepath.Join(dir, "console.log")
	_, stderr, st := runCmd(t, "--log", logPath, "nbd+unix:///?socket="+sock, "--run", `nbdcopy "$uri" `+copyPath)
	if st != 0 {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(copyPath)
	if !bytes.Equal(a, b) {
		t.Error("the copy through bmaplogger differs from xz -dc's output")
	}
	console, _ := os.ReadFile(logPath)
	if !strings.Contains(string(console), "/dev/sda") {
		t.Errorf("no traced reads in the console log:\n%.2000s", console)
	}
}
