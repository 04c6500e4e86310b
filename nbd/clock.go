package nbd

import "time"

// monoBase is the origin of now.
var monoBase = time.Now()

// now is time.Now read from the monotonic clock alone: time.Now reads the
// wall clock and the monotonic clock (two vDSO calls), time.Since of a
// time with a monotonic reading only the second (on the 2-core test
// machine, a VM, 68 ns against 92: `go test -bench Clock ./nbd`; a traced
// request takes one or two: see transmit's lastEnd). The wall time it gives is monoBase's plus the
// elapsed monotonic time: it does not jump when the system's clock is
// set, which a trace's timeline does not want either.
func now() time.Time { return monoBase.Add(time.Since(monoBase)) }
