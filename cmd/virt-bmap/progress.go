package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws one line on a terminal, at most ten times a second.
type progress struct {
	w     io.Writer
	start time.Time
	last  time.Time
	disk  string
	drawn bool
}

func (p *progress) update(objects, bytes int64) {
	if objects&255 != 0 { // looking at the clock for every object costs more than the object
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r\x1b[K%s: %d objects (%.0f/s), %s walked", p.disk, objects, float64(objects)/secs, humanSize(bytes))
	p.drawn = true
}

// clear removes the line; it is safe on a nil progress.
func (p *progress) clear() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
