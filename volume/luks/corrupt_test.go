package luks

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// baseImages makes one small LUKS1 and one small LUKS2 image with
// cryptsetup (cheap KDF) and returns their bytes.
func baseImages(t *testing.T) (luks1, luks2 []byte) {
	t.Helper()
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "luks1.img"), filepath.Join(dir, "luks2.img")
	luksFormat(t, p1, 3<<20, "--type", "luks1", "--pbkdf-force-iterations", "1000", "-c", "aes-xts-plain64", "-s", "256")
	luksFormat(t, p2, 2<<20, append([]string{"--type", "luks2", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "960k",
		"-c", "aes-xts-plain64", "-s", "256", "--sector-size", "4096"}, cheapPBKDF2...)...)
	var err error
	if luks1, err = os.ReadFile(p1); err != nil {
		t.Fatal(err)
	}
	if luks2, err = os.ReadFile(p2); err != nil {
		t.Fatal(err)
	}
	return luks1, luks2
}

// rechecksum recomputes the sha256 checksum of the LUKS2 header copy at off.
func rechecksum(b []byte, off int64) {
	hs := int64(binary.BigEndian.Uint64(b[off+8:]))
	clear(b[off+luks2CsumOff : off+luks2CsumOff+luks2CsumLen])
	sum := sha256.Sum256(b[off : off+hs])
	copy(b[off+luks2CsumOff:], sum[:])
}

// copyOffsets returns the offsets of both LUKS2 header copies.
func copyOffsets(b []byte) []int64 { return []int64{0, int64(binary.BigEndian.Uint64(b[8:]))} }

// setJSON replaces the JSON area of the copy at off and fixes its checksum.
func setJSON(b []byte, off int64, js []byte) {
	hs := int64(binary.BigEndian.Uint64(b[off+8:]))
	area := b[off+luks2BinSize : off+hs]
	clear(area)
	copy(area, js)
	rechecksum(b, off)
}

// editJSON applies fn to the JSON metadata of both copies (as a generic
// tree) and writes it back with valid checksums.
func editJSON(t *testing.T, b []byte, fn func(m map[string]any)) {
	t.Helper()
	for _, off := range copyOffsets(b) {
		area := b[off+luks2BinSize:]
		d := json.NewDecoder(bytes.NewReader(area[:bytes.IndexByte(area, 0)]))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		setJSON(b, off, js)
	}
}

// jset sets the value at a dotted path ("keyslots.0.af.stripes").
func jset(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	m[parts[len(parts)-1]] = v
}

func be32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }

