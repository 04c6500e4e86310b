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
	k, err := m.out.Write(p[i+1:])
	if k > 0 {
		m.midLine = true
	}
	return n + k, err
}

type traceWriter struct{ m *Mux }

func (w traceWriter) Write(p []byte) (int, error) {
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	total := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.partial = append(m.partial, p...)
			break
		}
		line := append(m.partial, p[:i+1]...)
		m.partial = nil
		p = p[i+1:]
		if !m.midLine && len(m.held) == 0 {
			if _, err := m.out.Write(line); err != nil {
				return total - len(p), err
			}
			continue
		}
		if len(m.held) >= MaxHeld {
			m.held = m.held[1:]
			m.dropped++
		}
		m.held = append(m.held, bytes.Clone(line))
	}
	return total, nil
}

func (m *Mux) flushHeld() error {
	if m.dropped > 0 {
		if _, err := fmt.Fprintf(m.out, "[%s: %d trace lines not shown here; --log FILE keeps them all]\n", m.name, m.dropped); err != nil {
			return err
		}
		m.dropped = 0
	}
	for _, l := range m.held {
		if _, err := m.out.Write(l); err != nil {
			return err
		}
	}
	m.held = m.held[:0]
	return nil
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
