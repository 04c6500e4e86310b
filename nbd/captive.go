package nbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RunCaptive runs command through /bin/sh -c, as nbdkit --run does, once
// the server listens at ep. The shell variables and environment variables
// uri, nbd (the same as uri), unixsocket, port, exportname and tls (0, 1, 2
// for off, on, require) are set, so "$uri" in the command names the
// server. SIGINT and SIGTERM received meanwhile are forwarded to the
// command; when ctx ends the command gets SIGTERM (and SIGKILL 10 s later).
// The status is the command's exit status, 128+N if signal N killed it; err
// is set only when the command could not be run.
func RunCaptive(ctx context.Context, command string, ep *Endpoint, stdout, stderr io.Writer) (status int, err error) {
	vars := [][2]string{
		{"uri", ep.URI}, {"nbd", ep.URI}, {"unixsocket", ep.UnixSocket}, {"port", ep.Port},
		{"exportname", ep.ExportName}, {"tls", strconv.Itoa(int(ep.Mode))},
	}
	var script strings.Builder
	env := os.Environ()
	for _, v := range vars {
		fmt.Fprintf(&script, "%s=%s\n", v[0], shellQuote(v[1]))
		env = append(env, v[0]+"="+v[1])
	}
	script.WriteString(command)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script.String())
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 127, fmt.Errorf("nbd: --run: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("nbd: --run: %w", err)
	}
	return 0, nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
