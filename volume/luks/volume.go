package luks

import (
	"errors"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Unlock tries the passphrase on every keyslot in Keyslots order and, with
// the volume key the first one that accepts it gives, returns the decrypted
// payload. When no keyslot accepts it the error wraps ErrWrongKey (and
// names keyslots that could not be tried); when none could be tried at all
// it does not. The passphrase never appears in an error.
func (h *Header) Unlock(r io.ReaderAt, size int64, passphrase []byte) (*Volume, error) {
	if err := h.Supported(); err != nil {
		return nil, err
	}
	tried := 0
	problems := append([]error(nil), h.broken...)
	for _, ks := range h.slots {
		key, err := ks.unlock(r, size, passphrase)
		if err != nil {
			problems = append(problems, fmt.Errorf("keyslot %d: %w", ks.id, err))
			continue
		}
		tried++
		ok, err := h.digest.check(key)
		if err != nil {
			clear(key)
			return nil, fmt.Errorf("luks: %w", err)
		}
		if ok {
			v, err := h.newVolume(r, size, key)
			clear(key)
			return v, err
		}
		clear(key)
	}
	if tried == 0 {
		if len(problems) == 0 {
			return nil, errors.New("luks: no active keyslot")
		}
		return nil, fmt.Errorf("luks: no keyslot can be tried: %w", joinErrs(problems...))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w (tried %d keyslot(s); %w)", ErrWrongKey, tried, joinErrs(problems...))
	}
	return nil, fmt.Errorf("%w (tried %d keyslot(s))", ErrWrongKey, tried)
}

// UnlockKey returns the decrypted payload with the volume key itself, after
// checking it against the digest (an error wrapping ErrWrongKey if it does
// not match). The key is not kept: only the cipher made from it.
func (h *Header) UnlockKey(r io.ReaderAt, size int64, key []byte) (*Volume, error) {
	if err := h.Supported(); err != nil {
		return nil, err
	}
	if len(key) != h.KeyBytes {
		return nil, fmt.Errorf("%w: key of %d bytes, the volume key has %d", ErrWrongKey, len(key), h.KeyBytes)
	}
	ok, err := h.digest.check(key)
	if err != nil {
		return nil, fmt.Errorf("luks: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: key does not match the digest", ErrWrongKey)
	}
	return h.newVolume(r, size, key)
}

// unlock derives the keyslot's key from the passphrase, decrypts its key
// material and merges the stripes: a candidate volume key.
func (ks *keyslot) unlock(r io.ReaderAt, size int64, pass []byte) ([]byte, error) {
	if err := ks.check(size); err != nil {
		return nil, err
	}
	dk, err := ks.kdf.derive(pass, ks.areaKeyBytes)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	n := roundUp(int64(ks.keyBytes)*int64(ks.stripes), sectorBytes) // ≤ MaxKeyBytes*MaxStripes, inside the device
	split := make([]byte, n)
	defer clear(split)
	if _, err := r.ReadAt(split, ks.areaOff); err != nil {
		return nil, fmt.Errorf("reading key material at %#x: %w", ks.areaOff, err)
	}
	if err := decryptArea(ks.areaCipher, dk, split); err != nil {
		return nil, err
	}
	return afMerge(split, ks.keyBytes, ks.stripes, ks.afHash)
}

// Volume is the decrypted payload of a LUKS volume: plaintext byte x is
// stored (encrypted) at device byte Offset()+x. It is safe for concurrent
// use.
type Volume struct {
	r      io.ReaderAt
	devEnd int64 // device size
	off    int64 // payload offset on the device
	size   int64 // payload size
	sector int64 // encryption unit
	tweak  uint64
	c      sectorCipher
}

// newVolume makes the payload reader with the (checked) volume key.
func (h *Header) newVolume(r io.ReaderAt, size int64, key []byte) (*Volume, error) {
	c, err := newSectorCipher(h.Cipher, key)
	if err != nil {
		return nil, err
	}
	if h.PayloadOffset > size {
		return nil, formatErr(h.PayloadOffset, "payload", "starts past the end of the device (%#x)", size)
	}
	v := &Volume{r: r, devEnd: size, off: h.PayloadOffset, size: h.PayloadSize, sector: int64(h.SectorSize), tweak: h.ivTweak, c: c}
	if v.size < 0 {
		// To the end of the device, in whole sectors, as dm-crypt maps it.
		v.size = (size - v.off) / v.sector * v.sector
	}
	return v, nil
}

// Size returns the payload size in bytes: the segment's size, or for a
// payload to the end of the device ("dynamic", and every LUKS1 payload)
// the rest of the device in whole sectors, as dm-crypt maps it.
func (v *Volume) Size() int64 { return v.size }

// Offset returns the payload's offset on the device (Header.PayloadOffset).
func (v *Volume) Offset() int64 { return v.off }

// SectorSize returns the encryption unit in bytes.
func (v *Volume) SectorSize() int { return int(v.sector) }

// maxChunk bounds the scratch buffer of an unaligned read.
const maxChunk = 1 << 20

// ReadAt reads plaintext at off, any alignment. Only the sectors touched
// are read and decrypted. A read past Size returns io.EOF; a payload that
// runs past the end of the device gives an error naming the offset.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("luks: negative offset %d", off)
	}
	if off >= v.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > v.size-off {
		p = p[:v.size-off]
	}
	done := 0
	// Aligned head and body: decrypt straight into p.
	if off%v.sector == 0 {
		n := int64(len(p)) / v.sector * v.sector
		if n > 0 {
			if err := v.readUnits(p[:n], off); err != nil {
				return 0, err
			}
			done = int(n)
		}
	}
	// The rest (unaligned start or a partial last sector): through a buffer.
	var buf []byte
	for done < len(p) {
		pos := off + int64(done)
		start := pos / v.sector * v.sector
		end := min(roundUp(off+int64(len(p)), v.sector), start+maxChunk)
		if buf == nil {
			buf = make([]byte, min(end-start, maxChunk))
		}
		b := buf[:end-start]
		if err := v.readUnits(b, start); err != nil {
			return done, err
		}
		done += copy(p[done:], b[pos-start:])
	}
	if len(p) < want {
		return done, io.EOF
	}
	return done, nil
}

// readUnits reads and decrypts whole sectors at plaintext offset off (a
// multiple of the sector size) into b (a multiple of it too).
func (v *Volume) readUnits(b []byte, off int64) error {
	dev := v.off + off
	if n, err := v.r.ReadAt(b, dev); n < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &diskerr.FormatError{FS: "luks", Off: dev, What: "payload",
			Msg: fmt.Sprintf("reading %d bytes (device size %#x)", len(b), v.devEnd), Err: err}
	}
	for i := int64(0); i < int64(len(b)); i += v.sector {
		v.c.decrypt(b[i:i+v.sector], uint64(off+i)/sectorBytes+v.tweak)
	}
	return nil
}
