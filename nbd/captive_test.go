package nbd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunCaptive(t *testing.T) {
	ep := &Endpoint{UnixSocket: "/tmp/x y/it's.sock"}
	ep.SetExport("disk 1", TLSRequire)
	for _, tc := range []struct {
		name, cmd string
		status    int
		out       string
	}{
		{"exit", "exit 3", 3, ""},
		{"signal", "kill -KILL $$", 128 + 9, ""},
		{"vars", `printf '%s|%s|%s|%s|%s|%s' "$uri" "$nbd" "$unixsocket" "$port" "$exportname" "$tls"`, 0,
			ep.URI + "|" + ep.URI + "|/tmp/x y/it's.sock||disk 1|2"},
		{"env", `sh -c 'printf %s "$uri"'`, 0, ep.URI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			st, err := RunCaptive(context.Background(), tc.cmd, ep, &out, &out)
			if err != nil || st != tc.status || out.String() != tc.out {
				t.Errorf("status %d, err %v, output %q; want %d, %q", st, err, out.String(), tc.status, tc.out)
			}
		})
	}
	if want := "nbds+unix:///disk%201?socket=%2Ftmp%2Fx+y%2Fit%27s.sock"; ep.URI != want {
		t.Errorf("URI %s, want %s", ep.URI, want)
	}
}

// TestRunCaptiveForwardsSignals sends SIGTERM and SIGINT to the test
// process while a command runs: the command gets them, the test lives on.
func TestRunCaptiveForwardsSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := `trap 'exit 7' TERM INT; touch ` + ready + `; while :; do sleep 0.05; done`
			done := make(chan int, 1)
			go func() {
				st, _ := RunCaptive(context.Background(), cmd, &Endpoint{}, os.Stdout, os.Stderr)
				done <- st
			}()
			for i := 0; ; i++ {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if i > 200 {
					t.Fatal("command did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			syscall.Kill(os.Getpid(), sig)
			select {
			case st := <-done:
				if st != 7 {
					t.Errorf("status %d, want 7 (the trap ran)", st)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("signal not forwarded")
			}
		})
	}
}

func TestRunCaptiveContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st, err := RunCaptive(ctx, "sleep 20", &Endpoint{}, os.Stdout, os.Stderr)
	if err != nil || st != 128+int(syscall.SIGTERM) {
		t.Errorf("status %d, %v; want 143", st, err)
	}
	_, err = RunCaptive(context.Background(), "true", &Endpoint{}, os.Stdout, os.Stderr)
	if err != nil {
		t.Error(err)
	}
	if !strings.HasPrefix(shellQuote("a'b"), "'a'") {
		t.Error(shellQuote("a'b"))
	}
}
