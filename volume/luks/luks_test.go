package luks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// checkHeader compares the parsed header with cryptsetup luksDump.
func checkHeader(t *testing.T, h *Header, d dumpInfo, version int, size int64) {
	t.Helper()
	if h.Version != version || h.UUID != d.uuid || h.Cipher != d.cipher || h.PayloadOffset != d.payloadOffset ||
		h.SectorSize != d.sectorSize || h.KeyBytes*8 != d.keyBits || h.PayloadSize != -1 {
		t.Errorf("header: version %d UUID %s cipher %s payload %#x+%d sector %d key %d bits; luksDump: UUID %s cipher %s payload %#x sector %d key %d bits",
			h.Version, h.UUID, h.Cipher, h.PayloadOffset, h.PayloadSize, h.SectorSize, h.KeyBytes*8,
			d.uuid, d.cipher, d.payloadOffset, d.sectorSize, d.keyBits)
	}
	if len(h.Warnings) != 0 {
		t.Errorf("warnings on a fresh image: %q", h.Warnings)
	}
	// Every keyslot area luksDump lists is a region, and the regions are
	// inside the device, before the payload, and do not overlap.
	for i, off := range d.areaOffsets {
		if !slices.ContainsFunc(h.Regions, func(r Region) bool {
			return strings.HasPrefix(r.Name, fmt.Sprintf("keyslot %d area", i)) && r.Off == off
		}) {
			t.Errorf("no region for keyslot %d area at %#x: %+v", i, off, h.Regions)
		}
	}
	if h.Regions[0].Name != "LUKS header" || h.Regions[0].Off != 0 {
		t.Errorf("first region %+v, want the LUKS header at 0", h.Regions[0])
	}
	for i, r := range h.Regions {
		if r.Len <= 0 || r.Off+r.Len > h.PayloadOffset || (i > 0 && r.Off < h.Regions[i-1].Off+h.Regions[i-1].Len) {
			t.Errorf("region %+v overlaps, is empty or is past the payload at %#x: %+v", r, h.PayloadOffset, h.Regions)
		}
	}
	if version == 2 && !slices.ContainsFunc(h.Regions, func(r Region) bool { return r.Name == "LUKS2 secondary header" }) {
		t.Errorf("no LUKS2 secondary header region: %+v", h.Regions)
	}
}

// checkVolume unlocks with the passphrase and with the volume key, compares
// the plaintext, and checks that wrong keys are refused.
func checkVolume(t *testing.T, img string, want []byte, d dumpInfo) *Volume {
	t.Helper()
	f, size := openImage(t, img)
	h, err := ReadHeader(f, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Supported(); err != nil {
		t.Fatal(err)
	}
	v, err := h.Unlock(f, size, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if v.Offset() != h.PayloadOffset || v.Size() != size-h.PayloadOffset {
		t.Errorf("volume at %#x+%#x, want %#x+%#x", v.Offset(), v.Size(), h.PayloadOffset, size-h.PayloadOffset)
	}
	got := make([]byte, len(want))
	if n, err := v.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("plaintext differs: %s", firstDiff(got, want))
	}
	// Unaligned reads, concurrently.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 50 {
				off := r.Int64N(int64(len(want)))
				n := r.Int64N(min(int64(len(want))-off, 3*4096)) + 1
				b := make([]byte, n)
				if k, err := v.ReadAt(b, off); k != int(n) || err != nil {
					t.Errorf("ReadAt(%d, %#x): %d, %v", n, off, k, err)
					return
				}
				if !bytes.Equal(b, want[off:off+n]) {
					t.Errorf("ReadAt(%d, %#x): %s", n, off, firstDiff(b, want[off:off+n]))
					return
				}
			}
		})
	}
	wg.Wait()
	// Past the end.
	if n, err := v.ReadAt(make([]byte, 10), v.Size()-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt across the end: %d, %v; want 4, EOF", n, err)
	}
	if _, err := h.Unlock(f, size, []byte("wrong "+testPass)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong passphrase: %v, want ErrWrongKey", err)
	} else if strings.Contains(err.Error(), testPass) {
		t.Errorf("error shows the passphrase: %v", err)
	}
	kv, err := h.UnlockKey(f, size, d.volumeKey)
	if err != nil {
		t.Fatalf("UnlockKey with luksDump's volume key: %v", err)
	}
	b := make([]byte, 4096)
	if _, err := kv.ReadAt(b, 512); err != nil || !bytes.Equal(b, want[512:512+4096]) {
		t.Errorf("UnlockKey: %v, plaintext %s", err, firstDiff(b, want[512:512+4096]))
	}
	bad := slices.Clone(d.volumeKey)
	bad[0] ^= 1
	if _, err := h.UnlockKey(f, size, bad); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong volume key: %v, want ErrWrongKey", err)
	}
	return v
}

