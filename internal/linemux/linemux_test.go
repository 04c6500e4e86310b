package linemux

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// TestNoCutLines feeds a command's lines in random pieces (as a serial
// console writes them) and trace lines at random moments from another
// goroutine: every line of each must come out whole, in its order.
func TestNoCutLines(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "bmaplogger")
	var guest, trace []string
	for i := range 300 {
		guest = append(guest, fmt.Sprintf("guest line %d: %s", i, strings.Repeat("x", i%37)))
		trace = append(trace, fmt.Sprintf("read f /dev/sda1 /file%d", i))
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		all := strings.Join(guest, "\n") + "\n"
		for len(all) > 0 {
			n := min(len(all), 1+r.IntN(9))
			m.Command().Write([]byte(all[:n]))
			all = all[n:]
		}
	}()
	go func() {
		defer wg.Done()
		for _, l := range trace {
			m.Trace().Write([]byte(l + "\n"))
		}
	}()
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var gotG, gotT []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "guest line "):
			gotG = append(gotG, l)
		case strings.HasPrefix(l, "read f "):
			gotT = append(gotT, l)
		default:
			t.Fatalf("a line was cut or mixed: %q", l)
		}
	}
	if strings.Join(gotG, "\n") != strings.Join(guest, "\n") || strings.Join(gotT, "\n") != strings.Join(trace, "\n") {
		t.Fatalf("lines lost or reordered: %d guest, %d trace", len(gotG), len(gotT))
	}
}

// TestHeldWhileMidLine: a prompt without a newline holds the trace; Close
// puts it on a line of its own.
func TestHeldWhileMidLine(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "bmaplogger")
	m.Command().Write([]byte("login: "))
	m.Trace().Write([]byte("read d /dev/sda1 /etc\nread f /dev/sda1 /etc/pa"))
	m.Trace().Write([]byte("sswd\n"))
	if out.String() != "login: " {
		t.Fatalf("trace written mid-line: %q", out.String())
	}
	m.Command().Write([]byte("root\nPassword: "))
	if want := "login: root\nread d /dev/sda1 /etc\nread f /dev/sda1 /etc/passwd\nPassword: "; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	m.Trace().Write([]byte("read f /dev/sda1 /etc/shadow\n"))
	m.Close()
	if want := "login: root\nread d /dev/sda1 /etc\nread f /dev/sda1 /etc/passwd\nPassword: \nread f /dev/sda1 /etc/shadow\n"; out.String() != want {
		t.Fatalf("after Close %q", out.String())
	}
}

// TestBounded: past MaxHeld lines the oldest are counted, not kept.
func TestBounded(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "bmaplogger")
	m.Command().Write([]byte("waiting"))
	for i := range MaxHeld + 5 {
		fmt.Fprintf(m.Trace(), "read %d\n", i)
	}
	m.Command().Write([]byte("\n"))
	if !strings.Contains(out.String(), "[bmaplogger: 5 trace lines not shown here; --log FILE keeps them all]\nread 5\n") {
		t.Fatalf("%.200q", out.String())
	}
}

// countWriter counts the writes made to it.
type countWriter struct {
	bytes.Buffer
	writes int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestLinesInOneWrite: the complete trace lines of one Write go out in one
// write (a console sink's 64 KiB buffer is one write(2), not one per
// line), an incomplete last line waits for its end, and the lines held
// while the command was mid-line go out in one write too.
func TestLinesInOneWrite(t *testing.T) {
	var out countWriter
	m := New(&out, "bmaplogger")
	m.Trace().Write([]byte("read f /dev/sda1 /a\nread f /dev/sda1 /b\nread f /dev/sda1 /c\nread f /dev/sda1 /d"))
	if want := "read f /dev/sda1 /a\nread f /dev/sda1 /b\nread f /dev/sda1 /c\n"; out.String() != want || out.writes != 1 {
		t.Fatalf("%d writes of %q, want 1 of %q", out.writes, out.String(), want)
	}
	m.Trace().Write([]byte("ir/e\nread f /dev/sda1 /f\n"))
	if want := "read f /dev/sda1 /a\nread f /dev/sda1 /b\nread f /dev/sda1 /c\nread f /dev/sda1 /dir/e\nread f /dev/sda1 /f\n"; out.String() != want || out.writes != 2 {
		t.Fatalf("%d writes of %q, want 2 of %q", out.writes, out.String(), want)
	}
	out.Reset()
	out.writes = 0
	m.Command().Write([]byte("login: "))
	for _, l := range []string{"read d /dev/sda1 /etc\n", "read f /dev/sda1 /etc/passwd\nread f /dev/sda1 /etc/sh", "adow\n"} {
		m.Trace().Write([]byte(l))
	}
	m.Command().Write([]byte("root\n"))
	if want := "login: root\nread d /dev/sda1 /etc\nread f /dev/sda1 /etc/passwd\nread f /dev/sda1 /etc/shadow\n"; out.String() != want || out.writes != 3 {
		t.Fatalf("%d writes of %q, want 3 (prompt, line, held lines) of %q", out.writes, out.String(), want)
	}
}

// BenchmarkTrace: a console sink's 64 KiB buffers of trace lines through
// the mux to a writer that counts its writes (each would be a write(2)).
func BenchmarkTrace(b *testing.B) {
	var buf []byte
	for i := 0; len(buf) < 64<<10-64; i++ {
		buf = fmt.Appendf(buf, "read f /dev/sda1 /usr/lib/x86_64-linux-gnu/lib%d.so\n", i)
	}
	var out countWriter
	m := New(&out, "bmaplogger")
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		out.Reset()
		m.Trace().Write(buf)
	}
	b.ReportMetric(float64(out.writes)/float64(b.N), "writes/op")
}
