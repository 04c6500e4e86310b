package luks

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The LUKS2 JSON metadata: objects keyed by decimal ids; 64-bit numbers
// are decimal strings, small ones JSON numbers.
type luks2Metadata struct {
	Keyslots map[string]jsonKeyslot `json:"keyslots"`
	Segments map[string]jsonSegment `json:"segments"`
	Digests  map[string]jsonDigest  `json:"digests"`
	Config   struct {
		JSONSize     string   `json:"json_size"`
		KeyslotsSize string   `json:"keyslots_size"`
		Flags        []string `json:"flags"`
		Requirements struct {
			Mandatory []string `json:"mandatory"`
		} `json:"requirements"`
	} `json:"config"`
}

type jsonKeyslot struct {
	Type     string `json:"type"`
	KeySize  int    `json:"key_size"`
	Priority *int   `json:"priority"`
	AF       struct {
		Type    string `json:"type"`
		Stripes int    `json:"stripes"`
		Hash    string `json:"hash"`
	} `json:"af"`
	Area struct {
		Type       string `json:"type"`
		Offset     string `json:"offset"`
		Size       string `json:"size"`
		Encryption string `json:"encryption"`
		KeySize    int    `json:"key_size"`
	} `json:"area"`
	KDF struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations int64  `json:"iterations"`
		Time       int64  `json:"time"`
		Memory     int64  `json:"memory"`
		CPUs       int64  `json:"cpus"`
		Salt       string `json:"salt"`
	} `json:"kdf"`
}

type jsonSegment struct {
	Type       string          `json:"type"`
	Offset     string          `json:"offset"`
	Size       string          `json:"size"`
	IVTweak    string          `json:"iv_tweak"`
	Encryption string          `json:"encryption"`
	SectorSize int             `json:"sector_size"`
	Integrity  json.RawMessage `json:"integrity"`
	Flags      []string        `json:"flags"`
}

