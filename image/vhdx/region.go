package vhdx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// region is one entry of the region table.
type region struct {
	id       guid
	off      int64
	length   int64
	required bool
}

// maxRegions is the spec's limit on region table entries.
const maxRegions = 2047

// parseRegionTable decodes the region table read at off: signature,
// CRC-32C over its 64 KiB, entry count, and each entry (1 MiB aligned,
// inside the file, not overlapping the header section). An unknown
// region marked required is refused: the disk cannot be read without
// understanding it.
func parseRegionTable(b []byte, off, fileSize int64) (bat, meta region, err error) {
	ferr := func(msg string) error {
		return &diskerr.FormatError{FS: "vhdx", Off: off, What: "region table", Msg: msg}
	}
	if !bytes.Equal(b[:4], []byte("regi")) {
		return bat, meta, ferr(fmt.Sprintf("no \"regi\" signature (%q)", b[:4]))
	}
	le := binary.LittleEndian
	if sum, want := crc32c(b[:regionSize], 4), le.Uint32(b[4:]); sum != want {
		return bat, meta, ferr(fmt.Sprintf("CRC-32C %#08x, the bytes give %#08x", want, sum))
	}
	n := le.Uint32(b[8:])
	if n > maxRegions {
		return bat, meta, ferr(fmt.Sprintf("%d entries (at most %d)", n, maxRegions))
	}
	var haveBAT, haveMeta bool
	for i := range int(n) {
		e := b[16+32*i:]
		var g region
		copy(g.id[:], e)
		fo, ln := le.Uint64(e[16:]), le.Uint32(e[24:])
		g.required = le.Uint32(e[28:])&1 != 0
		switch {
		case fo%mib != 0 || ln%mib != 0 || ln == 0:
			return bat, meta, ferr(fmt.Sprintf("region %s at %#x, %d bytes, is not in whole MiBs", g.id, fo, ln))
		case fo < mib:
			return bat, meta, ferr(fmt.Sprintf("region %s at %#x overlaps the header section", g.id, fo))
		case fo > uint64(fileSize) || int64(ln) > fileSize-int64(fo):
			return bat, meta, ferr(fmt.Sprintf("region %s at %#x, %d bytes, ends past the end of the %d-byte file", g.id, fo, ln, fileSize))
		}
		g.off, g.length = int64(fo), int64(ln)
		switch g.id {
		case regionBAT:
			bat, haveBAT = g, true
		case regionMetadata:
			meta, haveMeta = g, true
		default:
			if g.required {
				return bat, meta, ferr(fmt.Sprintf("unknown required region %s", g.id))
			}
		}
	}
	if !haveBAT || !haveMeta {
		return bat, meta, ferr("no BAT or no metadata region")
	}
	return bat, meta, nil
}

// readRegionTable reads the first region table, or the second when the
// first is damaged (with a warning).
func readRegionTable(r io.ReaderAt, fileSize int64, warn func(string)) (bat, meta region, err error) {
	var errs []error
	for _, off := range []int64{region1Offset, region2Offset} {
		b := make([]byte, regionSize)
		if _, err := r.ReadAt(b, off); err != nil {
			errs = append(errs, &diskerr.FormatError{FS: "vhdx", Off: off, What: "region table", Msg: "reading", Err: err})
			continue
		}
		bat, meta, err = parseRegionTable(b, off, fileSize)
		if err == nil {
			if len(errs) > 0 {
				warnf(warn, "vhdx: %v; using the second region table", errs[0])
			}
			return bat, meta, nil
		}
		errs = append(errs, err)
	}
	return bat, meta, fmt.Errorf("vhdx: no valid region table: %w; %w", errs[0], errs[len(errs)-1])
}
