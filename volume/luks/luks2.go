package luks

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// LUKS2 binary header layout (big-endian), from cryptsetup's "LUKS2
// On-Disk Format Specification" 1.1.x: magic[6], version u16, hdr_size u64,
// seqid u64, label[48], checksum_alg[32], salt[64], uuid[40], subsystem[48],
// hdr_offset u64, padding[184], csum[64], padding to 4096.
const (
	luks2BinSize = 4096
	luks2CsumOff = 448
	luks2CsumLen = 64
)

// luks2Copy is one parsed and checked copy of the LUKS2 header.
type luks2Copy struct {
	off       int64
	hdrSize   int64
	seqid     uint64
	label     string
	uuid      string
	subsystem string
	meta      *luks2Metadata
}

// readLUKS2Copy reads and checks the header copy at off (0: primary,
// otherwise secondary). hdrSize is the copy's hdr_size when its binary
// header could be read, 0 otherwise, even when the copy is not valid.
func readLUKS2Copy(r io.ReaderAt, size, off int64) (c *luks2Copy, hdrSize int64, err error) {
	what := "LUKS2 primary header"
	want := magic1
	if off != 0 {
		what, want = "LUKS2 secondary header", magic2
	}
	if off+luks2BinSize > size {
		return nil, 0, formatErr(off, what, "past the end of the device (%#x)", size)
	}
	bin := make([]byte, luks2BinSize)
	if _, err := r.ReadAt(bin, off); err != nil {
		return nil, 0, &diskerr.FormatError{FS: "luks", Off: off, What: what, Msg: "reading", Err: err}
	}
	if !bytes.Equal(bin[:6], want) {
		return nil, 0, formatErr(off, what, "bad magic %q", bin[:6])
	}
	be := binary.BigEndian
	if v := be.Uint16(bin[6:]); v != 2 {
		return nil, 0, formatErr(off+6, what, "version %d, want 2", v)
	}
	c = &luks2Copy{
		off:       off,
		hdrSize:   int64(be.Uint64(bin[8:])),
		seqid:     be.Uint64(bin[16:]),
		label:     cstring(bin[24:72]),
		uuid:      cstring(bin[168:208]),
		subsystem: cstring(bin[208:256]),
	}
	validSize := false
	for _, s := range luks2Offsets {
		validSize = validSize || c.hdrSize == s
	}
	if !validSize {
		return nil, 0, formatErr(off+8, what, "hdr_size %#x is not one of the LUKS2 sizes (16 KiB to 4 MiB)", c.hdrSize)
	}
	if got := int64(be.Uint64(bin[256:])); got != off {
		return nil, c.hdrSize, formatErr(off+256, what, "hdr_offset %#x, but found at %#x", got, off)
	}
	if off+c.hdrSize > size {
		return nil, c.hdrSize, formatErr(off, what, "header of %#x bytes is past the end of the device (%#x)", c.hdrSize, size)
	}
	if !printable(c.label) || !printable(c.uuid) || !printable(c.subsystem) {
		return nil, c.hdrSize, formatErr(off, what, "label, UUID or subsystem is not a printable string")
	}
	// The checksum covers the binary header (csum zeroed) and the JSON area.
	alg := cstring(bin[72:104])
	hf, err := hashFunc(alg)
	if err != nil {
		return nil, c.hdrSize, &diskerr.FormatError{FS: "luks", Off: off + 72, What: what, Msg: "checksum algorithm", Err: err}
	}
	jsonArea := make([]byte, c.hdrSize-luks2BinSize)
	if _, err := r.ReadAt(jsonArea, off+luks2BinSize); err != nil {
		return nil, c.hdrSize, &diskerr.FormatError{FS: "luks", Off: off + luks2BinSize, What: what, Msg: "reading JSON area", Err: err}
	}
	stored := append([]byte(nil), bin[luks2CsumOff:luks2CsumOff+luks2CsumLen]...)
	clear(bin[luks2CsumOff : luks2CsumOff+luks2CsumLen])
	d := hf()
	d.Write(bin)
	d.Write(jsonArea)
	sum := d.Sum(nil)
	if subtle.ConstantTimeCompare(sum, stored[:len(sum)]) != 1 || !allZero(stored[len(sum):]) {
		return nil, c.hdrSize, formatErr(off+luks2CsumOff, what, "%s checksum mismatch", alg)
	}
	js := jsonArea
	if i := bytes.IndexByte(js, 0); i >= 0 {
		js = js[:i]
	}
	c.meta, err = parseMetadata(js, c.hdrSize)
	if err != nil {
		return nil, c.hdrSize, &diskerr.FormatError{FS: "luks", Off: off + luks2BinSize, What: what + " JSON metadata", Err: err}
	}
	return c, c.hdrSize, nil
}

