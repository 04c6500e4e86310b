package rpm

import (
	"encoding/binary"
	iofs "io/fs"

	"github.com/virt-bmap/virt-bmap/inspect/app"
)

// MaxWAL caps the write-ahead log read (SQLite checkpoints at 1000 pages
// by default, 4 MiB with rpm's 4 KiB pages).
const MaxWAL = 256 << 20

// loadWAL applies the write-ahead log name (rpmdb.sqlite-wal), if there is
// one, as SQLite's recovery does: frames are read while their salts match
// the log header's and their cumulative checksums are right, and the pages
// of the frames up to the last commit frame replace the file's. A missing
// or empty log is not an error.
func loadWAL(db *sqliteDB, fsys iofs.FS, name string) error {
	b, err := app.ReadFile(fsys, name, MaxWAL)
	if err != nil {
		if _, serr := iofs.Stat(fsys, name); serr != nil {
			return nil // no log
		}
		return err
	}
	pages, err := parseWAL(b, db.pageSize)
	if err != nil {
		return err
	}
	db.wal = pages
	return nil
}

// parseWAL returns the committed pages of a write-ahead log.
func parseWAL(b []byte, pageSize int) (map[uint32][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 32 {
		return nil, sqliteErr(0, "WAL header", "%d bytes, shorter than the header", len(b))
	}
	var order binary.ByteOrder
	switch m := binary.BigEndian.Uint32(b); m {
	case 0x377f0682:
		order = binary.LittleEndian
	case 0x377f0683:
		order = binary.BigEndian
	default:
		return nil, sqliteErr(0, "WAL header", "bad magic %#x", m)
	}
	if ps := int(binary.BigEndian.Uint32(b[8:])); ps != pageSize && !(ps == 1 && pageSize == 65536) {
		return nil, sqliteErr(8, "WAL header", "page size %d, the database's is %d", ps, pageSize)
	}
	s0, s1 := walSum(order, 0, 0, b[:24])
	if s0 != binary.BigEndian.Uint32(b[24:]) || s1 != binary.BigEndian.Uint32(b[28:]) {
		return nil, sqliteErr(24, "WAL header", "bad checksum")
	}
	salt := b[16:24]
	committed := map[uint32][]byte{}
	pending := map[uint32][]byte{}
	for off := 32; off+24+pageSize <= len(b); off += 24 + pageSize {
		fh := b[off : off+24]
		if string(fh[8:16]) != string(salt) {
			break // a frame of an older log generation
		}
		s0, s1 = walSum(order, s0, s1, fh[:8])
		s0, s1 = walSum(order, s0, s1, b[off+24:off+24+pageSize])
		if s0 != binary.BigEndian.Uint32(fh[16:]) || s1 != binary.BigEndian.Uint32(fh[20:]) {
			break // a torn write: the log ends here
		}
		pg := binary.BigEndian.Uint32(fh)
		if pg == 0 {
			return nil, sqliteErr(int64(off), "WAL frame", "page number 0")
		}
		pending[pg] = b[off+24 : off+24+pageSize]
		if binary.BigEndian.Uint32(fh[4:]) != 0 { // a commit frame
			for k, v := range pending {
				committed[k] = v
			}
			clear(pending)
		}
	}
	if len(committed) == 0 {
		return nil, nil
	}
	return committed, nil
}

// walSum continues SQLite's WAL checksum over b (a multiple of 8 bytes).
func walSum(order binary.ByteOrder, s0, s1 uint32, b []byte) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}
