// Package linemux lets two writers share one terminal without cutting
// each other's lines: a command's output (a guest's serial console under
// qemu -nographic, which writes a line in many pieces) and a trace that
// writes whole lines of its own. The command's bytes go through at once,
// unchanged; a trace line is written only where the command's output is
// at the start of a line, and held (in order) while the command is
// mid-line, until its next newline. Held lines are bounded: past MaxHeld
// the oldest are counted instead of kept, and the count is printed where
// they would have been ("[bmaplogger: 120 trace lines not shown here]").
// Close writes whatever is still held.
package linemux

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// MaxHeld is how many trace lines are held while the command is mid-line.
const MaxHeld = 10000

// Mux merges a command's output and trace lines onto Out.
type Mux struct {
	mu      sync.Mutex
	out     io.Writer
	midLine bool     // the command's last byte was not a newline
	held    [][]byte // complete trace lines waiting for a line boundary
	dropped int      // trace lines not kept (held past MaxHeld)
	partial []byte   // the trace's current incomplete line
	scratch []byte   // flushHeld's buffer
	name    string
}

// New returns a Mux writing to out; name is the program named in the
// line that counts dropped trace lines.
func New(out io.Writer, name string) *Mux { return &Mux{out: out, name: name} }

// Command is the writer for the command's output.
func (m *Mux) Command() io.Writer { return commandWriter{m} }

// Trace is the writer for the trace's lines.
func (m *Mux) Trace() io.Writer { return traceWriter{m} }

type commandWriter struct{ m *Mux }

func (w commandWriter) Write(p []byte) (int, error) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	// Up to the last newline, the command's bytes; then, at the line
	// boundary, the trace lines held meanwhile; then the rest.
	i := bytes.LastIndexByte(p, '\n')
	if i < 0 || len(m.held) == 0 && m.dropped == 0 {
		n, err := m.out.Write(p)
		if n > 0 {
			m.midLine = p[n-1] != '\n'
		}
		return n, err
	}
	n, err := m.out.Write(p[:i+1])
	if err != nil {
		return n, err
	}
	m.midLine = false
	if err := m.flushHeld(); err != nil {
		return n, err
	}
	if i+1 == len(p) {
		return n, nil
	}
	k, err := m.out.Write(p[i+1:])
	if k > 0 {
		m.midLine = true
	}
	return n + k, err
}

type traceWriter struct{ m *Mux }

// Write writes the complete lines of p, with the incomplete line a
// previous Write left, in one write to Out when the command is at the
// start of a line and nothing is held (a console sink hands over 64 KiB
// of lines at a time: one write(2) for them all, not one per line), and
// holds them otherwise. An incomplete last line waits for its end.
func (w traceWriter) Write(p []byte) (int, error) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	i := bytes.LastIndexByte(p, '\n')
	if i < 0 {
		m.partial = append(m.partial, p...)
		return len(p), nil
	}
	lines := p[:i+1]
	if len(m.partial) > 0 {
		lines = append(m.partial, lines...)
	}
	m.partial = m.partial[:0]
	if !m.midLine && len(m.held) == 0 {
		if _, err := m.out.Write(lines); err != nil {
			return 0, err
		}
	} else {
		m.hold(lines)
	}
	m.partial = append(m.partial, p[i+1:]...)
	return len(p), nil
}

// hold keeps the complete lines of b (copied) until the command's next
// newline, the oldest counted instead of kept past MaxHeld.
func (m *Mux) hold(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if len(m.held) >= MaxHeld {
			m.held = m.held[1:]
			m.dropped++
		}
		m.held = append(m.held, bytes.Clone(b[:i+1]))
		b = b[i+1:]
	}
}

// flushHeld writes the count of dropped lines and the held lines, in one
// write.
func (m *Mux) flushHeld() error {
	b := m.scratch[:0]
	if m.dropped > 0 {
		b = fmt.Appendf(b, "[%s: %d trace lines not shown here; --log FILE keeps them all]\n", m.name, m.dropped)
		m.dropped = 0
	}
	for _, l := range m.held {
		b = append(b, l...)
	}
	clear(m.held)
	m.held = m.held[:0]
	if len(b) <= 1<<20 {
		m.scratch = b
	}
	if len(b) == 0 {
		return nil
	}
	_, err := m.out.Write(b)
	return err
}

// Close writes the held trace lines (after a newline when the command
// stopped mid-line) and the trace's incomplete last line.
func (m *Mux) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.held) == 0 && m.dropped == 0 && len(m.partial) == 0 {
		return nil
	}
	if m.midLine {
		if _, err := m.out.Write([]byte{'\n'}); err != nil {
			return err
		}
		m.midLine = false
	}
	if err := m.flushHeld(); err != nil {
		return err
	}
	if len(m.partial) > 0 {
		_, err := m.out.Write(append(m.partial, '\n'))
		m.partial = nil
		return err
	}
	return nil
}