// TestLUKS1 formats LUKS1 images with cryptsetup, writes a known plaintext
// with qemu's luks driver, and compares our plaintext with it and with
// qemu's own decryption.
func TestLUKS1(t *testing.T) {
	testutil.NeedTools(t, "cryptsetup", "qemu-img")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"xts-plain64-256-sha256", []string{"-c", "aes-xts-plain64", "-s", "256", "--hash", "sha256"}},
		{"xts-plain64-512-sha512", []string{"-c", "aes-xts-plain64", "-s", "512", "--hash", "sha512"}},
		{"xts-plain-256-sha1", []string{"-c", "aes-xts-plain", "-s", "256", "--hash", "sha1"}},
		{"cbc-essiv-256", []string{"-c", "aes-cbc-essiv:sha256", "-s", "256", "--hash", "sha256"}},
		{"cbc-plain64-128", []string{"-c", "aes-cbc-plain64", "-s", "128", "--hash", "sha256"}},
		{"cbc-plain-256", []string{"-c", "aes-cbc-plain", "-s", "256", "--hash", "sha1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(t.TempDir(), "luks1.img")
			const size = 4 << 20
			luksFormat(t, img, size, append([]string{"--type", "luks1", "--pbkdf-force-iterations", "1000"}, tc.args...)...)
			d := luksDump(t, img)
			plain := randomBytes(int(size-d.payloadOffset), 1)
			qemuWrite(t, img, plain)
			if q := qemuRead(t, img); !bytes.Equal(q, plain) {
				t.Fatalf("qemu reads back another plaintext: %s", firstDiff(q, plain))
			}
			f, sz := openImage(t, img)
			h, err := ReadHeader(f, sz)
			if err != nil {
				t.Fatal(err)
			}
			checkHeader(t, h, d, 1, sz)
			checkVolume(t, img, plain, d)
		})
	}
}

