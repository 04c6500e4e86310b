package luks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/xts"
)

// sectorCipher decrypts one encryption unit in place, given its IV sector
// number (in 512-byte sectors, as dm-crypt counts for LUKS).
type sectorCipher interface {
	decrypt(buf []byte, iv uint64)
}

// newSectorCipher makes the cipher for a dm-crypt cipher specification
// ("aes-xts-plain64", "aes-cbc-essiv:sha256") and key. It is safe for
// concurrent use: crypto/aes blocks and xts.Cipher keep no state between
// calls.
func newSectorCipher(spec string, key []byte) (sectorCipher, error) {
	parts := strings.SplitN(spec, "-", 3)
	if len(parts) != 3 || parts[0] != "aes" {
		return nil, fmt.Errorf("cipher %q: %w (only aes-xts-plain64, aes-xts-plain, aes-cbc-essiv:sha256, aes-cbc-plain64, aes-cbc-plain)", spec, ErrUnsupported)
	}
	mode, ivmode := parts[1], parts[2]
	switch mode {
	case "xts":
		var mask uint64
		switch ivmode {
		case "plain64":
			mask = ^uint64(0)
		case "plain":
			mask = 0xffffffff
		default:
			return nil, fmt.Errorf("cipher %q: IV mode %q: %w", spec, ivmode, ErrUnsupported)
		}
		if len(key) != 32 && len(key) != 48 && len(key) != 64 {
			return nil, fmt.Errorf("cipher %q: %d-bit key: %w (XTS takes 256, 384 or 512 bits)", spec, len(key)*8, ErrUnsupported)
		}
		c, err := xts.NewCipher(aes.NewCipher, key)
		if err != nil {
			return nil, fmt.Errorf("cipher %q: %w", spec, err)
		}
		return &xtsCipher{c: c, mask: mask}, nil
	case "cbc":
		if len(key) != 16 && len(key) != 24 && len(key) != 32 {
			return nil, fmt.Errorf("cipher %q: %d-bit key: %w (AES takes 128, 192 or 256 bits)", spec, len(key)*8, ErrUnsupported)
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("cipher %q: %w", spec, err)
		}
		c := &cbcCipher{b: b}
		switch ivmode {
		case "plain64":
			c.mask = ^uint64(0)
		case "plain":
			c.mask = 0xffffffff
		case "essiv:sha256":
			// ESSIV: IV = E_salt(sector), salt = sha256(key), the cipher
			// being AES with the salt as its (256-bit) key.
			salt := sha256.Sum256(key)
			c.essiv, err = aes.NewCipher(salt[:])
			clear(salt[:])
			if err != nil {
				return nil, fmt.Errorf("cipher %q: %w", spec, err)
			}
			c.mask = ^uint64(0)
		default:
			return nil, fmt.Errorf("cipher %q: IV mode %q: %w", spec, ivmode, ErrUnsupported)
		}
		return c, nil
	}
	return nil, fmt.Errorf("cipher %q: mode %q: %w", spec, mode, ErrUnsupported)
}

type xtsCipher struct {
	c    *xts.Cipher
	mask uint64
}

func (x *xtsCipher) decrypt(buf []byte, iv uint64) { x.c.Decrypt(buf, buf, iv&x.mask) }

type cbcCipher struct {
	b, essiv cipher.Block
	mask     uint64
	modes    sync.Pool // of cipher.BlockMode with SetIV: one per goroutine at a time
}

// ivSetter is what crypto/cipher's CBC decrypters implement to be reused.
type ivSetter interface {
	cipher.BlockMode
	SetIV([]byte)
}

func (c *cbcCipher) decrypt(buf []byte, iv uint64) {
	var ivb [aes.BlockSize]byte
	binary.LittleEndian.PutUint64(ivb[:], iv&c.mask)
	if c.essiv != nil {
		c.essiv.Encrypt(ivb[:], ivb[:])
	}
	if m, ok := c.modes.Get().(ivSetter); ok {
		m.SetIV(ivb[:])
		m.CryptBlocks(buf, buf)
		c.modes.Put(m)
		return
	}
	m := cipher.NewCBCDecrypter(c.b, ivb[:])
	m.CryptBlocks(buf, buf)
	if s, ok := m.(ivSetter); ok {
		c.modes.Put(s)
	}
}

// decryptArea decrypts a keyslot's key material in place: 512-byte
// sectors, IVs counted from 0 at the start of the area.
func decryptArea(spec string, key, buf []byte) error {
	c, err := newSectorCipher(spec, key)
	if err != nil {
		return err
	}
	for i := 0; i+sectorBytes <= len(buf); i += sectorBytes {
		c.decrypt(buf[i:i+sectorBytes], uint64(i/sectorBytes))
	}
	return nil
}
