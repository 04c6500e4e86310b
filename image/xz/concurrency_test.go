package xz

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestConcurrentReads: many goroutines read at random; every byte is
// right and, with a cache that holds the file, no block is decoded twice.
func TestConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	data := testData(2<<20, 11)
	path := xzFile(t, dir, "m.xz", data, "-T2", "--block-size=64KiB")
	x := openFile(t, path, Options{Workers: 4})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			p := make([]byte, 70000)
			for i := 0; i < 100; i++ {
				off := rng.IntN(len(data))
				l := 1 + rng.IntN(len(p))
				n, _ := x.ReadAt(p[:l], int64(off))
				if n != min(l, len(data)-off) || !bytes.Equal(p[:n], data[off:off+n]) {
					t.Errorf("ReadAt(%d at %#x): wrong data (n=%d)", l, off, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := x.Stats()
	if s.BlocksDecoded > int64(x.Blocks()) {
		t.Errorf("%d blocks decoded for %d blocks: some twice (%+v)", s.BlocksDecoded, x.Blocks(), s)
	}
	if s.Hits == 0 || s.Misses == 0 {
		t.Errorf("stats %+v: want both hits and misses", s)
	}
	t.Logf("%+v", s)
}

// TestSameBlockOnce: readers that want the same block at once share one
// decode.
func TestSameBlockOnce(t *testing.T) {
	dir := t.TempDir()
	data := testData(1<<20, 12)
	path := xzFile(t, dir, "m.xz", data, "-T2", "--block-size=512KiB")
	x := openFile(t, path, Options{ReadAhead: -1})
	start := make(chan struct{})
	var wg sync.WaitGroup
	const n = 32
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p := make([]byte, 4096)
			off := int64(g * 4096)
			if k, err := x.ReadAt(p, off); k != len(p) || !bytes.Equal(p, data[off:off+4096]) {
				t.Errorf("ReadAt at %#x = %d, %v", off, k, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	s := x.Stats()
	if s.BlocksDecoded != 1 || s.Misses != 1 || s.Hits+s.Waits != n-1 {
		t.Errorf("stats %+v: want 1 decode, 1 miss and %d hits or waits", s, n-1)
	}
}

// TestReadAhead: a sequential reader finds the next blocks decoded ahead.
func TestReadAhead(t *testing.T) {
	dir := t.TempDir()
	data := testData(1<<20, 13)
	path := xzFile(t, dir, "m.xz", data, "-T2", "--block-size=64KiB")
	x := openFile(t, path, Options{ReadAhead: 2})
	p := make([]byte, 4096)
	for off := 0; off < len(data); off += len(p) {
		if n, err := x.ReadAt(p, int64(off)); n != len(p) || !bytes.Equal(p, data[off:off+n]) {
			t.Fatalf("ReadAt at %#x = %d, %v", off, n, err)
		}
	}
	s := x.Stats()
	if s.ReadAhead == 0 || s.ReadAheadUsed == 0 || s.BlocksDecoded != int64(x.Blocks()) {
		t.Errorf("stats %+v: want read-ahead used and every block decoded once", s)
	}
	// Reads going backwards trigger no read-ahead.
	y := openFile(t, path, Options{ReadAhead: 2})
	for off := len(data) - len(p); off >= 0; off -= 5000 {
		y.ReadAt(p, int64(off))
	}
	if s := y.Stats(); s.ReadAhead > 0 {
		t.Errorf("random reads started %d read-aheads", s.ReadAhead)
	}
}

// TestReadNotBehindReadAhead: with one worker busy with read-ahead (held
// in its decode by the test), a read of another block still decodes at
// once instead of waiting for the worker.
func TestReadNotBehindReadAhead(t *testing.T) {
	dir := t.TempDir()
	data := testData(1<<20, 14)
	path := xzFile(t, dir, "m.xz", data, "-T2", "--block-size=64KiB")
	x := openFile(t, path, Options{ReadAhead: 2, Workers: 1})
	hold := make(chan struct{})
	held := make(chan int, 16)
	x.decodeHook = func(bi int, prefetch bool) {
		if prefetch {
			held <- bi
			<-hold
		}
	}
	defer close(hold)
	p := make([]byte, 64<<10)
	for _, off := range []int64{0, 64 << 10} { // sequential: read-ahead of blocks 2 and 3
		if n, err := x.ReadAt(p, off); n != len(p) || err != nil {
			t.Fatalf("ReadAt at %#x = %d, %v", off, n, err)
		}
	}
	select {
	case bi := <-held:
		t.Logf("read-ahead of block %d holds the only worker", bi)
	case <-time.After(30 * time.Second):
		t.Fatal("no read-ahead started")
	}
	done := make(chan error, 1)
	go func() {
		n, err := x.ReadAt(p, 10<<16)
		if err == nil && (n != len(p) || !bytes.Equal(p, data[10<<16:11<<16])) {
			err = fmt.Errorf("read %d bytes, or wrong ones", n)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read of block 10 waited for read-ahead")
	}
}

// TestCloseNoLeak: Close stops the read-ahead goroutines and later reads
// fail.
func TestCloseNoLeak(t *testing.T) {
	dir := t.TempDir()
	data := testData(1<<20, 14)
	path := xzFile(t, dir, "m.xz", data, "-T2", "--block-size=64KiB")
	before := runtime.NumGoroutine()
	x := openFile(t, path, Options{ReadAhead: 8})
	p := make([]byte, 1000)
	for off := 0; off < 5000; off += len(p) {
		x.ReadAt(p, int64(off))
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := x.ReadAt(p, 0); n != 0 || err == nil {
		t.Errorf("ReadAt after Close = %d, %v", n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestForward: the single huge block of plain xz is read forward: a
// one-time warning, restarts only for reads behind every cursor, and
// right bytes in any order.
func TestForward(t *testing.T) {
	dir := t.TempDir()
	data := testData(9<<20, 15)
	path := xzFile(t, dir, "one.xz", data, "-T1", "-0")
	var warns []string
	x := openFile(t, path, Options{CacheSize: MinCacheSize, ReadAhead: -1, Warn: func(m string) { warns = append(warns, m) }})
	if len(warns) != 1 || !bytes.Contains([]byte(warns[0]), []byte("xz -T0 --block-size=16MiB")) {
		t.Errorf("warnings %q, want one naming the xz command", warns)
	}
	p := make([]byte, 4096)
	read := func(off int64) {
		t.Helper()
		if n, err := x.ReadAt(p, off); n != len(p) || !bytes.Equal(p, data[off:off+4096]) {
			t.Fatalf("ReadAt at %#x = %d, %v", off, n, err)
		}
	}
	read(8 << 20) // far: one cursor from the start
	read(8<<20 + 5000)
	read(7 << 20) // cached: within a quarter of the cache behind the target
	if s := x.Stats(); s.Restarts != 1 || s.PagesDecoded != 9 {
		t.Errorf("after reads near 8 MiB: %+v, want 1 restart and 9 pages", s)
	}
	read(1 << 20) // behind every cursor, not cached: restart
	if s := x.Stats(); s.Restarts != 2 {
		t.Errorf("after a read behind: %+v, want 2 restarts", s)
	}
	read(3 << 20) // ahead of that cursor: advances it
	if s := x.Stats(); s.Restarts != 2 {
		t.Errorf("after a read ahead: %+v, want 2 restarts", s)
	}
	compare(t, x, data, 200, 3)
	if len(warns) != 1 {
		t.Errorf("%d warnings, want 1", len(warns))
	}
}
