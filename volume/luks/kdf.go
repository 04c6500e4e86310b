package luks

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"

	"golang.org/x/crypto/argon2"
)

// kdf is a keyslot's key derivation: PBKDF2 (LUKS1 and LUKS2) or argon2i /
// argon2id (LUKS2).
type kdf struct {
	typ        string // "pbkdf2", "argon2i", "argon2id"
	hash       string // pbkdf2
	iterations int64  // pbkdf2
	time       int64  // argon2 passes
	memory     int64  // argon2 KiB
	cpus       int64  // argon2 lanes
	salt       []byte
}

// hashFunc returns the hash named as LUKS names them ("sha256").
func hashFunc(name string) (func() hash.Hash, error) {
	switch name {
	case "sha1":
		return sha1.New, nil
	case "sha224":
		return sha256.New224, nil
	case "sha256":
		return sha256.New, nil
	case "sha384":
		return sha512.New384, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("hash %q: %w", name, ErrUnsupported)
}

// check refuses parameters past the caps, before any work is done.
func (k *kdf) check() error {
	if len(k.salt) > maxSaltBytes {
		return fmt.Errorf("%s salt of %d bytes is longer than %d", k.typ, len(k.salt), maxSaltBytes)
	}
	switch k.typ {
	case "pbkdf2":
		if _, err := hashFunc(k.hash); err != nil {
			return fmt.Errorf("pbkdf2: %w", err)
		}
		if k.iterations < 1 || k.iterations > MaxPBKDF2Iterations {
			return fmt.Errorf("pbkdf2 iterations %d out of range [1, %d]", k.iterations, MaxPBKDF2Iterations)
		}
	case "argon2i", "argon2id":
		if k.time < 1 || k.time > MaxArgon2Time {
			return fmt.Errorf("%s time %d out of range [1, %d]", k.typ, k.time, MaxArgon2Time)
		}
		if k.cpus < 1 || k.cpus > MaxArgon2Threads {
			return fmt.Errorf("%s cpus %d out of range [1, %d]", k.typ, k.cpus, MaxArgon2Threads)
		}
		if k.memory < 8*k.cpus || k.memory > MaxArgon2MemoryKiB {
			return fmt.Errorf("%s memory %d KiB out of range [%d, %d]", k.typ, k.memory, 8*k.cpus, MaxArgon2MemoryKiB)
		}
	default:
		return fmt.Errorf("kdf %q: %w", k.typ, ErrUnsupported)
	}
	return nil
}

// derive derives a keyLen-byte key from the passphrase.
func (k *kdf) derive(pass []byte, keyLen int) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	switch k.typ {
	case "pbkdf2":
		return pbkdf2Key(k.hash, pass, k.salt, int(k.iterations), keyLen)
	case "argon2i":
		return argon2.Key(pass, k.salt, uint32(k.time), uint32(k.memory), uint8(k.cpus), uint32(keyLen)), nil
	default: // argon2id, as check says
		return argon2.IDKey(pass, k.salt, uint32(k.time), uint32(k.memory), uint8(k.cpus), uint32(keyLen)), nil
	}
}

func pbkdf2Key(hashName string, pass, salt []byte, iter, keyLen int) ([]byte, error) {
	h, err := hashFunc(hashName)
	if err != nil {
		return nil, err
	}
	// crypto/pbkdf2 takes the password as a string: the copy is unavoidable.
	return pbkdf2.Key(h, string(pass), salt, iter, keyLen)
}

// check verifies a candidate volume key against the digest.
func (d *digest) check(key []byte) (bool, error) {
	if d.iterations < 1 || d.iterations > MaxPBKDF2Iterations {
		return false, fmt.Errorf("digest iterations %d out of range [1, %d]", d.iterations, MaxPBKDF2Iterations)
	}
	if len(d.value) < 1 || len(d.value) > maxSaltBytes || len(d.salt) > maxSaltBytes {
		return false, fmt.Errorf("digest of %d bytes or salt of %d bytes out of range", len(d.value), len(d.salt))
	}
	got, err := pbkdf2Key(d.hash, key, d.salt, d.iterations, len(d.value))
	if err != nil {
		return false, fmt.Errorf("digest: %w", err)
	}
	return subtle.ConstantTimeCompare(got, d.value) == 1, nil
}

// afMerge recovers a keyBytes-byte key from its anti-forensic split of
// stripes stripes (LUKS1 spec, section 2.4): each stripe but the last is
// XORed in and diffused with the hash, the last is XORed in.
func afMerge(split []byte, keyBytes, stripes int, hashName string) ([]byte, error) {
	h, err := hashFunc(hashName)
	if err != nil {
		return nil, fmt.Errorf("AF: %w", err)
	}
	if len(split) < keyBytes*stripes {
		return nil, fmt.Errorf("AF: %d bytes of key material, need %d", len(split), keyBytes*stripes)
	}
	buf := make([]byte, keyBytes)
	d := h()
	for i := 0; i < stripes-1; i++ {
		xorInto(buf, split[i*keyBytes:])
		diffuse(buf, d)
	}
	xorInto(buf, split[(stripes-1)*keyBytes:])
	return buf, nil
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// diffuse replaces each digest-sized block i of buf with hash(be32(i) ||
// block), the last partial block with the hash's first bytes.
func diffuse(buf []byte, d hash.Hash) {
	ds := d.Size()
	var iv [4]byte
	var sum [64]byte
	for i, o := 0, 0; o < len(buf); i, o = i+1, o+ds {
		end := min(o+ds, len(buf))
		iv[0], iv[1], iv[2], iv[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		d.Reset()
		d.Write(iv[:])
		d.Write(buf[o:end])
		copy(buf[o:end], d.Sum(sum[:0]))
	}
}
