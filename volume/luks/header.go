package luks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// Caps on values read from a header. Anything beyond is refused with an
// error naming the value, before any memory is allocated or work done.
const (
	// MaxKeyBytes is the largest volume or keyslot key accepted (cryptsetup
	// keys are at most 64 bytes for the ciphers here; LUKS2 allows 512).
	MaxKeyBytes = 512
	// MaxStripes is the most anti-forensic stripes accepted (cryptsetup
	// always writes 4000).
	MaxStripes = 1 << 16
	// MaxPBKDF2Iterations caps PBKDF2 iteration counts (keyslots and
	// digests): cryptsetup's --iter-time 2000 gives a few million.
	MaxPBKDF2Iterations = 1 << 28
	// MaxArgon2MemoryKiB caps argon2 memory, in KiB: 4 GiB, cryptsetup's
	// own maximum.
	MaxArgon2MemoryKiB = 4 << 20
	// MaxArgon2Time caps argon2 passes.
	MaxArgon2Time = 1 << 16
	// MaxArgon2Threads caps argon2 lanes ("cpus").
	MaxArgon2Threads = 64
	// maxSaltBytes caps a decoded salt or digest.
	maxSaltBytes = 1024
)

// ErrWrongKey is wrapped by the error of Unlock when no keyslot accepts the
// passphrase, and of UnlockKey when the key does not match the digest.
var ErrWrongKey = errors.New("luks: wrong passphrase or key")

// ErrUnsupported is wrapped by errors for LUKS features this package does
// not decrypt: other ciphers, IV modes, hashes and KDFs, integrity, a
// reencryption in progress. The error names the feature.
var ErrUnsupported = errors.New("not supported")

// Region is one on-disk structure of the LUKS header, in bytes from the
// start of the device.
type Region struct {
	// Name is one of "LUKS header" (LUKS1: the 592-byte header; LUKS2: the
	// 4096-byte binary header), "LUKS2 JSON metadata", "LUKS2 secondary
	// header", "LUKS2 secondary JSON metadata", "keyslot N area" (LUKS1:
	// the key material; LUKS2: the area the metadata gives), "keyslot N
	// area (unused)" (LUKS1: a disabled keyslot's reserved area).
	Name     string
	Off, Len int64
}

// Header is a parsed LUKS1 or LUKS2 header.
type Header struct {
	Version   int    // 1 or 2
	UUID      string // as stored, e.g. "a565d6fa-017b-4f79-b2cc-bf0c54b3e448"
	Label     string // LUKS2 label, "" otherwise
	Subsystem string // LUKS2 subsystem, "" otherwise
	Cipher    string // payload cipher, e.g. "aes-xts-plain64"
	KeyBytes  int    // volume key size in bytes (64 for aes-xts-plain64 with -s 512)

	PayloadOffset int64 // bytes from the start of the device
	PayloadSize   int64 // bytes; -1 when the payload runs to the end of the device
	SectorSize    int   // encryption unit: 512 (LUKS1), 512...4096 (LUKS2)

	Regions  []Region // every on-disk structure, in offset order
	Warnings []string // damage worked around (a bad header copy, a broken keyslot)

	// Seqid is the LUKS2 sequence id of the header copy used (0 for LUKS1).
	Seqid uint64
	// Keyslots lists the keyslots that may be tried, in the order Unlock
	// tries them.
	Keyslots []int

	slots       []*keyslot
	broken      []error // keyslots that cannot be tried, and why
	digest      *digest
	ivTweak     uint64 // added to the 512-byte sector number for the IV
	unsupported error
}

// keyslot is one active keyslot that Unlock can try.
type keyslot struct {
	id           int
	kdf          kdf
	areaOff      int64 // key material, bytes from the start of the device
	areaLen      int64 // bytes available for it
	areaCipher   string
	areaKeyBytes int // derived key length
	keyBytes     int // volume key length
	stripes      int
	afHash       string
}

