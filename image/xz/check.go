package xz

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

var crc64Table = crc64.MakeTable(crc64.ECMA)

// newCheck returns the hash of a check type; nil for CheckNone. The sum
// is compared with the stored check in its on-disk byte order: CRC32 and
// CRC64 are stored little-endian, SHA-256 as its bytes.
func newCheck(c CheckType) hash.Hash {
	switch c {
	case CheckCRC32:
		return crc32.NewIEEE()
	case CheckCRC64:
		return crc64.New(crc64Table)
	case CheckSHA256:
		return sha256.New()
	}
	return nil
}

// checkSum returns h's sum in the byte order of the file.
func checkSum(c CheckType, h hash.Hash) []byte {
	switch c {
	case CheckCRC32:
		return binary.LittleEndian.AppendUint32(nil, h.(hash.Hash32).Sum32())
	case CheckCRC64:
		return binary.LittleEndian.AppendUint64(nil, h.(hash.Hash64).Sum64())
	case CheckSHA256:
		return h.Sum(nil)
	}
	return nil
}
