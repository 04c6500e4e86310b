package logger

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority moves the calling goroutine onto an OS thread of its own
// for the rest of its life and gives that thread the lowest CPU priority
// (nice 19: on Linux nice is a thread's, not only a process's). The
// thread is never unlocked: it ends with the goroutine, so no other
// goroutine ever runs at that priority.
func lowerPriority() error {
	runtime.LockOSThread()
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
