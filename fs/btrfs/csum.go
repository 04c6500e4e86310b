package btrfs

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// Checksum types (btrfs_super_block.csum_type).
const (
	csumCRC32C = 0
	csumXXHash = 1
	csumSHA256 = 2
	csumBLAKE2 = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// csumName names a checksum type as mkfs.btrfs --csum does.
func csumName(t uint16) string {
	switch t {
	case csumCRC32C:
		return "crc32c"
	case csumXXHash:
		return "xxhash64"
	case csumSHA256:
		return "sha256"
	case csumBLAKE2:
		return "blake2b"
	}
	return "unknown"
}

// csumSupported reports whether this package verifies checksums of type
// t. BLAKE2b-256 needs golang.org/x/crypto, which we do not take for one
// rarely used option: such filesystems are read with a warning.
func csumSupported(t uint16) bool { return t <= csumSHA256 }

// csumOK reports whether the checksum at the start of b (superblock or
// tree block) matches the bytes after the 32-byte checksum field.
// Unverifiable types report true; the caller warned once at New.
func csumOK(t uint16, b []byte) bool {
	data := b[csumSize:]
	switch t {
	case csumCRC32C:
		return binary.LittleEndian.Uint32(b) == crc32.Checksum(data, castagnoli)
	case csumXXHash:
		return binary.LittleEndian.Uint64(b) == xxhash64(data)
	case csumSHA256:
		s := sha256.Sum256(data)
		return string(s[:]) == string(b[:32])
	}
	return true
}

// nameHash is btrfs_name_hash: the crc32c of a name with seed ~1 and no
// final inversion, the offset of a DIR_ITEM key.
func nameHash(name []byte) uint64 {
	return uint64(^crc32.Update(1, castagnoli, name))
}

// xxhash64 is XXH64 with seed 0, as btrfs uses for csum_type 1. It is
// small enough to write here rather than take a module for it.
func xxhash64(b []byte) uint64 {
	const (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	le := binary.LittleEndian
	round := func(acc, in uint64) uint64 {
		acc += in * p2
		acc = bits.RotateLeft64(acc, 31)
		return acc * p1
	}
	merge := func(acc, v uint64) uint64 {
		acc ^= round(0, v)
		return acc*p1 + p4
	}
	n := uint64(len(b))
	var h uint64
	if len(b) >= 32 {
		var v1, v2, v3, v4 uint64 = p1, p2, 0, 0
		v1 += p2
		v4 -= p1
		for len(b) >= 32 {
			v1 = round(v1, le.Uint64(b[0:]))
			v2 = round(v2, le.Uint64(b[8:]))
			v3 = round(v3, le.Uint64(b[16:]))
			v4 = round(v4, le.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(h, v1)
		h = merge(h, v2)
		h = merge(h, v3)
		h = merge(h, v4)
	} else {
		h = p5
	}
	h += n
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, le.Uint64(b))
		h = bits.RotateLeft64(h, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(le.Uint32(b)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