// readLUKS2 reads both header copies and builds the Header from the valid
// one with the highest seqid.
func readLUKS2(r io.ReaderAt, size int64) (*Header, error) {
	primary, hdrSize, perr := readLUKS2Copy(r, size, 0)
	var secondary *luks2Copy
	var serr error
	if hdrSize != 0 {
		secondary, _, serr = readLUKS2Copy(r, size, hdrSize)
	}
	if secondary == nil {
		// The primary does not say where the secondary is (or the
		// secondary is not there): try every standard offset, as
		// cryptsetup does.
		for _, off := range luks2Offsets {
			if off == hdrSize || off+luks2BinSize > size {
				continue
			}
			var b [6]byte
			if _, err := r.ReadAt(b[:], off); err != nil || !bytes.Equal(b[:], magic2) {
				continue
			}
			c, _, err := readLUKS2Copy(r, size, off)
			if c != nil {
				secondary, serr = c, nil
				break
			}
			if serr == nil {
				serr = err
			}
		}
		if serr == nil && secondary == nil {
			serr = formatErr(hdrSize, "LUKS2 secondary header", "not found")
		}
	}
	var warnings []string
	use := primary
	switch {
	case primary == nil && secondary == nil:
		return nil, joinErrs(perr, serr)
	case primary == nil:
		use = secondary
		warnings = append(warnings, fmt.Sprintf("primary header damaged, using the secondary header at %#x: %v", secondary.off, perr))
	case secondary == nil:
		warnings = append(warnings, fmt.Sprintf("secondary header damaged: %v", serr))
	case secondary.seqid > primary.seqid:
		use = secondary
		warnings = append(warnings, fmt.Sprintf("primary header is stale (seqid %d, secondary %d), using the secondary header at %#x", primary.seqid, secondary.seqid, secondary.off))
	case secondary.seqid < primary.seqid:
		warnings = append(warnings, fmt.Sprintf("secondary header at %#x is stale (seqid %d, primary %d)", secondary.off, secondary.seqid, primary.seqid))
	}
	h := &Header{
		Version:   2,
		UUID:      use.uuid,
		Label:     use.label,
		Subsystem: use.subsystem,
		Seqid:     use.seqid,
		Warnings:  warnings,
	}
	// Regions: both copies, damaged or not (a damaged copy is still
	// metadata on disk), with the hdr_size of the copy used; then what the
	// metadata describes.
	secOff := use.hdrSize
	if secondary != nil {
		secOff = secondary.off
	}
	h.Regions = append(h.Regions, Region{"LUKS header", 0, luks2BinSize},
		Region{"LUKS2 JSON metadata", luks2BinSize, use.hdrSize - luks2BinSize})
	if secOff+use.hdrSize <= size {
		h.Regions = append(h.Regions, Region{"LUKS2 secondary header", secOff, luks2BinSize},
			Region{"LUKS2 secondary JSON metadata", secOff + luks2BinSize, use.hdrSize - luks2BinSize})
	}
	if err := use.meta.apply(h, size); err != nil {
		return nil, &diskerr.FormatError{FS: "luks", Off: use.off + luks2BinSize, What: "LUKS2 JSON metadata", Err: err}
	}
	sortRegions(h.Regions)
	return h, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
