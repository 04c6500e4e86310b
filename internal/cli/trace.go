package cli

import (
	"fmt"
	"io"
	"sync"
)

// Trace wraps a disk's reader so that every read is printed to w, as -x
// makes libguestfs' tools print what they do: "read DISK OFFSET LENGTH"
// (hexadecimal offset), one line per read, whole lines even when reads
// run concurrently.
func Trace(r io.ReaderAt, name string, w io.Writer, mu *sync.Mutex) io.ReaderAt {
	return &traceReader{r: r, name: name, w: w, mu: mu}
}

type traceReader struct {
	r    io.ReaderAt
	name string
	w    io.Writer
	mu   *sync.Mutex
}

func (t *traceReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	t.mu.Lock()
	if err != nil && err != io.EOF {
		fmt.Fprintf(t.w, "read %s %#x %d: %v\n", t.name, off, len(p), err)
	} else {
		fmt.Fprintf(t.w, "read %s %#x %d\n", t.name, off, len(p))
	}
	t.mu.Unlock()
	return n, err
}