// digest is the PBKDF2 digest a candidate volume key must match.
type digest struct {
	hash       string
	iterations int
	salt       []byte
	value      []byte
}

var (
	magic1 = []byte("LUKS\xba\xbe")
	magic2 = []byte("SKUL\xba\xbe") // LUKS2 secondary header
)

// luks2Offsets are the offsets a LUKS2 secondary header may be at: the
// allowed header sizes.
var luks2Offsets = []int64{
	0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
}

// Probe reports whether r starts with a LUKS header (either version), or
// holds a LUKS2 secondary header at one of the standard offsets (a LUKS2
// volume whose primary header is damaged).
func Probe(r io.ReaderAt, size int64) bool {
	var b [8]byte
	if size >= 592 {
		if _, err := r.ReadAt(b[:], 0); err == nil && bytes.Equal(b[:6], magic1) {
			if v := int(b[6])<<8 | int(b[7]); v == 1 || v == 2 {
				return true
			}
		}
	}
	for _, off := range luks2Offsets {
		if off+4096 > size {
			break
		}
		if _, err := r.ReadAt(b[:], off); err == nil && bytes.Equal(b[:6], magic2) && b[6] == 0 && b[7] == 2 {
			return true
		}
	}
	return false
}

// ReadHeader parses the LUKS header of r: the LUKS1 binary header, or both
// copies of the LUKS2 binary header and JSON metadata, using the valid one
// with the highest seqid and warning (Header.Warnings) when a copy is
// damaged or stale. It fails with a *diskerr.FormatError when no copy is
// valid. Features it cannot decrypt do not fail it: Supported (and Unlock)
// report them.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	var b [8]byte
	if size < 8 {
		return nil, formatErr(0, "header", "device of %d bytes is too small", size)
	}
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, &diskerr.FormatError{FS: "luks", What: "header", Msg: "reading", Err: err}
	}
	primary := bytes.Equal(b[:6], magic1)
	v := int(b[6])<<8 | int(b[7])
	if primary && v == 1 {
		return readLUKS1(r, size)
	}
	// A LUKS2 primary header, or a damaged one (bad magic or version) that
	// may have a LUKS2 secondary header: readLUKS2 says what is wrong with
	// each copy.
	if (primary && v == 2) || Probe(r, size) {
		return readLUKS2(r, size)
	}
	if primary {
		return nil, formatErr(6, "header", "unknown LUKS version %d", v)
	}
	return nil, formatErr(0, "header", "no LUKS magic")
}

// Supported returns nil when Unlock can decrypt this volume, or an error
// wrapping ErrUnsupported that names what it cannot (cipher, integrity,
// reencryption), so a caller can say so before asking for a passphrase.
func (h *Header) Supported() error {
	if h.unsupported != nil {
		return fmt.Errorf("luks: %w", h.unsupported)
	}
	if h.KeyBytes < 1 || h.KeyBytes > MaxKeyBytes {
		return fmt.Errorf("luks: volume key size %d bytes out of range [1, %d]", h.KeyBytes, MaxKeyBytes)
	}
	if _, err := newSectorCipher(h.Cipher, make([]byte, h.KeyBytes)); err != nil {
		return fmt.Errorf("luks: %w", err)
	}
	return nil
}

func formatErr(off int64, what, format string, args ...any) *diskerr.FormatError {
	return &diskerr.FormatError{FS: "luks", Off: off, What: what, Msg: fmt.Sprintf(format, args...)}
}

// joinErrs is errors.Join on one line: "a; b".
func joinErrs(errs ...error) error {
	var nonNil []error
	for _, e := range errs {
		if e != nil {
			nonNil = append(nonNil, e)
		}
	}
	if len(nonNil) == 0 {
		return nil
	}
	return &joined{nonNil}
}

type joined struct{ errs []error }

func (j *joined) Error() string {
	var b strings.Builder
	for i, e := range j.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (j *joined) Unwrap() []error { return j.errs }

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
