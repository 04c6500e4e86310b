package luks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fuzzSeeds are the committed headers (testdata/mkseeds.sh).
func fuzzSeeds(f *testing.F) {
	for _, name := range []string{"luks1-header.bin.gz", "luks2-header.bin.gz"} {
		f.Add(testutil.Gunzip(f, filepath.Join("testdata", name)))
	}
}

// checkHeaderInvariants fails when a parsed header describes something
// outside the input.
func checkHeaderInvariants(t *testing.T, h *Header, size int64) {
	for _, r := range h.Regions {
		if r.Off < 0 || r.Len < 0 || r.Off > size || r.Len > size-r.Off {
			t.Fatalf("region %+v outside the %d-byte input", r, size)
		}
	}
	for _, ks := range h.slots {
		if ks.areaOff+roundUp(int64(ks.keyBytes)*int64(ks.stripes), sectorBytes) > size {
			t.Fatalf("keyslot %d key material past the input", ks.id)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, size := bytes.NewReader(data), int64(len(data))
		Probe(r, size)
		h, err := ReadHeader(r, size)
		if err != nil {
			return
		}
		checkHeaderInvariants(t, h, size)
		_ = h.Supported()
		if h.KeyBytes > 0 && h.KeyBytes <= MaxKeyBytes && cheap(h) {
			_, _ = h.UnlockKey(r, size, make([]byte, h.KeyBytes))
		}
	})
}

// cheap reports whether unlocking h costs little (the fuzzer may write any
// iteration count below the caps, which would take minutes).
func cheap(h *Header) bool {
	if h.digest == nil || h.digest.iterations > 2000 {
		return false
	}
	for _, ks := range h.slots {
		k := ks.kdf
		if k.iterations > 2000 || k.time > 8 || k.memory > 256 {
			return false
		}
	}
	return true
}

// FuzzUnlock unlocks with the test passphrase. Seeds: the committed
// headers and, when cryptsetup is installed, a whole tiny LUKS2 volume
// (headers, keyslot, payload) so that the fuzzer starts past the digest.
func FuzzUnlock(f *testing.F) {
	fuzzSeeds(f)
	if _, err := exec.LookPath("cryptsetup"); err == nil {
		p := filepath.Join(f.TempDir(), "luks2.img")
		luksFormat(f, p, 1<<20+8192, append([]string{"--type", "luks2", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "992k",
			"-c", "aes-cbc-essiv:sha256", "-s", "128", "--sector-size", "4096"}, cheapPBKDF2...)...)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, size := bytes.NewReader(data), int64(len(data))
		h, err := ReadHeader(r, size)
		if err != nil || !cheap(h) {
			return
		}
		checkHeaderInvariants(t, h, size)
		v, err := h.Unlock(r, size, []byte(testPass))
		if err != nil {
			return
		}
		b := make([]byte, 5000)
		_, _ = v.ReadAt(b, 0)
		_, _ = v.ReadAt(b, v.Size()-100)
	})
}
