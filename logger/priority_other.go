//go:build !linux

package logger

// lowerPriority does nothing here: only Linux sets one thread's nice.
func lowerPriority() error { return nil }
