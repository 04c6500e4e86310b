package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// ErrLog is wrapped by the error for a log that is not empty and cannot
// be replayed.
var ErrLog = errors.New("vhdx: the log cannot be replayed")

const (
	logSector     = 4096
	logEntryHdr   = 64
	logDescSize   = 32
	logDataBytes  = 4084
	maxLogReplay  = 64 << 20 // the largest log replayed (qemu and Hyper-V make 1 MiB ones)
	logDescPerSec = logSector / logDescSize
)

// logEntry is a valid log entry (MS-VHDX 2.3.1): its position in the log
// (in sectors), its length in sectors, and what it writes.
type logEntry struct {
	pos, sectors int64
	seq          uint64
	tail         int64 // sector of the first entry of its sequence
	flushed      int64 // FlushedFileOffset
	last         int64 // LastFileOffset
	descs        []logDesc
}

// logDesc is one descriptor: data (4 KiB at off) or zeros (length at
// off).
type logDesc struct {
	off  int64
	zero int64 // >0: a zero descriptor of this length
	data []byte
}

// logSectorAt returns sector i of the circular log.
func logSectorAt(log []byte, i int64) []byte {
	n := int64(len(log)) / logSector
	i %= n
	return log[i*logSector : (i+1)*logSector]
}

// parseLogEntry reads the entry that starts at sector pos of log, or
// returns nil when there is none or it is invalid: signature, LogGuid,
// length (whole sectors, no longer than the log, exactly the descriptor
// sectors and one data sector per data descriptor), descriptors
// ("desc"/"zero", the entry's sequence number, 4 KiB aligned offsets),
// data sectors ("data", sequence number halves) and CRC-32C over the
// entry. The structure checks come before the CRC, so that checking every
// sector of a log costs about one pass over it: entries that pass them
// cannot overlap.
func parseLogEntry(log []byte, pos int64, logGUID guid) *logEntry {
	le := binary.LittleEndian
	nsec := int64(len(log)) / logSector
	h := logSectorAt(log, pos)
	if !bytes.Equal(h[:4], []byte("loge")) {
		return nil
	}
	var g guid
	copy(g[:], h[32:])
	length, tail := int64(le.Uint32(h[8:])), int64(le.Uint32(h[12:]))
	seq, count := le.Uint64(h[16:]), int64(le.Uint32(h[24:]))
	if g != logGUID || seq == 0 || length == 0 || length%logSector != 0 || length > int64(len(log)) ||
		tail%logSector != 0 || tail >= int64(len(log)) {
		return nil
	}
	e := &logEntry{pos: pos, sectors: length / logSector, seq: seq, tail: tail / logSector,
		flushed: int64(le.Uint64(h[48:])), last: int64(le.Uint64(h[56:]))}
	descSectors := (count + 2 + logDescPerSec - 1) / logDescPerSec
	if descSectors > e.sectors {
		return nil
	}
	data := descSectors
	for i := range count {
		slot := i + 2
		d := logSectorAt(log, pos+slot/logDescPerSec)[slot%logDescPerSec*logDescSize:][:logDescSize]
		off := int64(le.Uint64(d[16:]))
		if le.Uint64(d[24:]) != seq || off%logSector != 0 || off < 0 {
			return nil
		}
		switch string(d[:4]) {
		case "zero":
			z := int64(le.Uint64(d[8:]))
			if z <= 0 || z%logSector != 0 || z > maxVirtualSize || off > maxVirtualSize {
				return nil
			}
			e.descs = append(e.descs, logDesc{off: off, zero: z})
		case "desc":
			if data >= e.sectors {
				return nil
			}
			s := logSectorAt(log, pos+data)
			data++
			if !bytes.Equal(s[:4], []byte("data")) || uint64(le.Uint32(s[4:]))<<32|uint64(le.Uint32(s[4092:])) != seq {
				return nil
			}
			b := make([]byte, logSector)
			copy(b[:8], d[8:16])
			copy(b[8:4092], s[8:4092])
			copy(b[4092:], d[4:8])
			e.descs = append(e.descs, logDesc{off: off, data: b})
		default:
			return nil
		}
	}
	if data != e.sectors || e.sectors > nsec {
		return nil
	}
	var sum uint32
	for i := range e.sectors {
		s := logSectorAt(log, pos+i)
		if i == 0 {
			sum = crc32cUpdate(sum, s[:4])
			sum = crc32cUpdate(sum, []byte{0, 0, 0, 0})
			sum = crc32cUpdate(sum, s[8:])
		} else {
			sum = crc32cUpdate(sum, s)
		}
	}
	if sum != le.Uint32(h[4:]) {
		return nil
	}
	return e
}

