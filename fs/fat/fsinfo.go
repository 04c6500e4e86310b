package fat

import (
	"encoding/binary"
	"fmt"
)

// FSInfo signatures (fatgen103): lead at 0, structure at 484, trail at 508.
const (
	fsinfoLeadSig   = 0x41615252
	fsinfoStructSig = 0x61417272
	fsinfoTrailSig  = 0xAA550000
)

// fsinfo is the FAT32 FSInfo sector: hints for the allocator.
type fsinfo struct {
	freeCount uint32 // 0xFFFFFFFF: unknown
	nextFree  uint32
}

// parseFSInfo decodes an FSInfo sector; it fails when a signature is
// wrong, saying which.
func parseFSInfo(b []byte) (fsinfo, error) {
	if len(b) < 512 {
		return fsinfo{}, fmt.Errorf("%d bytes, need 512", len(b))
	}
	for _, s := range []struct {
		off  int
		want uint32
	}{{0, fsinfoLeadSig}, {484, fsinfoStructSig}, {508, fsinfoTrailSig}} {
		if got := binary.LittleEndian.Uint32(b[s.off:]); got != s.want {
			return fsinfo{}, fmt.Errorf("signature at +%d is %#08x, want %#08x", s.off, got, s.want)
		}
	}
	return fsinfo{freeCount: binary.LittleEndian.Uint32(b[488:]), nextFree: binary.LittleEndian.Uint32(b[492:])}, nil
}

// reservedSector says whether sector s (as a BPB field gives it) names a
// sector of the reserved area other than the boot sector: 0 and 0xFFFF
// mean "none".
func (p *bpb) reservedSector(s int64) bool {
	return s > 0 && s != 0xFFFF && s < p.reserved
}
