package ova

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// maxOVF bounds the OVF descriptor read into memory.
const maxOVF = 4 << 20

// Envelope is the part of an OVF descriptor (DMTF DSP0243, versions 1 and
// 2) that says which disks the appliance has: References/File and
// DiskSection/Disk. Attributes are matched by local name, so the ovf:
// prefix of any OVF namespace version is accepted.
type Envelope struct {
	XMLName    xml.Name  `xml:"Envelope"`
	References []FileRef `xml:"References>File"`
	Disks      []DiskRef `xml:"DiskSection>Disk"`
}

// FileRef is one References/File.
type FileRef struct {
	ID          string `xml:"id,attr"`
	Href        string `xml:"href,attr"`
	Size        string `xml:"size,attr"`
	Compression string `xml:"compression,attr"` // "gzip": refused
	ChunkSize   string `xml:"chunkSize,attr"`   // chunked files: refused
}

// DiskRef is one DiskSection/Disk.
type DiskRef struct {
	DiskID        string `xml:"diskId,attr"`
	FileRef       string `xml:"fileRef,attr"`
	Capacity      string `xml:"capacity,attr"`
	Units         string `xml:"capacityAllocationUnits,attr"`
	Format        string `xml:"format,attr"`
	PopulatedSize string `xml:"populatedSize,attr"`
}

// ParseOVF parses an OVF descriptor. encoding/xml expands no entities
// beyond XML's five, so a hostile descriptor cannot grow in memory.
func ParseOVF(b []byte) (*Envelope, error) {
	if len(b) > maxOVF {
		return nil, fmt.Errorf("ova: OVF descriptor of %d bytes is larger than %d", len(b), maxOVF)
	}
	var env Envelope
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&env); err != nil {
		return nil, &diskerr.FormatError{FS: "ova", What: "OVF descriptor", Msg: "bad XML", Err: err}
	}
	return &env, nil
}

// CapacityBytes is the disk's capacity in bytes: ovf:capacity times its
// ovf:capacityAllocationUnits ("byte * 2^30", "byte", or absent for
// bytes; the older "KiloBytes", "MegaBytes", "GigaBytes" too). 0 with an
// error when it cannot be read (a ${property} reference, say).
func (d DiskRef) CapacityBytes() (int64, error) {
	c, err := strconv.ParseInt(strings.TrimSpace(d.Capacity), 10, 64)
	if err != nil || c < 0 {
		return 0, fmt.Errorf("ova: disk %q: capacity %q is not a number", d.DiskID, d.Capacity)
	}
	mult, err := units(d.Units)
	if err != nil {
		return 0, fmt.Errorf("ova: disk %q: %w", d.DiskID, err)
	}
	if c > 0 && mult > (1<<62)/c {
		return 0, fmt.Errorf("ova: disk %q: capacity %s %s is too large", d.DiskID, d.Capacity, d.Units)
	}
	return c * mult, nil
}

// units decodes a DMTF programmatic unit such as "byte * 2^20".
func units(u string) (int64, error) {
	s := strings.ToLower(strings.ReplaceAll(u, " ", ""))
	switch s {
	case "", "byte", "bytes":
		return 1, nil
	case "kilobytes":
		return 1 << 10, nil
	case "megabytes":
		return 1 << 20, nil
	case "gigabytes":
		return 1 << 30, nil
	}
	if rest, ok := strings.CutPrefix(s, "byte*2^"); ok {
		if e, err := strconv.Atoi(rest); err == nil && e >= 0 && e <= 60 {
			return 1 << e, nil
		}
	}
	return 0, fmt.Errorf("unknown capacity unit %q", u)
}