// TestProbe: LUKS images (even with the primary LUKS2 header wiped) are
// recognised, other bytes are not.
func TestProbe(t *testing.T) {
	l1, l2 := baseImages(t)
	wiped := bytes.Clone(l2)
	clear(wiped[:0x4000])
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"luks1", l1, true},
		{"luks2", l2, true},
		{"luks2 primary wiped", wiped, true},
		{"zeros", make([]byte, 1<<20), false},
		{"luks1 cut to 100 bytes", l1[:100], false},
		{"ext4-like", append(make([]byte, 1080), 0x53, 0xef), false},
	} {
		if got := Probe(bytes.NewReader(tc.b), int64(len(tc.b))); got != tc.want {
			t.Errorf("%s: Probe = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCorrupt damages real headers one way at a time: each gives a clear
// error (or a warning and the other header copy), never a panic.
func TestCorrupt(t *testing.T) {
	l1, l2 := baseImages(t)
	j := func(path string, v any) func(t *testing.T, b []byte) []byte {
		return func(t *testing.T, b []byte) []byte {
			editJSON(t, b, func(m map[string]any) { jset(m, path, v) })
			return b
		}
	}
	for _, tc := range []struct {
		name        string
		base        []byte
		mutate      func(t *testing.T, b []byte) []byte
		headerErr   string // ReadHeader fails with this; "" for success
		warn        string // a warning contains this
		unlockErr   string // Unlock fails with this; "" for success
		wrongKey    bool   // ... wrapping ErrWrongKey
		unsupported bool   // ... wrapping ErrUnsupported
		pass        string
		check       func(t *testing.T, h *Header, v *Volume)
	}{
		{name: "luks1/intact", base: l1},
		{name: "luks1/all zeros", base: l1, mutate: func(t *testing.T, b []byte) []byte { return make([]byte, len(b)) }, headerErr: "no LUKS magic"},
		{name: "luks1/bad magic", base: l1, mutate: func(t *testing.T, b []byte) []byte { b[0] = 'X'; return b }, headerErr: "no LUKS magic"},
		{name: "luks1/bad version", base: l1, mutate: func(t *testing.T, b []byte) []byte { b[7] = 3; return b }, headerErr: "unknown LUKS version 3"},
		{name: "luks1/short", base: l1, mutate: func(t *testing.T, b []byte) []byte { return b[:500] }, headerErr: "shorter than the 592-byte header"},
		{name: "luks1/zero key size", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 108, 0); return b }, headerErr: "key size 0"},
		{name: "luks1/wrong key", base: l1, pass: "xyzzy-not-it", unlockErr: "wrong passphrase", wrongKey: true},
		{name: "luks1/stripes 0", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 208+44, 0); return b },
			warn: "keyslot 0: AF stripes 0 out of range", unlockErr: "AF stripes 0 out of range"},
		{name: "luks1/stripes huge", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 208+44, 0xffffffff); return b },
			warn: "AF stripes 4294967295 out of range", unlockErr: "AF stripes 4294967295 out of range"},
		{name: "luks1/keyslot area past the end", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 208+40, 0x7fffffff); return b },
			unlockErr: "past the end of the device"},
		{name: "luks1/iterations huge", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 208+4, 0xffffffff); return b },
			unlockErr: "pbkdf2 iterations 4294967295 out of range"},
		{name: "luks1/digest iterations huge", base: l1, mutate: func(t *testing.T, b []byte) []byte { be32(b, 164, 0xffffffff); return b },
			unlockErr: "digest iterations 4294967295 out of range"},
		{name: "luks1/unsupported hash", base: l1, mutate: func(t *testing.T, b []byte) []byte { copy(b[72:104], "whirlpool\x00"); return b },
			unlockErr: `hash "whirlpool"`, unsupported: true},
		{name: "luks1/unsupported cipher", base: l1, mutate: func(t *testing.T, b []byte) []byte { copy(b[8:40], "serpent\x00"); return b },
			unlockErr: `cipher "serpent-xts-plain64"`, unsupported: true},
		{name: "luks1/unsupported IV", base: l1, mutate: func(t *testing.T, b []byte) []byte { copy(b[40:72], "xts-benbi\x00"); return b },
			unlockErr: `IV mode "benbi"`, unsupported: true},
		{name: "luks1/payload past the end", base: l1, mutate: func(t *testing.T, b []byte) []byte { return b[:int(binary.BigEndian.Uint32(b[104:]))*512-512] },
			warn: "payload offset", unlockErr: "starts past the end of the device"},
		{name: "luks1/truncated payload", base: l1, mutate: func(t *testing.T, b []byte) []byte { return b[:int(binary.BigEndian.Uint32(b[104:]))*512+1000] },
			check: func(t *testing.T, h *Header, v *Volume) {
				if v.Size() != 512 {
					t.Errorf("payload of %d bytes, want the one whole sector", v.Size())
				}
			}},

		{name: "luks2/intact", base: l2},
		{name: "luks2/wrong key", base: l2, pass: "xyzzy-not-it", unlockErr: "wrong passphrase", wrongKey: true},
		{name: "luks2/bad magic both", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			for _, off := range copyOffsets(b) {
				b[off] = 'X'
			}
			return b
		}, headerErr: "no LUKS magic"},
		{name: "luks2/primary bad version", base: l2, mutate: func(t *testing.T, b []byte) []byte { b[7] = 3; return b },
			warn: "primary header damaged, using the secondary header at 0x4000: luks: LUKS2 primary header at 0x6: version 3"},
		{name: "luks2/primary checksum", base: l2, mutate: func(t *testing.T, b []byte) []byte { b[luks2BinSize+10] ^= 1; return b },
			warn: "primary header damaged, using the secondary header at 0x4000: luks: LUKS2 primary header at 0x1c0: sha256 checksum mismatch",
			check: func(t *testing.T, h *Header, v *Volume) {
				if len(h.Regions) < 4 || h.Regions[0] != (Region{"LUKS header", 0, 4096}) || h.Regions[2] != (Region{"LUKS2 secondary header", 0x4000, 4096}) {
					t.Errorf("regions %+v, want both copies", h.Regions)
				}
			}},
		{name: "luks2/primary wiped", base: l2, mutate: func(t *testing.T, b []byte) []byte { clear(b[:0x4000]); return b },
			warn: "using the secondary header at 0x4000"},
		{name: "luks2/secondary checksum", base: l2, mutate: func(t *testing.T, b []byte) []byte { b[0x4000+luks2BinSize+10] ^= 1; return b },
			warn: "secondary header damaged"},
		{name: "luks2/both checksums", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			b[luks2BinSize+10] ^= 1
			b[0x4000+luks2BinSize+10] ^= 1
			return b
		}, headerErr: "checksum mismatch"},
		{name: "luks2/primary stale", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			binary.BigEndian.PutUint64(b[0x4000+16:], binary.BigEndian.Uint64(b[16:])+1)
			copy(b[0x4000+24:], "newer")
			rechecksum(b, 0x4000)
			return b
		}, warn: "primary header is stale", check: func(t *testing.T, h *Header, v *Volume) {
			if h.Label != "newer" {
				t.Errorf("label %q: the older copy was used", h.Label)
			}
		}},
		{name: "luks2/bad JSON", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			for _, off := range copyOffsets(b) {
				setJSON(b, off, []byte(`{"keyslots": {"0": [}`))
			}
			return b
		}, headerErr: "bad JSON"},
		{name: "luks2/json_size mismatch", base: l2, mutate: j("config.json_size", "999999"), headerErr: "json_size"},
		{name: "luks2/hdr_size past the end", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			binary.BigEndian.PutUint64(b[8:], 0x400000)
			binary.BigEndian.PutUint64(b[0x4000+8:], 0x400000)
			return b
		}, headerErr: "past the end of the device"},
		{name: "luks2/hdr_size invalid", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			binary.BigEndian.PutUint64(b[8:], 12345)
			binary.BigEndian.PutUint64(b[0x4000+8:], 12345)
			return b
		}, headerErr: "not one of the LUKS2 sizes"},
		{name: "luks2/truncated header", base: l2, mutate: func(t *testing.T, b []byte) []byte { return b[:8192] }, headerErr: "past the end of the device"},
		{name: "luks2/keyslot area past the end", base: l2, mutate: j("keyslots.0.area.offset", "1099511627776"),
			warn: "keyslot 0: key material at 0x10000000000+0x1f400 is past the end", unlockErr: "past the end of the device"},
		{name: "luks2/keyslot area too small", base: l2, mutate: j("keyslots.0.area.size", "4096"), unlockErr: "does not fit its area"},
		{name: "luks2/stripes 0", base: l2, mutate: j("keyslots.0.af.stripes", 0), unlockErr: "AF stripes 0 out of range"},
		{name: "luks2/stripes huge", base: l2, mutate: j("keyslots.0.af.stripes", 1000000000), unlockErr: "AF stripes 1000000000 out of range"},
		{name: "luks2/pbkdf2 iterations huge", base: l2, mutate: j("keyslots.0.kdf.iterations", int64(1)<<40), unlockErr: "pbkdf2 iterations 1099511627776 out of range"},
		{name: "luks2/argon2 memory huge", base: l2, mutate: func(t *testing.T, b []byte) []byte {
			editJSON(t, b, func(m map[string]any) {
				jset(m, "keyslots.0.kdf", map[string]any{"type": "argon2id", "time": 4, "memory": 8 << 20, "cpus": 1, "salt": "AAAA"})
			})
			return b
		}, unlockErr: "argon2id memory 8388608 KiB out of range"},
		{name: "luks2/unknown kdf", base: l2, mutate: j("keyslots.0.kdf.type", "scrypt"), unlockErr: `kdf "scrypt"`, unsupported: true},
		{name: "luks2/unsupported cipher", base: l2, mutate: j("segments.0.encryption", "twofish-xts-plain64"),
			unlockErr: `cipher "twofish-xts-plain64"`, unsupported: true},
		{name: "luks2/unsupported keyslot cipher", base: l2, mutate: j("keyslots.0.area.encryption", "serpent-xts-plain64"),
			unlockErr: `key material: cipher "serpent-xts-plain64"`, unsupported: true},
		{name: "luks2/integrity", base: l2, mutate: j("segments.0.integrity", map[string]any{"type": "hmac(sha256)", "journal_encryption": "none", "journal_integrity": "none"}),
			warn: "cannot decrypt", unlockErr: "integrity", unsupported: true},
		{name: "luks2/requirements", base: l2, mutate: j("config.requirements", map[string]any{"mandatory": []string{"online-reencrypt-v2"}}),
			unlockErr: "online-reencrypt-v2", unsupported: true},
		{name: "luks2/sector_size 1000", base: l2, mutate: j("segments.0.sector_size", 1000), headerErr: "sector_size 1000"},
		{name: "luks2/no digest", base: l2, mutate: j("digests.0.segments", []string{}), headerErr: "no digest for segment 0"},
		{name: "luks2/bad salt", base: l2, mutate: j("digests.0.salt", "!!!"), headerErr: "digest salt"},
		{name: "luks2/offset not a number", base: l2, mutate: j("segments.0.offset", "-1"), headerErr: "not a decimal number"},
		{name: "luks2/payload size past the end", base: l2, mutate: j("segments.0.size", "1099511627776"), warn: "past the end of the device",
			check: func(t *testing.T, h *Header, v *Volume) {
				_, err := v.ReadAt(make([]byte, 4096), 1<<20)
				var fe *diskerr.FormatError
				if !errors.As(err, &fe) || fe.What != "payload" {
					t.Errorf("reading past the device end: %v, want a payload FormatError", err)
				}
			}},
		{name: "luks2/priority ignore", base: l2, mutate: j("keyslots.0.priority", 0), unlockErr: "no active keyslot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(tc.base)
			if tc.mutate != nil {
				b = tc.mutate(t, b)
			}
			r, size := bytes.NewReader(b), int64(len(b))
			h, err := ReadHeader(r, size)
			t.Logf("ReadHeader: %v", err)
			if tc.headerErr != "" {
				var fe *diskerr.FormatError
				if err == nil || !strings.Contains(err.Error(), tc.headerErr) || !errors.As(err, &fe) {
					t.Fatalf("ReadHeader: %v, want a FormatError with %q", err, tc.headerErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			if tc.warn != "" && !strings.Contains(strings.Join(h.Warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q, want one with %q", h.Warnings, tc.warn)
			}
			if tc.warn == "" && len(h.Warnings) > 0 && tc.unlockErr == "" {
				t.Errorf("unexpected warnings %q", h.Warnings)
			}
			pass := tc.pass
			if pass == "" {
				pass = testPass
			}
			v, err := h.Unlock(r, size, []byte(pass))
			t.Logf("warnings %q; Unlock: %v", h.Warnings, err)
			if tc.unlockErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.unlockErr) {
					t.Fatalf("Unlock: %v, want %q", err, tc.unlockErr)
				}
				if errors.Is(err, ErrWrongKey) != tc.wrongKey || errors.Is(err, ErrUnsupported) != tc.unsupported {
					t.Errorf("Unlock: %v: ErrWrongKey %v, ErrUnsupported %v; want %v, %v", err,
						errors.Is(err, ErrWrongKey), errors.Is(err, ErrUnsupported), tc.wrongKey, tc.unsupported)
				}
				if strings.Contains(err.Error(), pass) {
					t.Errorf("error shows the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			if tc.check != nil {
				tc.check(t, h, v)
			}
		})
	}
}
