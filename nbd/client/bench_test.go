package client

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkClientRead reads from nbdkit (the memory plugin, and the file
// plugin on a 64 MiB file in the page cache): 4 KiB random reads one at a
// time (cache off: the round trip), the same through the cache, and the
// whole export in 256 KiB reads with 16 in flight (throughput).
func BenchmarkClientRead(b *testing.B) {
	const size = 64 << 20
	path := filepath.Join(b.TempDir(), "disk.img")
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	servers := map[string][]string{
		"file":   {"file", path},
		"memory": {"memory", strconv.Itoa(size)},
	}
	for name, args := range servers {
		uri, _ := nbdkit(b, args...)
		b.Run(name+"/4KiB-random-QD1", func(b *testing.B) {
			c := dial(b, uri, Options{CacheSize: -1})
			p := make([]byte, 4096)
			b.SetBytes(4096)
			for b.Loop() {
				if _, err := c.ReadAt(p, r.Int64N(size/4096)*4096); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/512B-cached", func(b *testing.B) {
			c := dial(b, uri, Options{})
			p := make([]byte, 512)
			b.SetBytes(512)
			for b.Loop() {
				if _, err := c.ReadAt(p, r.Int64N(4<<20/512)*512); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/256KiB-QD16-whole", func(b *testing.B) {
			c := dial(b, uri, Options{CacheSize: -1})
			b.SetBytes(size)
			for b.Loop() {
				var wg sync.WaitGroup
				for w := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p := make([]byte, 256<<10)
						for off := int64(w) * int64(len(p)); off < size; off += 16 * int64(len(p)) {
							if _, err := c.ReadAt(p, off); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
		})
	}
}
