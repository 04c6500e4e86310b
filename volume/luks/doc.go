// Package luks reads LUKS1 and LUKS2 encrypted volumes, read-only, in pure
// Go: it parses the headers, unlocks a keyslot with a passphrase (or takes
// the volume key itself) and decrypts the payload sector by sector, as
// dm-crypt would present it.
//
// What is read:
//   - LUKS1: the 592-byte binary header (cipher, hash, payload offset, the
//     volume key digest, eight keyslots).
//   - LUKS2: both binary headers (the primary at 0, the secondary at the
//     offset the primary's hdr_size gives, or else at each of the standard
//     offsets 16 KiB ... 4 MiB) and their JSON metadata: keyslots, segments,
//     digests and config. Each copy is checked (magic, version, hdr_size one
//     of the nine allowed sizes, hdr_offset, the header checksum over binary
//     header and JSON area, the JSON itself); the valid copy with the highest
//     seqid is used, and a damaged or stale copy is reported in
//     Header.Warnings, as cryptsetup would repair it.
//   - Every on-disk structure is listed in Header.Regions (headers, JSON
//     areas, keyslot areas) for the block map.
//
// What is checked when unlocking: each active keyslot (LUKS2: by priority,
// high first, "ignore" skipped) derives its key with PBKDF2 (sha1, sha224,
// sha256, sha384, sha512), argon2i or argon2id (golang.org/x/crypto/argon2),
// decrypts its key material (512-byte sectors, IV from 0), merges the
// anti-forensic stripes and checks the candidate against the volume key
// digest (PBKDF2). A passphrase no keyslot accepts gives an error wrapping
// ErrWrongKey; neither passphrase nor key ever appears in an error.
//
// Everything read is bounded by the input and by caps: the JSON area by
// hdr_size (at most 4 MiB), AF stripes by MaxStripes, key sizes by
// MaxKeyBytes, PBKDF2 iterations by MaxPBKDF2Iterations, argon2 memory by
// MaxArgon2MemoryKiB (4 GiB) and time by MaxArgon2Time; a keyslot area or
// payload must lie inside the device. A value past a cap is refused with an
// error naming it, never allocated or computed.
//
// Ciphers (payload and keyslots): aes-xts-plain64 (256 and 512-bit keys,
// AES-128 and AES-256), aes-xts-plain (32-bit sector IV), aes-cbc-essiv:sha256,
// aes-cbc-plain64 and aes-cbc-plain, with LUKS2 encryption sector sizes 512,
// 1024, 2048 and 4096. Other ciphers (serpent, twofish, ...), other IV modes,
// dm-integrity (LUKS2 "integrity" segments), several segments (a
// reencryption in progress) and unknown mandatory requirements are refused
// with an error wrapping ErrUnsupported that names them; the header is still
// read, so its regions can be mapped.
//
// IVs with sectors larger than 512 bytes: the IV (the XTS tweak, or the CBC
// IV) of the encryption unit at payload byte N is N/512 + iv_tweak, counted
// in 512-byte sectors whatever the sector size. cryptsetup never sets
// dm-crypt's iv_large_sectors for LUKS (that option exists only for plain
// mode, and for BitLocker); this package's tests check it against cryptsetup
// 2.6's own userspace encryptor (offline "cryptsetup reencrypt --encrypt",
// which needs no device-mapper), with 512, 2048 and 4096-byte sectors, and
// an ext4 inside listed by The Sleuth Kit. qemu's luks driver reads
// LUKS1 only (qemu 7.2 says "LUKS version 2 is not supported"), always with
// 512-byte sectors, so it is the independent reader for LUKS1 images only.
//
// The package uses crypto/aes, crypto/pbkdf2, golang.org/x/crypto/xts and
// golang.org/x/crypto/argon2: no cipher or KDF of its own. Cipher objects are
// made once per Volume; a read decrypts only the sectors it touches.
package luks
