package nbd

import (
	"testing"
	"time"
)

// TestNow: now follows the monotonic clock and stays within a
// millisecond of time.Now's wall time (no clock step during the test).
func TestNow(t *testing.T) {
	a := now()
	time.Sleep(2 * time.Millisecond)
	b := now()
	if d := b.Sub(a); d < 2*time.Millisecond || d > time.Second {
		t.Fatalf("now advanced %v over a 2 ms sleep", d)
	}
	if d := time.Since(b); d < 0 || d > time.Second {
		t.Fatalf("time.Since(now()) = %v", d)
	}
	if d := time.Now().Round(0).Sub(now().Round(0)); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("now's wall time is %v off time.Now's", d)
	}
}

func BenchmarkClock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
	b.Run("now", func(b *testing.B) {
		for b.Loop() {
			_ = now()
		}
	})
}
