package logger

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
)

// threadNice is the nice value of the calling goroutine's thread, from
// /proc/thread-self/stat (field 19).
func threadNice(t *testing.T) int {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	n, err := strconv.Atoi(f[16])                            // field 19 of the line, 3 is f[0]
	if err != nil {
		t.Fatalf("nice in %q: %v", s, err)
	}
	return n
}

// niceSink records the nice of the thread the consumer writes from.
type niceSink struct {
	t    *testing.T
	nice []int
}

func (s *niceSink) Write(*Event) error { s.nice = append(s.nice, threadNice(s.t)); return nil }
func (s *niceSink) Flush() error       { return nil }
func (s *niceSink) Close() error       { return nil }

// TestLowPriority: with Options.LowPriority the consumer writes from a
// thread at nice 19, and only it: threads the runtime starts afterwards
// (it starts one for each goroutine below that locks one) keep the
// process's priority rather than inherit the consumer's.
func TestLowPriority(t *testing.T) {
	locked := func() int {
		ch := make(chan int)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			ch <- threadNice(t)
		}()
		return <-ch
	}
	base := locked()
	if base == 19 {
		t.Skip("the tests run at nice 19 already")
	}
	ix := bmap.NewIndex(testMap())
	for _, low := range []bool{false, true} {
		s := &niceSink{t: t}
		lg := New(ix, Options{LowPriority: low}, s)
		for i := range 100 {
			lg.Log(Read{Conn: 1, Off: int64(i) * 512, Len: 512})
		}
		if err := lg.Flush(); err != nil {
			t.Fatal(err)
		}
		want := base
		if low {
			want = 19
		}
		var others []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				n := locked()
				mu.Lock()
				others = append(others, n)
				mu.Unlock()
			})
		}
		wg.Wait()
		if err := lg.Close(); err != nil {
			t.Fatal(err)
		}
		if len(s.nice) != 100 {
			t.Fatalf("LowPriority %v: %d events written, want 100", low, len(s.nice))
		}
		for _, n := range s.nice {
			if n != want {
				t.Fatalf("LowPriority %v: the consumer wrote at nice %d, want %d", low, n, want)
			}
		}
		for _, n := range others {
			if n != base {
				t.Errorf("LowPriority %v: a thread started later runs at nice %d, want the process's %d", low, n, base)
			}
		}
	}
}
