package luks

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// LUKS1 on-disk layout (big-endian), from the LUKS1 On-Disk Format
// Specification 1.2.3.
const (
	luks1HeaderSize   = 592
	luks1KeyslotsOff  = 208
	luks1KeyslotSize  = 48
	luks1NumKeyslots  = 8
	luks1SlotActive   = 0x00AC71F3
	luks1SlotInactive = 0x0000DEAD
	luks1DigestSize   = 20
	sectorBytes       = 512
)

// readLUKS1 parses the LUKS1 binary header at offset 0.
func readLUKS1(r io.ReaderAt, size int64) (*Header, error) {
	if size < luks1HeaderSize {
		return nil, formatErr(0, "LUKS1 header", "device of %d bytes is shorter than the %d-byte header", size, luks1HeaderSize)
	}
	b := make([]byte, luks1HeaderSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, &diskerr.FormatError{FS: "luks", What: "LUKS1 header", Msg: "reading", Err: err}
	}
	be := binary.BigEndian
	cipherName, cipherMode, hashSpec := cstring(b[8:40]), cstring(b[40:72]), cstring(b[72:104])
	payload := int64(be.Uint32(b[104:])) * sectorBytes
	keyBytes := int(be.Uint32(b[108:]))
	h := &Header{
		Version:       1,
		UUID:          cstring(b[168:208]),
		Cipher:        cipherName + "-" + cipherMode,
		KeyBytes:      keyBytes,
		PayloadOffset: payload,
		PayloadSize:   -1,
		SectorSize:    sectorBytes,
		Regions:       []Region{{"LUKS header", 0, luks1HeaderSize}},
	}
	if !printable(cipherName) || !printable(cipherMode) || !printable(hashSpec) || !printable(h.UUID) {
		return nil, formatErr(8, "LUKS1 header", "cipher, hash or UUID is not a printable string")
	}
	if keyBytes < 1 || keyBytes > MaxKeyBytes {
		return nil, formatErr(108, "LUKS1 header", "key size %d bytes out of range [1, %d]", keyBytes, MaxKeyBytes)
	}
	if payload > size {
		h.Warnings = append(h.Warnings, fmt.Sprintf("payload offset %#x is past the end of the device (%#x)", payload, size))
	}
	h.digest = &digest{
		hash:       hashSpec,
		iterations: int(be.Uint32(b[164:])),
		salt:       append([]byte(nil), b[132:164]...),
		value:      append([]byte(nil), b[112:132]...),
	}
	for i := range luks1NumKeyslots {
		o := luks1KeyslotsOff + i*luks1KeyslotSize
		s := b[o : o+luks1KeyslotSize]
		state := be.Uint32(s)
		ks := &keyslot{
			id:           i,
			kdf:          kdf{typ: "pbkdf2", hash: hashSpec, iterations: int64(be.Uint32(s[4:])), salt: append([]byte(nil), s[8:40]...)},
			areaOff:      int64(be.Uint32(s[40:])) * sectorBytes,
			areaCipher:   h.Cipher,
			areaKeyBytes: keyBytes,
			keyBytes:     keyBytes,
			stripes:      int(be.Uint32(s[44:])),
			afHash:       hashSpec,
		}
		name := fmt.Sprintf("keyslot %d area", i)
		if state == luks1SlotInactive {
			// cryptsetup reserves the area of an unused slot too.
			name += " (unused)"
		}
		if ks.stripes >= 1 && ks.stripes <= MaxStripes {
			ks.areaLen = roundUp(int64(keyBytes)*int64(ks.stripes), sectorBytes)
			if ks.areaOff > 0 && ks.areaOff+ks.areaLen <= size {
				h.Regions = append(h.Regions, Region{name, ks.areaOff, ks.areaLen})
			}
		}
		switch state {
		case luks1SlotInactive:
			continue
		case luks1SlotActive:
		default:
			h.brokenSlot(i, fmt.Errorf("state %#x is neither active nor inactive", state))
			continue
		}
		if err := ks.check(size); err != nil {
			h.brokenSlot(i, err)
			continue
		}
		h.slots = append(h.slots, ks)
		h.Keyslots = append(h.Keyslots, i)
	}
	sortRegions(h.Regions)
	return h, nil
}

// brokenSlot records a keyslot that cannot be tried.
func (h *Header) brokenSlot(id int, err error) {
	err = fmt.Errorf("keyslot %d: %w", id, err)
	h.broken = append(h.broken, err)
	h.Warnings = append(h.Warnings, err.Error())
}

// check validates a keyslot's sizes and area against the caps and the device.
func (ks *keyslot) check(size int64) error {
	if ks.stripes < 1 || ks.stripes > MaxStripes {
		return fmt.Errorf("AF stripes %d out of range [1, %d]", ks.stripes, MaxStripes)
	}
	if ks.keyBytes < 1 || ks.keyBytes > MaxKeyBytes {
		return fmt.Errorf("key size %d bytes out of range [1, %d]", ks.keyBytes, MaxKeyBytes)
	}
	if ks.areaKeyBytes < 1 || ks.areaKeyBytes > MaxKeyBytes {
		return fmt.Errorf("area key size %d bytes out of range [1, %d]", ks.areaKeyBytes, MaxKeyBytes)
	}
	need := roundUp(int64(ks.keyBytes)*int64(ks.stripes), sectorBytes)
	if ks.areaLen < need {
		return fmt.Errorf("key material of %d bytes does not fit its area of %d bytes", need, ks.areaLen)
	}
	if ks.areaOff < 0 || ks.areaOff > size || need > size-ks.areaOff {
		return fmt.Errorf("key material at %#x+%#x is past the end of the device (%#x)", ks.areaOff, need, size)
	}
	if ks.areaOff == 0 {
		return fmt.Errorf("key material at offset 0 overlaps the header")
	}
	if _, err := newSectorCipher(ks.areaCipher, make([]byte, ks.areaKeyBytes)); err != nil {
		return fmt.Errorf("key material: %w", err)
	}
	if _, err := hashFunc(ks.afHash); err != nil {
		return fmt.Errorf("AF: %w", err)
	}
	return ks.kdf.check()
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func sortRegions(rs []Region) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Off < rs[j].Off })
}