type jsonDigest struct {
	Type       string   `json:"type"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
	Hash       string   `json:"hash"`
	Iterations int      `json:"iterations"`
	Salt       string   `json:"salt"`
	Digest     string   `json:"digest"`
}

// luks2MaxKeyslots is the number of keyslots LUKS2 allows (ids 0..31).
const luks2MaxKeyslots = 32

// parseMetadata decodes the JSON area (up to its first NUL) and checks what
// does not depend on the device.
func parseMetadata(js []byte, hdrSize int64) (*luks2Metadata, error) {
	var m luks2Metadata
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if m.Keyslots == nil || m.Segments == nil || m.Digests == nil {
		return nil, errors.New("missing keyslots, segments or digests object")
	}
	if m.Config.JSONSize != "" {
		n, err := parseU64(m.Config.JSONSize)
		if err != nil || int64(n) != hdrSize-luks2BinSize {
			return nil, fmt.Errorf("config json_size %q does not match hdr_size %#x", m.Config.JSONSize, hdrSize)
		}
	} else {
		return nil, errors.New("missing config json_size")
	}
	return &m, nil
}

func parseU64(s string) (uint64, error) {
	if s == "" || len(s) > 20 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

// parseOff parses a decimal byte offset or size that must fit in an int64.
func parseOff(s string) (int64, error) {
	n, err := parseU64(s)
	if err != nil {
		return 0, err
	}
	if n > 1<<62 {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return int64(n), nil
}

// sortedIDs returns the decimal ids of a JSON object, numerically sorted;
// an id that is not a small decimal number is an error.
func sortedIDs[T any](m map[string]T, what string) ([]int, error) {
	ids := make([]int, 0, len(m))
	for k := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n > 1<<20 || strconv.Itoa(n) != k {
			return nil, fmt.Errorf("%s id %q is not a decimal number", what, k)
		}
		ids = append(ids, n)
	}
	sort.Ints(ids)
	return ids, nil
}

// apply fills h from the metadata: the segment (payload), the digest and
// the keyslots that may unlock it, and their regions.
func (m *luks2Metadata) apply(h *Header, size int64) error {
	segIDs, err := sortedIDs(m.Segments, "segment")
	if err != nil {
		return err
	}
	if len(segIDs) == 0 {
		return errors.New("no segment")
	}
	var unsupported []string
	if len(m.Config.Requirements.Mandatory) > 0 {
		unsupported = append(unsupported, fmt.Sprintf("mandatory requirements %q", m.Config.Requirements.Mandatory))
	}
	if len(segIDs) > 1 {
		unsupported = append(unsupported, fmt.Sprintf("%d segments (a reencryption in progress?)", len(segIDs)))
	}
	segKey := strconv.Itoa(segIDs[0])
	seg := m.Segments[segKey]
	if seg.Type != "crypt" {
		unsupported = append(unsupported, fmt.Sprintf("segment %s of type %q", segKey, seg.Type))
	}
	if len(seg.Integrity) > 0 && string(seg.Integrity) != "null" {
		var in struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(seg.Integrity, &in)
		unsupported = append(unsupported, fmt.Sprintf("segment %s with integrity %q", segKey, in.Type))
	}
	if h.PayloadOffset, err = parseOff(seg.Offset); err != nil {
		return fmt.Errorf("segment %s offset: %w", segKey, err)
	}
	if seg.Size == "dynamic" {
		h.PayloadSize = -1
	} else if h.PayloadSize, err = parseOff(seg.Size); err != nil {
		return fmt.Errorf("segment %s size: %w", segKey, err)
	}
	if seg.IVTweak != "" {
		if h.ivTweak, err = parseU64(seg.IVTweak); err != nil {
			return fmt.Errorf("segment %s iv_tweak: %w", segKey, err)
		}
	}
	switch seg.SectorSize {
	case 512, 1024, 2048, 4096:
		h.SectorSize = seg.SectorSize
	default:
		return fmt.Errorf("segment %s sector_size %d is not 512, 1024, 2048 or 4096", segKey, seg.SectorSize)
	}
	if h.PayloadOffset%int64(h.SectorSize) != 0 || (h.PayloadSize > 0 && h.PayloadSize%int64(h.SectorSize) != 0) {
		return fmt.Errorf("segment %s offset %d or size %d is not a multiple of sector_size %d", segKey, h.PayloadOffset, h.PayloadSize, h.SectorSize)
	}
	h.Cipher = seg.Encryption
	if h.PayloadOffset > size || (h.PayloadSize > 0 && h.PayloadSize > size-h.PayloadOffset) {
		h.Warnings = append(h.Warnings, fmt.Sprintf("payload %#x+%#x is past the end of the device (%#x)", h.PayloadOffset, h.PayloadSize, size))
	}

	// The digest of the segment's volume key.
	digIDs, err := sortedIDs(m.Digests, "digest")
	if err != nil {
		return err
	}
	var dig *jsonDigest
	for _, id := range digIDs {
		d := m.Digests[strconv.Itoa(id)]
		for _, s := range d.Segments {
			if s == segKey && dig == nil {
				dig = &d
			}
		}
	}
	if dig == nil {
		return fmt.Errorf("no digest for segment %s", segKey)
	}
	if dig.Type != "pbkdf2" {
		unsupported = append(unsupported, fmt.Sprintf("digest type %q", dig.Type))
	}
	h.digest = &digest{hash: dig.Hash, iterations: dig.Iterations}
	if h.digest.salt, err = decodeB64(dig.Salt, "digest salt"); err != nil {
		return err
	}
	if h.digest.value, err = decodeB64(dig.Digest, "digest"); err != nil {
		return err
	}
	inDigest := map[string]bool{}
	for _, k := range dig.Keyslots {
		inDigest[k] = true
	}

	slotIDs, err := sortedIDs(m.Keyslots, "keyslot")
	if err != nil {
		return err
	}
	var normal, high []*keyslot
	for _, id := range slotIDs {
		key := strconv.Itoa(id)
		js := m.Keyslots[key]
		if id >= luks2MaxKeyslots {
			h.brokenSlot(id, fmt.Errorf("id out of range [0, %d]", luks2MaxKeyslots-1))
			continue
		}
		areaOff, err1 := parseOff(js.Area.Offset)
		areaLen, err2 := parseOff(js.Area.Size)
		if err1 == nil && err2 == nil && areaOff > 0 && areaOff <= size && areaLen <= size-areaOff {
			h.Regions = append(h.Regions, Region{fmt.Sprintf("keyslot %d area", id), areaOff, areaLen})
		}
		if !inDigest[key] {
			continue // another segment's key (or a reencryption keyslot)
		}
		if h.KeyBytes == 0 {
			h.KeyBytes = js.KeySize
		}
		if js.Type != "luks2" {
			h.brokenSlot(id, fmt.Errorf("type %q: %w", js.Type, ErrUnsupported))
			continue
		}
		if js.Area.Type != "raw" || js.AF.Type != "luks1" {
			h.brokenSlot(id, fmt.Errorf("area type %q, AF type %q: %w", js.Area.Type, js.AF.Type, ErrUnsupported))
			continue
		}
		if err1 != nil || err2 != nil {
			h.brokenSlot(id, fmt.Errorf("area offset or size: %w", joinErrs(err1, err2)))
			continue
		}
		salt, err := decodeB64(js.KDF.Salt, "kdf salt")
		if err != nil {
			h.brokenSlot(id, err)
			continue
		}
		ks := &keyslot{
			id: id,
			kdf: kdf{typ: js.KDF.Type, hash: js.KDF.Hash, iterations: js.KDF.Iterations,
				time: js.KDF.Time, memory: js.KDF.Memory, cpus: js.KDF.CPUs, salt: salt},
			areaOff:      areaOff,
			areaLen:      areaLen,
			areaCipher:   js.Area.Encryption,
			areaKeyBytes: js.Area.KeySize,
			keyBytes:     js.KeySize,
			stripes:      js.AF.Stripes,
			afHash:       js.AF.Hash,
		}
		if err := ks.check(size); err != nil {
			h.brokenSlot(id, err)
			continue
		}
		switch {
		case js.Priority != nil && *js.Priority == 0:
			continue // "ignore": tried only when named, which Unlock does not do
		case js.Priority != nil && *js.Priority == 2:
			high = append(high, ks)
		default:
			normal = append(normal, ks)
		}
	}
	h.slots = append(high, normal...)
	for _, ks := range h.slots {
		h.Keyslots = append(h.Keyslots, ks.id)
	}
	if len(unsupported) > 0 {
		h.unsupported = fmt.Errorf("%s: %w", strings.Join(unsupported, ", "), ErrUnsupported)
		h.Warnings = append(h.Warnings, "cannot decrypt: "+h.unsupported.Error())
	}
	return nil
}

// decodeB64 decodes a base64 salt or digest, refusing one longer than
// maxSaltBytes.
func decodeB64(s, what string) ([]byte, error) {
	if base64.StdEncoding.DecodedLen(len(s)) > maxSaltBytes {
		return nil, fmt.Errorf("%s of %d base64 characters is too long", what, len(s))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}
