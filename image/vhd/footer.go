package vhd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// footerSize is the size of the hard disk footer (and of its copy at the
// start of a dynamic or differencing disk).
const footerSize = 512

// Disk types (footer field "Disk Type").
const (
	TypeFixed        = 2
	TypeDynamic      = 3
	TypeDifferencing = 4
)

// maxSectors is qemu's limit, 2040 GiB: VHD_MAX_SECTORS in block/vpc.c.
const maxSectors = 0xff000000

// maxGeometry is the largest CHS geometry (65535 cylinders, 16 heads, 255
// sectors); a disk with it has its size in current_size only.
const maxGeometry = 65535 * 16 * 255

var cookie = []byte("conectix")

// footer is the Hard Disk Footer of the VHD specification: 512 bytes,
// big-endian, at the end of every VHD and copied at offset 0 of dynamic
// and differencing disks.
type footer struct {
	features    uint32
	version     uint32
	dataOffset  uint64 // the dynamic disk header; all ones for fixed disks
	timestamp   uint32
	creatorApp  [4]byte
	creatorOS   [4]byte
	origSize    uint64
	currentSize uint64
	cyls        uint16
	heads       uint8
	spt         uint8
	diskType    uint32
	checksum    uint32
	uuid        [16]byte
	savedState  uint8
}

// vhdChecksum is the one's complement of the byte sum of b, where the
// 4-byte checksum field at sumAt counts as zeros.
func vhdChecksum(b []byte, sumAt int) uint32 {
	var s uint32
	for i, c := range b {
		if i >= sumAt && i < sumAt+4 {
			continue
		}
		s += uint32(c)
	}
	return ^s
}

// errBadChecksum is the cause of a footer or header whose checksum does
// not match its bytes.
var errBadChecksum = fmt.Errorf("bad checksum")

// parseFooter decodes a footer read from off. A footer without the
// "conectix" cookie, of an unknown type, or whose checksum is wrong is an
// error (the checksum error wraps errBadChecksum).
func parseFooter(b []byte, off int64) (*footer, error) {
	if len(b) < footerSize {
		return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer", Msg: "truncated", Err: io.ErrUnexpectedEOF}
	}
	if !bytes.Equal(b[:8], cookie) {
		return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer", Msg: fmt.Sprintf("no \"conectix\" cookie (%q)", b[:8])}
	}
	be := binary.BigEndian
	f := &footer{
		features:    be.Uint32(b[8:]),
		version:     be.Uint32(b[12:]),
		dataOffset:  be.Uint64(b[16:]),
		timestamp:   be.Uint32(b[24:]),
		origSize:    be.Uint64(b[40:]),
		currentSize: be.Uint64(b[48:]),
		cyls:        be.Uint16(b[56:]),
		heads:       b[58],
		spt:         b[59],
		diskType:    be.Uint32(b[60:]),
		checksum:    be.Uint32(b[64:]),
		savedState:  b[84],
	}
	copy(f.creatorApp[:], b[28:32])
	copy(f.creatorOS[:], b[36:40])
	copy(f.uuid[:], b[68:84])
	if sum := vhdChecksum(b[:footerSize], 64); sum != f.checksum {
		return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer",
			Msg: fmt.Sprintf("checksum %#08x, the bytes give %#08x", f.checksum, sum), Err: errBadChecksum}
	}
	switch f.diskType {
	case TypeFixed, TypeDynamic, TypeDifferencing:
	default:
		return nil, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer", Msg: fmt.Sprintf("unknown disk type %d", f.diskType)}
	}
	return f, nil
}

// sizeFromCurrentSize tells whether the virtual size is the footer's
// current_size rather than its CHS geometry. This is qemu's rule
// (block/vpc.c, vpc_ignore_current_size and vpc_open): Virtual PC and
// qemu's own "qemu" images are as large as their geometry says
// (cylinders × heads × sectors per track × 512, which usually rounds the
// requested size down); Hyper-V ("win "), qemu with force_size ("qem2"),
// Disk2vhd ("d2v "), XenServer ("tap\0") and XenConverter ("CTXS") write
// the exact size in current_size. A disk with the maximum geometry is
// always sized by current_size, since the geometry cannot describe it.
func (f *footer) sizeFromCurrentSize() bool {
	switch string(f.creatorApp[:]) {
	case "win ", "qem2", "d2v ", "CTXS", "tap\x00":
		return true
	}
	return int64(f.cyls)*int64(f.heads)*int64(f.spt) == maxGeometry
}

// virtualSize is the size of the disk the guest sees, by qemu's rule,
// rounded down to whole sectors as qemu does. Disks over 2040 GiB are
// refused, as qemu refuses them.
func (f *footer) virtualSize(off int64) (int64, error) {
	sectors := uint64(f.cyls) * uint64(f.heads) * uint64(f.spt)
	if f.sizeFromCurrentSize() {
		sectors = f.currentSize / 512
	}
	if sectors > maxSectors {
		return 0, &diskerr.FormatError{FS: "vhd", Off: off, What: "footer",
			Msg: fmt.Sprintf("disk of %d sectors is larger than VHD's 2040 GiB", sectors)}
	}
	return int64(sectors) * 512, nil
}