// replayLog finds the active sequence of the log (MS-VHDX 2.3.3) and
// returns the file as it would be after the replay: an overlay on r.
// The head is the valid entry with the highest sequence number; its Tail
// names the first entry of the sequence, and every entry from there to
// the head must be valid and numbered one more than the one before. A
// log with no valid entry has nothing to replay (qemu opens such a file
// as clean too); a sequence that is broken, a log too large to replay
// here, or a file shorter than the head's FlushedFileOffset (truncated
// after the log was written) are errors wrapping ErrLog.
//
// qemu (block/vhdx-log.c, vhdx_log_search) does not follow Tail: of the
// runs of valid entries it finds scanning the log, it replays the one
// whose first entry has the highest sequence number. The two agree on
// the logs qemu writes (one entry, flushed at once) and on sequences that
// start at their tail; on others we follow the specification.
func replayLog(r io.ReaderAt, fileSize int64, h *header, warn func(string)) (*overlay, error) {
	ov := &overlay{r: r, fileSize: fileSize, size: fileSize}
	if h.logGUID.isZero() {
		return ov, nil
	}
	ferr := func(msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: int64(min(h.logOffset, 1<<62)), What: "log", Msg: msg, Err: ErrLog}
	}
	switch {
	case h.logVersion != 0:
		return nil, ferr(fmt.Sprintf("log version %d (only 0 is defined)", h.logVersion))
	case h.logLength == 0 || h.logLength%mib != 0 || h.logOffset%mib != 0 || h.logOffset < mib:
		return nil, ferr(fmt.Sprintf("log of %d bytes at %#x is not in whole MiBs", h.logLength, h.logOffset))
	case h.logOffset > uint64(fileSize) || int64(h.logLength) > fileSize-int64(h.logOffset):
		return nil, ferr(fmt.Sprintf("log of %d bytes at %#x ends past the end of the %d-byte file", h.logLength, h.logOffset, fileSize))
	case h.logLength > maxLogReplay:
		return nil, ferr(fmt.Sprintf("log of %d bytes is larger than the %d bytes replayed here", h.logLength, maxLogReplay))
	}
	log := make([]byte, h.logLength)
	if _, err := r.ReadAt(log, int64(h.logOffset)); err != nil {
		return nil, &diskerr.FormatError{FS: "vhdx", Off: int64(h.logOffset), What: "log", Msg: "reading", Err: err}
	}
	nsec := int64(len(log)) / logSector
	entries := map[int64]*logEntry{}
	var head *logEntry
	for pos := int64(0); pos < nsec; pos++ {
		e := parseLogEntry(log, pos, h.logGUID)
		if e == nil {
			continue
		}
		entries[pos] = e
		if head == nil || e.seq > head.seq {
			head = e
		}
	}
	if head == nil {
		warnf(warn, "vhdx: the header names a log, but it holds no valid entry: nothing to replay")
		return ov, nil
	}
	var seq []*logEntry
	for pos, n := head.tail, int64(0); ; n++ {
		e := entries[pos]
		if e == nil || n > nsec || (len(seq) > 0 && e.seq != seq[len(seq)-1].seq+1) {
			return nil, ferr(fmt.Sprintf("the active sequence (head: entry %d at sector %d, tail at sector %d) is broken at sector %d", head.seq, head.pos, head.tail, pos))
		}
		seq = append(seq, e)
		if e == head {
			break
		}
		pos = (pos + e.sectors) % nsec
	}
	if head.flushed > fileSize {
		return nil, ferr(fmt.Sprintf("the file is %d bytes, shorter than the %d the log says were flushed: it was truncated", fileSize, head.flushed))
	}
	ov.size = max(fileSize, head.last)
	for _, e := range seq {
		for _, d := range e.descs {
			ov.apply(d)
		}
	}
	warnf(warn, "vhdx: the disk was not shut down cleanly: replayed %d log entries (sequence %d to %d) in memory", len(seq), seq[0].seq, head.seq)
	return ov, nil
}

func crc32cUpdate(c uint32, b []byte) uint32 {
	return crc32Update(c, b)
}

// overlay is the image file with the replayed log over it: sectors
// written by data descriptors and ranges zeroed by zero descriptors, the
// file's bytes elsewhere (zeros past its end, up to size).
type overlay struct {
	r        io.ReaderAt
	fileSize int64
	size     int64
	sectors  map[int64][]byte
	zeros    []span
	keys     []int64 // the keys of sectors, sorted
}

type span struct{ off, end int64 }

func (o *overlay) apply(d logDesc) {
	if o.sectors == nil {
		o.sectors = map[int64][]byte{}
	}
	if d.zero > 0 {
		end := d.off + d.zero
		lo, _ := slices.BinarySearch(o.keys, d.off)
		hi, _ := slices.BinarySearch(o.keys, end)
		for _, k := range o.keys[lo:hi] {
			delete(o.sectors, k)
		}
		o.keys = slices.Delete(o.keys, lo, hi)
		o.zeros = append(o.zeros, span{d.off, end})
		o.size = max(o.size, end)
		return
	}
	if _, ok := o.sectors[d.off]; !ok {
		i, _ := slices.BinarySearch(o.keys, d.off)
		o.keys = slices.Insert(o.keys, i, d.off)
	}
	o.sectors[d.off] = d.data
	o.size = max(o.size, d.off+logSector)
}

// dirty tells whether anything was replayed.
func (o *overlay) dirty() bool { return len(o.sectors) > 0 || len(o.zeros) > 0 }

// ReadAt reads the replayed file: reads end at size, not at the file's
// end.
func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhdx: negative offset %d", off)
	}
	if !o.dirty() && o.size == o.fileSize {
		return o.r.ReadAt(p, off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > o.size-off {
		p, eof = p[:o.size-off], io.EOF
	}
	end := off + int64(len(p))
	n := int64(0)
	if off < o.fileSize {
		n = min(end, o.fileSize) - off
		if m, err := o.r.ReadAt(p[:n], off); int64(m) < n {
			return m, err
		}
	}
	clear(p[n:])
	for _, z := range o.zeros {
		if z.off < end && z.end > off {
			clear(p[max(z.off, off)-off : min(z.end, end)-off])
		}
	}
	i, _ := slices.BinarySearch(o.keys, off-logSector+1)
	for ; i < len(o.keys) && o.keys[i] < end; i++ {
		k := o.keys[i]
		s := o.sectors[k]
		lo, hi := max(k, off), min(k+logSector, end)
		copy(p[lo-off:hi-off], s[lo-k:hi-k])
	}
	return len(p), eof
}