// TestLUKS2 encrypts a known plaintext with cryptsetup's offline LUKS2
// encryption (cryptsetup's userspace encryptor) and compares our
// plaintext with it: this checks the IV count with 4096-byte sectors.
func TestLUKS2(t *testing.T) {
	testutil.NeedTools(t, "cryptsetup")
	layout := []string{"--luks2-metadata-size", "16k", "--luks2-keyslots-size", "960k"}
	for _, tc := range []struct {
		name   string
		args   []string
		addKey bool
	}{
		{"xts-plain64-512-4096-argon2id", append([]string{"-c", "aes-xts-plain64", "-s", "512", "--sector-size", "4096", "--label", "a label"}, cheapArgon2id...), true},
		{"xts-plain64-256-512-pbkdf2", append([]string{"-c", "aes-xts-plain64", "-s", "256", "--sector-size", "512", "--hash", "sha512"}, cheapPBKDF2...), false},
		{"xts-plain-256-4096-argon2i", append([]string{"-c", "aes-xts-plain", "-s", "256", "--sector-size", "4096"}, cheapArgon2i...), false},
		{"cbc-essiv-256-4096", append([]string{"-c", "aes-cbc-essiv:sha256", "-s", "256", "--sector-size", "4096", "--hash", "sha1"}, cheapPBKDF2...), false},
		{"cbc-plain64-256-2048", append([]string{"-c", "aes-cbc-plain64", "-s", "256", "--sector-size", "2048"}, cheapPBKDF2...), true},
		{"cbc-plain-128-512", append([]string{"-c", "aes-cbc-plain", "-s", "128", "--sector-size", "512"}, cheapArgon2id...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			img := filepath.Join(dir, "luks2.img")
			const size, reduce = 6 << 20, 2 << 20
			src := randomBytes(size, 2)
			luks2Encrypt(t, img, src, reduce, append(layout, tc.args...)...)
			d := luksDump(t, img)
			f, sz := openImage(t, img)
			h, err := ReadHeader(f, sz)
			if err != nil {
				t.Fatal(err)
			}
			checkHeader(t, h, d, 2, sz)
			if want := d.label; h.Label != want {
				t.Errorf("label %q, luksDump %q", h.Label, want)
			}
			checkVolume(t, img, src[:size-reduce], d)
			if !tc.addKey {
				return
			}
			// A second passphrase in keyslot 5, with another KDF.
			kf := filepath.Join(dir, "key2")
			if err := os.WriteFile(kf, []byte("second\x00passphrase\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, testPass, "cryptsetup", append([]string{"luksAddKey", "--batch-mode", "--key-file", "-", "--key-slot", "5"},
				append(cheapPBKDF2, img, kf)...)...)
			h, err = ReadHeader(f, sz)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Keyslots, []int{0, 5}) {
				t.Errorf("keyslots %v, want [0 5]", h.Keyslots)
			}
			// cryptsetup tries a "prefer" keyslot first, and so do we.
			testutil.Run(t, "", "cryptsetup", "config", "--priority", "prefer", "--key-slot", "5", img)
			if h, err = ReadHeader(f, sz); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Keyslots, []int{5, 0}) {
				t.Errorf("keyslots %v after config --priority prefer, want [5 0]", h.Keyslots)
			}
			v, err := h.Unlock(f, sz, []byte("second\x00passphrase\n"))
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 8192)
			if _, err := v.ReadAt(b, 1<<20); err != nil || !bytes.Equal(b, src[1<<20:1<<20+8192]) {
				t.Errorf("second passphrase: %v, plaintext %s", err, firstDiff(b, src[1<<20:1<<20+8192]))
			}
		})
	}
}

// TestReencrypt re-keys a LUKS2 volume offline with cryptsetup (new cipher,
// new volume key, the keyslot moves): the plaintext stays. A reencryption
// only initialised (--init-only) is refused as unsupported, naming why.
func TestReencrypt(t *testing.T) {
	testutil.NeedTools(t, "cryptsetup")
	dir := t.TempDir()
	img := filepath.Join(dir, "luks2.img")
	const size, reduce = 4 << 20, 2 << 20
	src := randomBytes(size, 3)
	common := append([]string{"--luks2-metadata-size", "16k", "--luks2-keyslots-size", "960k"}, cheapPBKDF2...)
	luks2Encrypt(t, img, src, reduce, append(common, "-c", "aes-xts-plain64", "-s", "256", "--sector-size", "4096")...)
	init := filepath.Join(dir, "init.img")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(init, b, 0o644); err != nil {
		t.Fatal(err)
	}
	re := append([]string{"reencrypt", "--force-offline-reencrypt", "--batch-mode", "--key-file", "-"}, cheapPBKDF2...)
	re = append(re, "-c", "aes-cbc-essiv:sha256", "-s", "256")
	testutil.Run(t, testPass, "cryptsetup", append(re, img)...)
	d := luksDump(t, img)
	if d.cipher != "aes-cbc-essiv:sha256" {
		t.Fatalf("cryptsetup did not re-key: cipher %s", d.cipher)
	}
	checkVolume(t, img, src[:size-reduce], d)

	testutil.Run(t, testPass, "cryptsetup", append(append(re, "--init-only"), init)...)
	f, sz := openImage(t, init)
	h, err := ReadHeader(f, sz)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Supported()
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "reencrypt") {
		t.Errorf("Supported after reencrypt --init-only: %v, want ErrUnsupported naming the reencryption", err)
	}
	if _, err := h.Unlock(f, sz, []byte(testPass)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Unlock after reencrypt --init-only: %v, want ErrUnsupported", err)
	}
	t.Logf("in reencryption: %v; warnings %q", err, h.Warnings)
}
