package luks

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// pyDecrypt decrypts with python3-cryptography, computing the IVs the way
// dm-crypt documents them (plain: low 32 bits of the sector, little-endian;
// plain64: 64 bits; essiv:sha256: AES-256 with key sha256(key) of the
// plain64 IV), independently of cipher.go.
const pyDecrypt = `
import sys, json, hashlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
out = []
for c in json.load(sys.stdin):
    key, data, iv = bytes.fromhex(c["key"]), bytes.fromhex(c["data"]), c["iv"]
    mode, ivmode = c["spec"].split("-")[1:]
    n = iv & 0xffffffff if ivmode == "plain" else iv
    ivb = n.to_bytes(16, "little")
    if ivmode == "essiv:sha256":
        e = Cipher(algorithms.AES(hashlib.sha256(key).digest()), modes.ECB()).encryptor()
        ivb = e.update(ivb) + e.finalize()
    m = modes.XTS(ivb) if mode == "xts" else modes.CBC(ivb)
    d = Cipher(algorithms.AES(key), m).decryptor()
    out.append((d.update(data) + d.finalize()).hex())
json.dump(out, sys.stdout)
`

// TestSectorCipher compares each cipher with python3-cryptography at IVs
// a small test image never reaches (past 2^32, where plain and plain64
// differ).
func TestSectorCipher(t *testing.T) {
	testutil.NeedTools(t, "python3")
	if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
		t.Skipf("python3-cryptography not installed (Debian package python3-cryptography): %v", err)
	}
	type tcase struct {
		Spec string `json:"spec"`
		Key  string `json:"key"`
		Data string `json:"data"`
		IV   uint64 `json:"iv"`
	}
	var cases []tcase
	seed := uint64(10)
	for _, spec := range []struct {
		name string
		keys []int
	}{
		{"aes-xts-plain64", []int{32, 64}},
		{"aes-xts-plain", []int{32, 64}},
		{"aes-cbc-essiv:sha256", []int{16, 32}},
		{"aes-cbc-plain64", []int{16, 24, 32}},
		{"aes-cbc-plain", []int{32}},
	} {
		for _, kl := range spec.keys {
			for _, iv := range []uint64{0, 7, 1<<32 + 5, 1<<40 + 3, ^uint64(0)} {
				for _, n := range []int{512, 4096} {
					seed++
					cases = append(cases, tcase{spec.name, hex.EncodeToString(randomBytes(kl, seed)),
						hex.EncodeToString(randomBytes(n, seed+1000)), iv})
				}
			}
		}
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	out := testutil.Run(t, string(in), "python3", "-c", pyDecrypt)
	var want []string
	if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "["):])).Decode(&want); err != nil || len(want) != len(cases) {
		t.Fatalf("python3 output: %v, %d results for %d cases", err, len(want), len(cases))
	}
	for i, c := range cases {
		key, _ := hex.DecodeString(c.Key)
		buf, _ := hex.DecodeString(c.Data)
		sc, err := newSectorCipher(c.Spec, key)
		if err != nil {
			t.Fatalf("%s: %v", c.Spec, err)
		}
		sc.decrypt(buf, c.IV)
		if w, _ := hex.DecodeString(want[i]); !bytes.Equal(buf, w) {
			t.Errorf("%s, %d-bit key, %d bytes, IV %#x: %s", c.Spec, len(key)*8, len(buf), c.IV, firstDiff(buf, w))
		}
	}
}

// TestSectorCipherRefused: what cannot be decrypted is named.
func TestSectorCipherRefused(t *testing.T) {
	for _, tc := range []struct {
		spec string
		key  int
		want string
	}{
		{"serpent-xts-plain64", 64, `cipher "serpent-xts-plain64"`},
		{"aes-ecb", 32, `cipher "aes-ecb"`},
		{"aes-xts-essiv:sha256", 64, `IV mode "essiv:sha256"`},
		{"aes-cbc-benbi", 32, `IV mode "benbi"`},
		{"aes-lrw-benbi", 48, `mode "lrw"`},
		{"aes-xts-plain64", 20, "160-bit key"},
		{"aes-cbc-plain64", 64, "512-bit key"},
		{"capi:xts(aes)-plain64", 64, `cipher "capi:xts(aes)-plain64"`},
	} {
		_, err := newSectorCipher(tc.spec, make([]byte, tc.key))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %d bytes: %v, want ErrUnsupported with %q", tc.spec, tc.key, err, tc.want)
		}
	}
}
