package fsfile

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUnixMode checks UnixMode against Go's own conversion (os.Lstat) of
// real st_mode values on this host: a file with setuid/setgid bits, a
// directory with the sticky bit, a symlink, a FIFO, a socket and
// /dev/null.
func TestUnixMode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640|fs.ModeSetuid|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(dir, "d")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o1777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "p")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range []string{file, sticky, link, fifo, sock, "/dev/null"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := UnixMode(st.Mode); got != fi.Mode() {
			t.Errorf("%s: UnixMode(%#o) = %v, os.Lstat says %v", p, st.Mode, got, fi.Mode())
		}
	}
	if got := UnixMode(0o160644); got != fs.ModeIrregular|0o644 {
		t.Errorf("UFS whiteout: %v, want irregular", got)
	}
}
