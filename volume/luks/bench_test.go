package luks

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// benchVolume formats a LUKS2 image with cryptsetup (payload of 32 MiB,
// content irrelevant) and opens it with its volume key.
func benchVolume(b *testing.B, args ...string) *Volume {
	b.Helper()
	img := filepath.Join(b.TempDir(), "bench.img")
	luksFormat(b, img, 33<<20, append([]string{"--type", "luks2", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "992k"},
		append(cheapPBKDF2, args...)...)...)
	d := luksDump(b, img)
	f, size := openImage(b, img)
	h, err := ReadHeader(f, size)
	if err != nil {
		b.Fatal(err)
	}
	v, err := h.UnlockKey(f, size, d.volumeKey)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

var benchCiphers = []struct {
	name string
	args []string
}{
	{"xts-512-4096", []string{"-c", "aes-xts-plain64", "-s", "512", "--sector-size", "4096"}},
	{"xts-512-512", []string{"-c", "aes-xts-plain64", "-s", "512", "--sector-size", "512"}},
	{"xts-256-4096", []string{"-c", "aes-xts-plain64", "-s", "256", "--sector-size", "4096"}},
	{"cbc-essiv-256-4096", []string{"-c", "aes-cbc-essiv:sha256", "-s", "256", "--sector-size", "4096"}},
	{"cbc-essiv-256-512", []string{"-c", "aes-cbc-essiv:sha256", "-s", "256", "--sector-size", "512"}},
}

// BenchmarkSequential reads the payload in 1 MiB reads (decryption
// throughput, page cache warm).
func BenchmarkSequential(b *testing.B) {
	for _, c := range benchCiphers {
		b.Run(c.name, func(b *testing.B) {
			v := benchVolume(b, c.args...)
			buf := make([]byte, 1<<20)
			b.SetBytes(v.Size())
			for b.Loop() {
				for off := int64(0); off < v.Size(); off += int64(len(buf)) {
					if _, err := v.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRandom512 reads 512 bytes at random 512-aligned offsets, as a
// BIOS boot over IDE does through the NBD server.
func BenchmarkRandom512(b *testing.B) {
	for _, c := range benchCiphers[:2] {
		b.Run(c.name, func(b *testing.B) {
			v := benchVolume(b, c.args...)
			buf := make([]byte, 512)
			r := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(512)
			for b.Loop() {
				if _, err := v.ReadAt(buf, r.Int64N(v.Size()/512)*512); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
